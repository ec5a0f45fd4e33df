"""How a request of the gateway's API runs its blocking part."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from shared.kit.db import session_scope
from shared.protocol.auth import confirm_token

T = TypeVar("T")


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
