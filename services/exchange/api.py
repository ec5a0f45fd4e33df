"""What every part of the gateway's HTTP API is built with: its router, its services as
dependencies, and how a request runs its blocking part."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from shared.kit.db import session_scope
from shared.kit.problems import problem_responses
from shared.protocol.auth import SessionDep, confirm_token

T = TypeVar("T")
S = TypeVar("S")


def exchange_router(tag: str = "exchange") -> APIRouter:
    """A part of the API under /v1, with the problems any of its operations may answer."""
    return APIRouter(prefix="/v1", tags=[tag],
                     responses=problem_responses(401, 403, 422, 503))


def gateway_service(service: Callable[[Session, Any], S]) -> Callable[[Request, Session], S]:
    """A dependency building `service(session, gateway)` for the request:
    `Alerts = Annotated[AlertService, Depends(gateway_service(AlertService))]`."""

    def build(request: Request, session: SessionDep) -> S:
        return service(session, request.app.state.gateway)

    return build


async def in_one_hop(request: Request, work: Callable[[Session], T],
                     before: Callable[[Session], object] | None = None) -> T:
    """The request's blocking part in one worker thread: the caller's token confirmed, then
    `before` (what writes nothing: directory, policy, sealing, signing) in the same session
    with no transaction of writes open, then `work` in one transaction. Commits before
    returning, so a client never reads ahead of it."""
    engine = request.app.state.engine

    def run() -> T:
        with Session(engine) as session:
            confirm_token(request, session)  # before any rule runs for the caller
            if before is not None:
                before(session)
        with session_scope(engine) as session:
            return work(session)

    return await run_in_threadpool(run)
