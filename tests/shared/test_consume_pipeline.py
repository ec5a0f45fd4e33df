"""consume_forever: the next batch is fetched and handled while one is still being handled,
and the messages of one conversation stay in stream order across batches."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from shared.kit.jetstream import consume_forever


@dataclass
class FakeMsg:
    key: str
    seq: int
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def metadata(self) -> Any:
        return SimpleNamespace(sequence=SimpleNamespace(stream=self.seq), num_delivered=1)

    async def nak(self, delay: float = 0) -> None:
        raise AssertionError("no message should be nak'ed here")


class FakeSubscription:
    def __init__(self, batches: list[list[FakeMsg]], stop: asyncio.Event) -> None:
        self.batches = batches
        self.stop = stop

    async def fetch(self, batch: int, timeout: float) -> list[FakeMsg]:  # noqa: ASYNC109
        if self.batches:
            return self.batches.pop(0)
        await self.stop.wait()
        raise TimeoutError


async def test_a_later_batch_overtakes_a_slow_one_but_not_within_a_conversation() -> None:
    stop = asyncio.Event()
    handled: list[tuple[str, int]] = []
    b_of_second_batch_done = asyncio.Event()
    all_done = asyncio.Event()

    async def handler(msg: FakeMsg) -> None:
        if (msg.key, msg.seq) == ("a", 1):
            # Slow: it finishes only once a message of the next batch has been handled.
            await b_of_second_batch_done.wait()
        handled.append((msg.key, msg.seq))
        if (msg.key, msg.seq) == ("b", 3):
            b_of_second_batch_done.set()
        if len(handled) == 4:
            all_done.set()

    batches = [[FakeMsg("a", 1), FakeMsg("c", 2)], [FakeMsg("b", 3), FakeMsg("a", 4)]]
    task = asyncio.create_task(consume_forever(
        FakeSubscription(batches, stop), handler, stop=stop,  # type: ignore[arg-type]
        order_key=lambda m: m.key))  # type: ignore[arg-type, attr-defined]
    try:
        await asyncio.wait_for(all_done.wait(), timeout=30)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
    assert handled.index(("b", 3)) < handled.index(("a", 1))  # the batches overlapped
    assert handled.index(("a", 1)) < handled.index(("a", 4))  # one conversation in order
