"""Issue 10, point 1: the one backoff formula and the one background loop
(shared/kit/loops.py)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from shared.kit.jetstream import MAX_BACKOFF_SECONDS, redelivery_delay
from shared.kit.loops import exponential_backoff, run_every

ENOUGH = 10.0  # seconds: a loop that has not done its part by then never will


# The backoff formula ---------------------------------------------------------------------

def test_the_wait_doubles_from_the_first_and_stops_at_the_cap():
    assert [exponential_backoff(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert [exponential_backoff(n, first=0.5, cap=3) for n in range(1, 5)] == [0.5, 1, 2, 3]


def test_no_attempt_yet_waits_the_first_and_a_huge_one_the_cap_without_overflow():
    assert exponential_backoff(0) == exponential_backoff(-3) == 1
    assert exponential_backoff(10**6, cap=3600) == 3600


def test_redelivery_waits_as_before_1_2_4_up_to_60_seconds():
    for deliveries in range(1, 40):
        assert redelivery_delay(deliveries) == min(MAX_BACKOFF_SECONDS, 2.0 ** (deliveries - 1))
    assert redelivery_delay(None) == 1


def test_the_webhook_and_sign_in_waits_are_the_formulas_they_replace():
    for attempts in range(0, 80):  # webhooks: min(3600, 2 ** max(0, attempts - 1)) seconds
        assert int(exponential_backoff(attempts, cap=3600)) == min(3600, 2 ** max(0, attempts - 1))
    fifteen_minutes = timedelta(minutes=15)
    for over in range(1, 80):  # sign-in lockout after the free attempts
        before = min(fifteen_minutes, timedelta(seconds=2 ** min(over + 1, 20)))
        assert timedelta(seconds=exponential_backoff(
            over + 2, cap=fifteen_minutes.total_seconds())) == before


# The background loop ---------------------------------------------------------------------

class Work:
    """Records when it ran; fails, asks for more or stops the loop as told."""

    def __init__(self, stop: asyncio.Event, *, rounds: int,
                 fail: int = 0, more: int = 0, error: Exception | None = None) -> None:
        self.stop, self.rounds, self.fail, self.more = stop, rounds, fail, more
        self.error = error or RuntimeError("failed")
        self.times: list[float] = []
        self.during: list[asyncio.Event] = []  # set while it runs (a wake arriving then)
        self.ran = asyncio.Event()

    async def __call__(self) -> bool:
        self.times.append(time.monotonic())
        self.ran.set()
        for event in self.during:
            event.set()
        if len(self.times) >= self.rounds:
            self.stop.set()
        if len(self.times) <= self.fail:
            raise self.error
        return len(self.times) <= self.more


async def test_it_runs_at_once_then_every_interval_until_stopped():
    stop = asyncio.Event()
    work = Work(stop, rounds=3)
    await asyncio.wait_for(run_every(0.05, work, stop, failure_event="failed"), ENOUGH)
    assert len(work.times) == 3
    gaps = [b - a for a, b in zip(work.times, work.times[1:], strict=False)]
    assert all(gap >= 0.05 for gap in gaps), gaps


async def test_a_wake_that_arrives_while_working_is_not_lost():
    stop, wake = asyncio.Event(), asyncio.Event()
    work = Work(stop, rounds=2)
    work.during.append(wake)  # each run is woken again while it runs
    # No interval: only the wake can start the second run.
    await asyncio.wait_for(run_every(None, work, stop, wake=wake, failure_event="failed"),
                           ENOUGH)
    assert len(work.times) == 2


async def test_a_wake_cuts_the_pause_short():
    stop, wake = asyncio.Event(), asyncio.Event()
    work = Work(stop, rounds=2)
    loop = asyncio.create_task(run_every(3600, work, stop, wake=wake, failure_event="failed"))
    await asyncio.wait_for(work.ran.wait(), ENOUGH)
    wake.set()
    await asyncio.wait_for(loop, ENOUGH)
    assert len(work.times) == 2


async def test_not_at_start_it_waits_for_the_first_wake():
    stop, wake = asyncio.Event(), asyncio.Event()
    work = Work(stop, rounds=1)
    loop = asyncio.create_task(run_every(None, work, stop, wake=wake, at_start=False,
                                         failure_event="failed"))
    for _ in range(20):
        await asyncio.sleep(0)
    assert work.times == []
    wake.set()
    await asyncio.wait_for(loop, ENOUGH)
    assert len(work.times) == 1


async def test_more_waiting_runs_again_without_a_pause():
    stop = asyncio.Event()
    work = Work(stop, rounds=3, more=2)
    await asyncio.wait_for(run_every(3600, work, stop, failure_event="failed"), ENOUGH)
    assert len(work.times) == 3


async def test_stopping_ends_a_pause_at_once():
    stop = asyncio.Event()
    work = Work(stop, rounds=99)
    loop = asyncio.create_task(run_every(3600, work, stop, failure_event="failed"))
    await asyncio.wait_for(work.ran.wait(), ENOUGH)
    stop.set()
    await asyncio.wait_for(loop, ENOUGH)
    assert len(work.times) == 1


async def test_repeated_failures_wait_longer_each_time_then_the_interval_again():
    stop = asyncio.Event()
    work = Work(stop, rounds=5, fail=3)
    await asyncio.wait_for(run_every(0.2, work, stop, failure_event="failed",
                                     retry_first=0.02), ENOUGH)
    gaps = [b - a for a, b in zip(work.times, work.times[1:], strict=False)]
    assert gaps[0] >= 0.02 and gaps[1] >= 0.04 and gaps[2] >= 0.08, gaps
    assert gaps[3] >= 0.2, gaps  # succeeded: the interval, not a backoff


async def test_a_failure_waits_its_backoff_whatever_the_interval():
    stop = asyncio.Event()
    work = Work(stop, rounds=2, fail=1)
    await asyncio.wait_for(run_every(0.001, work, stop, failure_event="failed",
                                     retry_first=0.2), ENOUGH)
    assert work.times[1] - work.times[0] >= 0.2  # not the interval
    stop = asyncio.Event()
    work = Work(stop, rounds=2, fail=1)
    await asyncio.wait_for(run_every(3600, work, stop, failure_event="failed",
                                     retry_first=0.01), ENOUGH)
    assert len(work.times) == 2  # not the interval either


async def test_a_failure_is_logged_by_its_type_never_its_text():
    stop = asyncio.Event()
    work = Work(stop, rounds=2, fail=1, error=ValueError("Ana Pérez, born 2015-03-02"))
    with capture_logs() as logs:
        await asyncio.wait_for(run_every(0.01, work, stop, failure_event="refresh_failed"),
                               ENOUGH)
    [entry] = [e for e in logs if e["event"] == "refresh_failed"]
    assert entry["error"] == "ValueError" and entry["failures"] == 1
    assert "Ana" not in repr(logs)


async def test_a_loop_nothing_can_start_is_refused():
    with pytest.raises(ValueError):
        await run_every(None, Work(asyncio.Event(), rounds=1), asyncio.Event(),
                        failure_event="failed")
