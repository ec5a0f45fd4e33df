"""Issue 10: the gateway's policy snapshots are refreshed in the background: at start-up, on
each change notice, after a NATS reconnection, periodically, and soon again after a failure."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from contextlib import suppress
from types import SimpleNamespace

import pytest

from services.exchange.clients import registry as registry_client
from services.exchange.clients.registry import PolicyRefresher


class FakeRegistry:
    """Notes each refresh round (run in a worker thread) and says so to the test's loop."""

    def __init__(self, refresh_seconds: float = 3600, failing: bool = False) -> None:
        self.refresh_seconds = refresh_seconds
        self.failing = failing
        self.rounds: list[list[str]] = []
        self.loop = asyncio.get_running_loop()
        self.changed = asyncio.Event()

    def refresh_snapshots(self, institutions: Iterable[str]) -> list[str]:
        self.rounds.append(list(institutions))
        self.loop.call_soon_threadsafe(self.changed.set)
        return list(institutions) if self.failing else []


async def rounds_reach(registry: FakeRegistry, count: int) -> None:
    while len(registry.rounds) < count:
        await asyncio.wait_for(registry.changed.wait(), 10)
        registry.changed.clear()


async def running(refresher: PolicyRefresher) -> tuple[asyncio.Task[None], asyncio.Event]:
    stop = asyncio.Event()
    return asyncio.create_task(refresher.run(stop)), stop


async def stopped(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    stop.set()
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task


async def test_fetched_at_start_up_then_again_on_each_notice_and_reconnection():
    registry = FakeRegistry()
    refresher = PolicyRefresher(registry, ["mx-sndif", "mx-pfpnna"])  # type: ignore[arg-type]
    task, stop = await running(refresher)
    try:
        await rounds_reach(registry, 1)
        assert registry.rounds == [["mx-pfpnna", "mx-sndif"]]
        await refresher.notice(SimpleNamespace(data=b'{"type": "policy-changed"}'))  # type: ignore[arg-type]
        await rounds_reach(registry, 2)
        await refresher.reconnected()
        await rounds_reach(registry, 3)
        assert len(registry.rounds) == 3  # nothing else: the period is an hour
    finally:
        await stopped(task, stop)


async def test_the_period_is_the_bound_when_no_notice_comes():
    registry = FakeRegistry(refresh_seconds=0.01)
    refresher = PolicyRefresher(registry, ["mx-sndif"])  # type: ignore[arg-type]
    task, stop = await running(refresher)
    try:
        await rounds_reach(registry, 3)
    finally:
        await stopped(task, stop)


async def test_a_failed_round_is_tried_again_sooner_than_the_period(
        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(registry_client, "RETRY_SECONDS", 0.01)
    registry = FakeRegistry(failing=True)
    refresher = PolicyRefresher(registry, ["mx-sndif"])  # type: ignore[arg-type]
    task, stop = await running(refresher)
    try:
        await rounds_reach(registry, 3)
    finally:
        await stopped(task, stop)


async def test_the_loop_survives_an_unexpected_error():
    class Broken(FakeRegistry):
        def refresh_snapshots(self, institutions: Iterable[str]) -> list[str]:
            super().refresh_snapshots(institutions)
            raise RuntimeError("unexpected")

    registry = Broken()
    refresher = PolicyRefresher(registry, ["mx-sndif"])  # type: ignore[arg-type]
    task, stop = await running(refresher)
    try:
        await rounds_reach(registry, 1)
        refresher.wake()
        await rounds_reach(registry, 2)
        assert not task.done()
    finally:
        await stopped(task, stop)
