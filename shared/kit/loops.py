"""Retrying and background work: the one backoff formula, and the one background loop.

A background loop runs `work` every so often, or at once when woken, until told to stop.
A failure is logged by its exception type only (an exception's text may quote a person's
data) and retried after a backoff, longer after each further failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from shared.kit.logging import get_logger

log = get_logger(__name__)

# 2 ** 64 seconds is longer than any cap; a larger exponent would only risk an overflow.
_MAX_DOUBLINGS = 64


def exponential_backoff(attempt: int, first: float = 1.0, cap: float = 60.0) -> float:
    """The wait after the `attempt`-th failure (1 for the first): `first`, twice that,
    four times ..., never more than `cap`."""
    doublings = min(max(0, attempt - 1), _MAX_DOUBLINGS)
    return min(cap, first * 2.0 ** doublings)


Work = Callable[[], Awaitable[bool | None]]


async def run_every(
    interval: float | None,
    work: Work,
    stop: asyncio.Event,
    *,
    failure_event: str,
    wake: asyncio.Event | None = None,
    at_start: bool = True,
    retry_first: float = 1.0,
    retry_cap: float = 60.0,
) -> None:
    """Run `work` every `interval` seconds (None: only when `wake` is set), at once when
    `wake` is set, until `stop` is set; the first run at once unless `at_start` is False.

    `work` returns True when more is waiting (a full batch): it runs again without a pause.
    When it raises, `failure_event` is logged and it runs again after
    `exponential_backoff(failures, retry_first, retry_cap)` (or when woken), whatever the
    interval: sooner than a long one, later than a short one.
    A wake that arrives while `work` runs is kept: the event is cleared before each run.
    """
    if interval is None and wake is None:
        raise ValueError("a loop without an interval needs an event to wake it")
    if not at_start:
        await _pause(interval, stop, wake)
    failures = 0
    while not stop.is_set():
        if wake is not None:
            wake.clear()
        try:
            more = await work()
        except Exception as exc:
            failures += 1
            log.warning(failure_event, error=type(exc).__name__, failures=failures)
            await _pause(exponential_backoff(failures, retry_first, retry_cap), stop, wake)
            continue
        failures = 0
        if more is not True:
            await _pause(interval, stop, wake)


async def _pause(seconds: float | None, stop: asyncio.Event, wake: asyncio.Event | None) -> None:
    """Until `seconds` have passed (None: no limit), `stop` or `wake` is set."""
    waiters = [asyncio.ensure_future(event.wait()) for event in (stop, wake) if event is not None]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
