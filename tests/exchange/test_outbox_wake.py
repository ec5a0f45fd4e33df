"""A notify that arrives while the publisher is busy is not lost until the next idle poll."""

import asyncio
import time

from services.exchange.transport.outbox import OutboxPublisher


class CountingPublisher(OutboxPublisher):
    """The loop alone: `publish_pending` stands in for the database and NATS work, and
    the first cycle gets a notify while it runs (a referral committed meanwhile)."""

    idle_poll_seconds = 30.0

    def __init__(self) -> None:
        self.wake = asyncio.Event()
        self.loop = None
        self.cycles: list[float] = []
        self.second_cycle = asyncio.Event()

    async def publish_pending(self) -> int:
        self.cycles.append(time.monotonic())
        if len(self.cycles) == 2:
            self.second_cycle.set()
        if len(self.cycles) == 1:
            await asyncio.sleep(0)
            self.notify()
            await asyncio.sleep(0)
        return 0


async def test_a_notify_during_a_publish_cycle_starts_the_next_cycle_at_once() -> None:
    publisher = CountingPublisher()
    stop = asyncio.Event()
    task = asyncio.create_task(publisher.run(stop))
    try:
        await asyncio.wait_for(publisher.second_cycle.wait(), timeout=10)
    finally:
        stop.set()
        publisher.notify()
        await asyncio.wait_for(task, timeout=10)
    assert publisher.cycles[1] - publisher.cycles[0] < publisher.idle_poll_seconds

