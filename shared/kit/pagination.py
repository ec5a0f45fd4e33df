"""One cursor pagination for every list of every service.

A list answers `{"items": [...], "next": "<relative URL>" | null}`, in a stable order. `next`
is the same request with `cursor` set to the position after the last item: follow it until
it is null. The cursor is opaque to callers (base64url of the last item's sort key: ids,
sequence numbers and times, never personal data); a cursor that does not decode, or that
belongs to another list, is a 422 problem with the code `invalid_cursor`. `limit` is the
most items one page holds, each list with its own maximum.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement

from shared.kit.errors import Unprocessable

T = TypeVar("T")
Key = tuple[Any, ...]
KeyPart = type[str] | type[int] | type[datetime]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_CURSOR_LENGTH = 512
_DATETIME_TAG = "dt:"


class Page(BaseModel, Generic[T]):
    """One page of a list; `next` is null on the last page."""

    items: list[T]
    next: str | None = Field(description="The URL of the next page (relative to the "
                             "service), or null on the last page",
                             examples=["/v1/referrals?limit=50&cursor=WyIyMDI2LTA"])


def encode_cursor(key: Key) -> str:
    parts = [_DATETIME_TAG + p.isoformat() if isinstance(p, datetime) else p for p in key]
    raw = json.dumps(parts, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def invalid_cursor() -> Unprocessable:
    return Unprocessable("The cursor is not one this list gave out; start again without it.",
                         code="invalid_cursor")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid_cursor() from None
    if not isinstance(parts, list) or not parts:
        raise invalid_cursor()
    return parts


def _typed(part: Any, kind: KeyPart) -> Any:
    if kind is datetime:
        if isinstance(part, str) and part.startswith(_DATETIME_TAG):
            try:
                moment = datetime.fromisoformat(part.removeprefix(_DATETIME_TAG))
            except ValueError:
                raise invalid_cursor() from None
            if moment.tzinfo is not None:  # the services keep every time in UTC, aware
                return moment
        raise invalid_cursor()
    if kind is int and isinstance(part, int) and not isinstance(part, bool):
        return part
    if kind is str and isinstance(part, str) and not part.startswith(_DATETIME_TAG):
        return part
    raise invalid_cursor()


@dataclass(frozen=True)
class PageRequest:
    """What a caller asked of a list: how many items, and after which one."""

    limit: int
    cursor: str | None
    path: str
    query: tuple[tuple[str, str], ...] = ()

    def after(self, *kinds: KeyPart) -> Key | None:
        """The sort key the cursor points after, checked against the list's key shape."""
        if self.cursor is None:
            return None
        parts = decode_cursor(self.cursor)
        if len(parts) != len(kinds):
            raise invalid_cursor()
        return tuple(_typed(p, k) for p, k in zip(parts, kinds, strict=True))

    def next_link(self, key: Key) -> str:
        query = [(k, v) for k, v in self.query if k not in ("cursor", "limit")]
        query += [("limit", str(self.limit)), ("cursor", encode_cursor(key))]
        return f"{quote(self.path)}?{urlencode(query)}"

    def page(self, rows: Sequence[T], key: Callable[[T], Key]) -> tuple[list[T], str | None]:
        """Rows fetched with `limit + 1` (see `fetch`): this page, and the link to the next."""
        items = list(rows[:self.limit])
        more = len(rows) > self.limit and items
        return items, self.next_link(key(items[-1])) if more else None

    @property
    def fetch(self) -> int:
        """How many rows to read: one more than a page, to know whether another follows."""
        return self.limit + 1

    def slice(self, rows: Sequence[T], key: Callable[[T], Key], *kinds: KeyPart,
              descending: bool = False) -> tuple[list[T], str | None]:
        """A page of a list held in memory, `rows` in the order of `key` (a short list:
        countries, agreements, an institution's keys)."""
        after = self.after(*kinds)
        if after is not None:
            rows = [r for r in rows if (key(r) < after if descending else key(r) > after)]
        return self.page(rows[:self.fetch], key)


def keyset(columns: Sequence[Any], after: Key | None, *,
           descending: bool = False) -> ColumnElement[bool] | None:
    """The SQL condition "after this key" for rows ordered by `columns` (all ascending, or
    all descending)."""
    if after is None:
        return None
    clauses = []
    for i, column in enumerate(columns):
        equal = [c == v for c, v in zip(columns[:i], after[:i], strict=True)]
        beyond = column < after[i] if descending else column > after[i]
        clauses.append(and_(*equal, beyond))
    return or_(*clauses)


def pagination(default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> Any:
    """The `limit` and `cursor` query parameters of a list, as a dependency."""

    def page_request(
        request: Request,
        limit: int = Query(default, ge=1, le=maximum,
                           description=f"Most items on one page (at most {maximum})"),
        cursor: str | None = Query(
            None, description="Where the page starts: copied from the previous page's `next`"),
    ) -> PageRequest:
        if cursor is not None:
            if len(cursor) > MAX_CURSOR_LENGTH:
                raise invalid_cursor()
            decode_cursor(cursor)
        return PageRequest(limit, cursor, request.url.path,
                           tuple(request.query_params.multi_items()))

    return Depends(page_request)


Pages = Annotated[PageRequest, pagination()]


def cursor_of(link: str | None) -> str | None:
    """The cursor a `next` link carries."""
    if link is None:
        return None
    return parse_qs(urlsplit(link).query).get("cursor", [None])[0]


def all_items(list_page: Callable[[PageRequest], Any], path: str) -> list[Any]:
    """Every item of a list read in-process, page after page (`list_page` answers a page as
    a model or as decoded JSON)."""
    items: list[Any] = []
    cursor: str | None = None
    while True:
        page = list_page(PageRequest(MAX_LIMIT, cursor, path))
        if isinstance(page, BaseModel):
            page = dict(page)
        items += page["items"]
        cursor = cursor_of(page.get("next"))
        if cursor is None:
            return items


def every(get: Callable[[str], dict[str, Any]], first: str) -> Iterator[Any]:
    """Every item of a list, following `next` from the first page (`get` reads a URL
    relative to the service and returns the decoded page)."""
    link: str | None = first
    while link is not None:
        page = get(link)
        yield from page["items"]
        link = page.get("next")
