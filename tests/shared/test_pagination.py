"""Issue 10, point 2: the one cursor pagination (shared/kit/pagination.py), on a real database."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import create_engine
from sqlmodel import Field, Session, SQLModel, col, select

from shared.kit.db import UTCDateTime
from shared.kit.errors import Unprocessable
from shared.kit.pagination import PageRequest, all_items, decode_cursor, encode_cursor, keyset

START = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


class Row(SQLModel, table=True):
    __tablename__ = "pagination_rows"

    id: str = Field(primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)


@pytest.fixture
def session(tmp_path) -> Iterator[Session]:
    engine = create_engine(f"sqlite:///{tmp_path}/rows.db")
    SQLModel.metadata.create_all(engine, tables=[Row.__table__])  # type: ignore[list-item]
    with Session(engine) as session:
        # Three rows share each moment: the id breaks the tie.
        session.add_all([Row(id=f"r{i:02d}", at=START + timedelta(seconds=i // 3))
                         for i in range(20)])
        session.commit()
        yield session
    engine.dispose()


def cursor_in(link: str) -> str:
    return parse_qs(urlsplit(link).query)["cursor"][0]


def read_page(session: Session, request: PageRequest, descending: bool
              ) -> tuple[list[Row], str | None]:
    order = (col(Row.at), col(Row.id))
    query = select(Row)
    after = keyset(order, request.after(datetime, str), descending=descending)
    if after is not None:
        query = query.where(after)
    query = query.order_by(*(c.desc() if descending else c for c in order))
    rows = list(session.exec(query.limit(request.fetch)))
    return request.page(rows, lambda r: (r.at, r.id))


@pytest.mark.parametrize("descending", [False, True])
def test_following_next_reads_every_row_once_in_order(session: Session, descending: bool):
    seen: list[str] = []
    request = PageRequest(3, None, "/v1/rows", (("kind", "x"), ("limit", "3")))
    pages = 0
    while True:
        rows, link = read_page(session, request, descending)
        pages += 1
        assert len(rows) <= 3
        seen += [r.id for r in rows]
        if link is None:
            break
        assert link.startswith("/v1/rows?kind=x&limit=3&cursor=")
        request = PageRequest(3, cursor_in(link), "/v1/rows", (("kind", "x"),))
    expected = sorted(f"r{i:02d}" for i in range(20))
    assert seen == (expected[::-1] if descending else expected)
    assert pages == 7


def test_the_last_full_page_has_no_next(session: Session):
    rows, link = read_page(session, PageRequest(20, None, "/v1/rows"), False)
    assert len(rows) == 20 and link is None
    rows, link = read_page(session, PageRequest(19, None, "/v1/rows"), False)
    assert len(rows) == 19 and link is not None


def test_a_cursor_carries_the_sort_key_only():
    key = (START, "r07", 12)
    cursor = encode_cursor(key)
    assert "=" not in cursor and "+" not in cursor and "/" not in cursor
    request = PageRequest(5, cursor, "/v1/rows")
    assert request.after(datetime, str, int) == key
    assert decode_cursor(cursor) == ["dt:" + START.isoformat(), "r07", 12]


def _raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("cursor, kinds", [
    ("not a cursor!", (str,)),
    (_raw("{}"), (str,)),
    (_raw("[]"), (str,)),
    (_raw('["r01"]'), (int,)),  # another list's cursor: a string where a number belongs
    (_raw("[true]"), (int,)),
    (_raw('["r01", 2]'), (str,)),  # not the length of this list's key
    (_raw('["dt:2026-12-01T15:00:00"]'), (datetime,)),  # no time zone
    (_raw('["dt:yesterday"]'), (datetime,)),
    (_raw('["2026-12-01T15:00:00+00:00"]'), (datetime,)),
])
def test_a_bad_cursor_is_an_invalid_cursor_problem(cursor: str, kinds: tuple[type, ...]):
    with pytest.raises(Unprocessable) as refused:
        PageRequest(5, cursor, "/v1/rows").after(*kinds)
    assert (refused.value.status, refused.value.code) == (422, "invalid_cursor")


def test_a_list_held_in_memory_pages_the_same_way():
    countries = [("BZ",), ("CA",), ("CR",), ("MX",), ("US",)]
    request = PageRequest(2, None, "/v1/countries")
    seen = []
    while True:
        rows, link = request.slice(countries, lambda c: c, str)
        seen += rows
        if link is None:
            break
        request = PageRequest(2, cursor_in(link), "/v1/countries")
    assert seen == countries
    newest_first = list(reversed(countries))
    rows, link = PageRequest(2, encode_cursor(("MX",)), "/v1/x").slice(
        newest_first, lambda c: c, str, descending=True)
    assert rows == [("CR",), ("CA",)] and link is not None


def test_all_items_reads_a_list_in_process_page_after_page():
    numbers = [(n,) for n in range(1234)]
    asked: list[int] = []

    def list_page(request: PageRequest) -> dict:
        asked.append(request.limit)
        rows, link = request.slice(numbers, lambda n: n, int)
        return {"items": rows, "next": link}

    assert all_items(list_page, "/v1/numbers") == numbers
    assert len(asked) == 3
