"""Database engine, sessions and migrations for SQLite or PostgreSQL, chosen by one URL.

The caller owns the transaction: repositories and services only flush; `session_scope`
commits on success and rolls back on any error, so a failed request leaves nothing
half-written.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    Insert,
    Table,
    TypeDecorator,
    bindparam,
    event,
    insert,
    text,
)
from sqlalchemy.engine import Dialect
from sqlmodel import Session, SQLModel, create_engine


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONValue = JSON


class Repository:
    """A service's queries over one session, subclassed by each service's repository. It
    only flushes: the caller owns the transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: SQLModel) -> None:
        """Stored in the transaction at once (flushed: generated keys are set, constraints
        checked)."""
        self.session.add(row)
        self.session.flush()

    def insert(self, row: SQLModel) -> None:
        """Stored at once by one INSERT, without the unit of work: for a row written once in
        the transaction and never changed in it (the session does not track it; generated
        keys are not read back). Rows staged before it are flushed first, so the order of
        writes is kept."""
        insert_row(self.session, row)

    def stage(self, row: SQLModel) -> None:
        """Stored with the transaction's next flush or its commit, in the order staged (for
        rows nothing in the transaction reads back before then)."""
        self.session.add(row)


def insert_row(session: Session, row: SQLModel) -> None:
    """`Repository.insert` for code that holds a session but no repository: the table's one
    cached INSERT with the row's values (the ORM's insert would build and compile one for
    each row). Columns left None are left to the database (an autoincrement key)."""
    table = row.__table__  # type: ignore[attr-defined]
    values = {c.key: v for c in table.columns if (v := getattr(row, c.key)) is not None}
    session.flush()  # what was staged before goes first (nothing to do: returns at once)
    session.execute(_insert_of(table, tuple(values)), values)


@functools.cache
def _insert_of(table: Table, columns: tuple[str, ...]) -> Insert:
    return insert(table).values({c: bindparam(c) for c in columns})


def _ensure_sqlite_folder(url: str) -> None:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str) -> Engine:
    _ensure_sqlite_folder(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        serialise_writes(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


WRITE_LOCK_WAIT_SECONDS = 30.0
_READS = ("SELECT", "PRAGMA", "EXPLAIN")


def serialise_writes(engine: Engine) -> None:
    """One writer at a time per SQLite database, queued in this process rather than polling
    SQLite's busy lock (whose sleeps made a write wait 85-198 ms under load).

    A connection takes the engine's lock at its first write (SQLite takes its own lock there
    too) and gives it back when it returns to the pool, after its commit or rollback. The
    lock is not tied to a thread: a request's transaction may end in another thread than it
    began. A writer that waits longer than SQLite would gives up waiting and lets SQLite
    decide (so two connections of one thread cannot deadlock here)."""
    lock = threading.Lock()

    @event.listens_for(engine, "before_cursor_execute")
    def _take(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        info = conn.info
        if info.get("writing") or statement.lstrip()[:7].upper().startswith(_READS):
            return
        if lock.acquire(timeout=WRITE_LOCK_WAIT_SECONDS):
            info["writing"] = True

    def _give_back(_dbapi_conn: Any, record: Any, *_args: Any) -> None:
        if record is not None and record.info.pop("writing", False):
            lock.release()

    event.listen(engine, "checkin", _give_back)
    event.listen(engine, "close", _give_back)
    event.listen(engine, "invalidate", _give_back)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def database_is_reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def migrate(service_package: str, url: str) -> None:
    """Bring a service's schema to the newest revision with its own Alembic scripts."""
    import importlib

    _ensure_sqlite_folder(url)
    package = importlib.import_module(service_package)
    assert package.__file__ is not None
    script_location = Path(package.__file__).parent / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logging"] = False
    command.upgrade(cfg, "head")
