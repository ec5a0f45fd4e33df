"""Limits every service applies to what a request may carry, so that bad input is an invalid
request (422) and never reaches the database or the parser as something they fail on (500).

- Integers in paths, queries and bodies that end in a database column are bounded by that
  column: 32 bits for an INTEGER (versions, sequence numbers), 64 for a BIGINT (Merkle tree
  sizes and leaf indexes). PostgreSQL refuses a larger value in a query, SQLite any beyond 64.
- JSON request bodies are nested at most `MAX_JSON_DEPTH` deep (`JsonDepthLimit`, installed
  by `shared.kit.http.create_service_app`): a deeper body is refused before anything parses it,
  since Python's parser and validators recurse once per level.
"""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Annotated, Any

from annotated_types import Ge, Le
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.kit.errors import problem_body, problem_response

MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1
NonNegativeInt32 = Annotated[int, Ge(0), Le(MAX_INT32)]
PositiveInt32 = Annotated[int, Ge(1), Le(MAX_INT32)]
NonNegativeInt64 = Annotated[int, Ge(0), Le(MAX_INT64)]
PositiveInt64 = Annotated[int, Ge(1), Le(MAX_INT64)]

MAX_JSON_DEPTH = 64

# A JSON string (its closing quote optional, so an unterminated one is still one token and the
# scan stays linear); brackets inside strings do not nest.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_NESTING = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_depth(body: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (0 for a scalar); for text that is
    not JSON, a number the parser will refuse anyway."""
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_NESTING.__getitem__, brackets)), default=0)


def is_json_media_type(content_type: str | None) -> bool:
    """As FastAPI decides to parse a body as JSON: no type, application/json or +json."""
    if not content_type:
        return True
    kind = content_type.split(";")[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/")
                                          and kind.endswith("+json"))


class JsonDepthLimit:
    """ASGI middleware: a JSON request body nested deeper than `MAX_JSON_DEPTH` is answered
    422 `json_too_deep`; other requests pass through untouched."""

    def __init__(self, app: ASGIApp, max_depth: int = MAX_JSON_DEPTH) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._has_json_body(scope):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        if json_depth(body) > self.max_depth:
            problem = problem_body(
                422, "json_too_deep", "Invalid request",
                f"The JSON body nests deeper than {self.max_depth} levels.", scope.get("path"))
            await problem_response(problem)(scope, receive, send)
            return
        await self.app(scope, _replay(messages, receive), send)

    @staticmethod
    def _has_json_body(scope: Scope) -> bool:
        headers: dict[bytes, bytes] = dict(scope.get("headers", []))
        content_type = headers.get(b"content-type")
        return is_json_media_type(content_type.decode("latin-1") if content_type else None)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """The request's messages once more, then whatever the server sends next (a disconnect)."""
    pending = list(messages)

    async def replayed() -> Any:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
