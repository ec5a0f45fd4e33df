"""One writer at a time per SQLite database, queued in the process (shared/kit/db.py)."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from shared.kit.db import make_engine, session_scope


def test_a_second_writer_waits_for_the_first_to_commit_and_a_reader_does_not(
        tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    first_wrote, first_may_commit = threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        with session_scope(engine) as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
            first_wrote.set()
            first_may_commit.wait()
            order.append("first commits")

    def second() -> None:
        first_wrote.wait()
        with session_scope(engine) as session:
            session.execute(text("INSERT INTO t VALUES (2)"))
            order.append("second wrote")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_wrote.wait()
    # A reader is not held up by the writer under way.
    with session_scope(engine) as session:
        assert session.execute(text("SELECT COUNT(*) FROM t")).scalar_one() == 0
    assert order == []
    first_may_commit.set()
    for thread in threads:
        thread.join()
    assert order == ["first commits", "second wrote"]
    with session_scope(engine) as session:
        assert session.execute(text("SELECT COUNT(*) FROM t")).scalar_one() == 2


def test_a_rolled_back_writer_lets_the_next_one_in(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
    try:
        with session_scope(engine) as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
            session.execute(text("INSERT INTO t VALUES (1)"))  # IntegrityError
    except Exception as exc:
        assert "UNIQUE" in str(exc)
    done = threading.Event()

    def writer() -> None:
        with session_scope(engine) as session:
            session.execute(text("INSERT INTO t VALUES (2)"))
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    thread.join(timeout=20)
    assert done.is_set()
