"""consume_in_batches: the next batch is fetched while one is being handled, and batches are
handled whole, one after another, in stream order."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.kit.jetstream import consume_in_batches


class Subscription:
    """Hands out the given batches, then waits for the stop; counts the fetches."""

    def __init__(self, batches: list[list[int]], stop: asyncio.Event) -> None:
        self.batches = batches
        self.stop = stop
        self.fetches = 0
        self.fetched = asyncio.Condition()

    async def fetch(self, batch: int, timeout: float) -> list[int]:  # noqa: ASYNC109
        async with self.fetched:
            self.fetches += 1
            self.fetched.notify_all()
        if self.batches:
            return self.batches.pop(0)
        await self.stop.wait()
        raise TimeoutError


async def test_the_next_batch_is_fetched_during_one_and_handled_after_it() -> None:
    stop = asyncio.Event()
    subscription = Subscription([[1, 2], [3], [4, 5]], stop)
    events: list[Any] = []
    all_done = asyncio.Event()

    async def on_batch(batch: list[int]) -> None:
        events.append(("start", batch))
        if batch == [1, 2]:
            # Finishes only once the next batch has been fetched: the fetch overlaps.
            async with subscription.fetched:
                await subscription.fetched.wait_for(lambda: subscription.fetches >= 2)
        events.append(("end", batch))
        if batch == [4, 5]:
            all_done.set()

    task = asyncio.create_task(consume_in_batches(subscription, on_batch,  # type: ignore[arg-type]
                                                  stop=stop))
    try:
        await asyncio.wait_for(all_done.wait(), timeout=30)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
    assert events == [("start", [1, 2]), ("end", [1, 2]), ("start", [3]), ("end", [3]),
                      ("start", [4, 5]), ("end", [4, 5])]


async def test_a_batch_whose_handler_fails_does_not_stop_the_next() -> None:
    stop = asyncio.Event()
    handled: list[list[int]] = []
    second = asyncio.Event()

    async def on_batch(batch: list[int]) -> None:
        handled.append(batch)
        if batch == [1]:
            raise RuntimeError("lost connection while acking")
        second.set()

    task = asyncio.create_task(consume_in_batches(Subscription([[1], [2]], stop),  # type: ignore[arg-type]
                                                  on_batch, stop=stop))
    try:
        await asyncio.wait_for(second.wait(), timeout=30)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
    assert handled == [[1], [2]]
