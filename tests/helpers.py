"""What every kind of test uses and no service knows: waiting for a condition, problem
details, unique ids, processes, and fresh databases (a SQLite file, or a PostgreSQL
database created and dropped through one admin URL)."""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import create_engine, text

PROBLEM = "application/problem+json"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BACKENDS = ["sqlite", "postgresql"]

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float = 30, interval: float = 0.1) -> T:
    """Poll `check` until it returns something truthy; return it, or fail with the last."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem with this status and stable code; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = dict(response.json())
    assert body["code"] == code, body
    return body


def unique(prefix: str) -> str:
    """An id no other test uses (a module's service or stack is shared by its tests)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has stopped all the same.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def postgres_admin_url() -> str | None:
    """ENLACE_TEST_DATABASE_URL (default: the local server as user postgres) when it answers;
    None when it is "none" or unreachable."""
    url = os.environ.get("ENLACE_TEST_DATABASE_URL", DEFAULT_PG)
    if url.lower() in ("", "none", "off"):
        return None
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception:
        return None
    return url


def require_postgres() -> str:
    """The admin URL, or the test is skipped, saying why."""
    url = postgres_admin_url()
    if url is None:
        pytest.skip("no PostgreSQL reachable (set ENLACE_TEST_DATABASE_URL)")
    return url


class PostgresDatabases:
    """Fresh databases named after a template, created and dropped through one admin URL."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.prefix = f"enlace_t{secrets.token_hex(4)}"
        self.engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")

    @property
    def template(self) -> str:
        base = self.admin_url.split("?")[0].rsplit("/", 1)[0]
        return f"{base}/{self.prefix}_{{service}}"

    def create(self, names: tuple[str, ...]) -> None:
        with self.engine.connect() as conn:
            for name in names:
                conn.execute(text(f'CREATE DATABASE "{self.prefix}_{name}"'))

    def drop(self, names: tuple[str, ...]) -> None:
        with self.engine.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.prefix}_{name}" '
                                  "WITH (FORCE)"))
        self.engine.dispose()


@contextmanager
def empty_database(backend: str, folder: Path, name: str) -> Iterator[str]:
    """The URL of a new, empty database: a SQLite file in `folder`, or a PostgreSQL database
    dropped afterwards (the test is skipped when no PostgreSQL is reachable)."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / (name + '.db')}"
        return
    databases = PostgresDatabases(require_postgres())
    databases.create((name,))
    try:
        yield databases.template.format(service=name)
    finally:
        databases.drop((name,))
