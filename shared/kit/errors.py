"""Problem details (RFC 9457) with stable machine-readable codes.

Services raise these; one handler renders them. Messages never echo request values,
because request values may be a child's personal data.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.kit.logging import get_logger

PROBLEM_TYPE_PREFIX = "urn:enlace:problem:"
PROBLEM_MEDIA_TYPE = "application/problem+json"

log = get_logger(__name__)


class Problem(Exception):
    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        return problem_body(self.status, self.code, self.title, self.detail, instance, **self.extra)


class Unauthorized(Problem):
    status, code, title = 401, "unauthorized", "Authentication required"


class Forbidden(Problem):
    status, code, title = 403, "forbidden", "Not permitted"


class NotFound(Problem):
    status, code, title = 404, "not_found", "Not found"


class Conflict(Problem):
    status, code, title = 409, "conflict", "Conflict"


class Unprocessable(Problem):
    status, code, title = 422, "invalid_request", "Invalid request"


class Unavailable(Problem):
    status, code, title = 503, "unavailable", "Service unavailable"


def problem_body(
    status: int, code: str, title: str, detail: str, instance: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return body


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        body, status_code=body["status"], media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


_HTTP_CODES = {
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Not permitted"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
}


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem_response(exc.body(request.url.path), headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Only where and what kind of error: the offending value may be personal data.
        errors = [
            {"location": list(e.get("loc", ())), "message": e.get("msg", ""), "kind": e.get("type")}
            for e in exc.errors()
        ]
        body = problem_body(
            422,
            "invalid_request",
            "Invalid request",
            f"The request has {len(errors)} invalid field(s).",
            request.url.path,
            errors=errors,
        )
        return problem_response(body)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "HTTP error"))
        detail = exc.detail if isinstance(exc.detail, str) else title
        body = problem_body(exc.status_code, code, title, detail, request.url.path)
        return problem_response(body)

    async def _database_busy(request: Request) -> JSONResponse:
        log.warning("database_busy", path=request.url.path)
        body = problem_body(503, "database_busy", "Database busy",
                            "The database could not take the request in time; try again.",
                            request.url.path)
        return problem_response(body, {"Retry-After": "1"})

    @app.exception_handler(PoolTimeout)
    async def _pool_exhausted(request: Request, exc: PoolTimeout) -> JSONResponse:
        return await _database_busy(request)

    @app.exception_handler(OperationalError)
    async def _operational(request: Request, exc: OperationalError) -> JSONResponse:
        # SQLite's lock wait ran out; any other operational error is unexpected.
        if "database is locked" in str(exc.orig):
            return await _database_busy(request)
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        body = problem_body(
            500, "internal_error", "Internal error", "The server could not complete the request."
        )
        return problem_response(body)
