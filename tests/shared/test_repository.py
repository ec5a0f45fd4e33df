"""Issue 10, point 1: the base repository (shared/kit/db.py), on a real SQLite database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, select

from shared.kit.db import Repository, make_engine, session_scope


class Note(SQLModel, table=True):
    __tablename__ = "repository_notes"

    id: int | None = Field(default=None, primary_key=True)
    text: str = Field(unique=True)


class Notes(Repository):
    def texts(self) -> list[str]:
        return list(self.session.exec(select(Note.text).order_by(Note.text)).all())


@pytest.fixture
def engine(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'notes.db'}")
    SQLModel.metadata.create_all(engine, tables=[Note.__table__])  # type: ignore[list-item]
    yield engine
    engine.dispose()


def test_add_flushes_at_once_so_the_generated_key_is_known(engine):
    with session_scope(engine) as session:
        note = Note(text="first")
        Notes(session).add(note)
        assert note.id is not None
        assert Notes(session).texts() == ["first"]


def test_add_reports_a_broken_constraint_at_the_call_not_at_commit(engine):
    with session_scope(engine) as session:
        Notes(session).add(Note(text="same"))
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        Notes(session).add(Note(text="same"))
        pytest.fail("the duplicate was not refused when added")


def test_the_caller_owns_the_transaction(engine):
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        Notes(session).add(Note(text="rolled back"))
        raise RuntimeError("the request failed after the write")
    with session_scope(engine) as session:
        assert Notes(session).texts() == []
