"""A database too busy to answer in time is a 503 problem the caller may retry, never a 500:
here a real connection pool with its one connection held, and SQLite's own write lock."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from shared.kit.errors import install_problem_handlers
from tests.helpers import assert_problem


def app_reading(url: str, **engine_options: object) -> tuple[FastAPI, object]:
    engine = create_engine(url, **engine_options)  # type: ignore[arg-type]
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/write")
    def write() -> dict[str, str]:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))
        return {"status": "written"}

    return app, engine


def test_a_pool_with_no_free_connection_answers_503(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    app, engine = app_reading(url, pool_size=1, max_overflow=0, pool_timeout=0.1)
    with engine.begin() as connection:  # type: ignore[attr-defined]
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    held = engine.connect()  # type: ignore[attr-defined]
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.post("/write")
        assert_problem(response, 503, "database_busy")
        assert response.headers["Retry-After"] == "1"
    finally:
        held.close()


def test_a_sqlite_database_locked_by_another_writer_answers_503(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE t (x INTEGER)")
    other.execute("BEGIN IMMEDIATE")  # another process's write transaction
    app, _ = app_reading(f"sqlite:///{path}", connect_args={"timeout": 0.1})
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.post("/write")
        assert_problem(response, 503, "database_busy")
    finally:
        other.execute("ROLLBACK")
        other.close()
