"""The registry's policy change notices (services/registry/messaging.py) on the kit's
background loop: one notice per burst of changes, none before a change, a failed one tried
again. A stand-in for the NATS connection records what was published."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from services.registry.messaging import PolicyChangeNotices
from shared.protocol.subjects import POLICY_CHANGE_TYPE, POLICY_CHANGES_SUBJECT

ENOUGH = 10.0


class Nats:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.flushed = asyncio.Event()

    async def publish(self, subject: str, payload: bytes) -> None:
        self.sent.append((subject, json.loads(payload)))

    async def flush(self, **_options: float) -> None:
        if self.failures:
            self.failures -= 1
            raise TimeoutError
        self.flushed.set()


async def started(notices: PolicyChangeNotices, nc: Nats, stop: asyncio.Event
                  ) -> asyncio.Task[None]:
    task = asyncio.create_task(notices.run(nc, stop))  # type: ignore[arg-type]
    while notices._loop is None:  # noqa: ASYNC110 (its own loop is set on its first step)
        await asyncio.sleep(0)
    return task


async def test_a_change_is_told_once_and_nothing_before_it():
    notices, nc, stop = PolicyChangeNotices(), Nats(), asyncio.Event()
    task = await started(notices, nc, stop)
    for _ in range(20):
        await asyncio.sleep(0)
    assert nc.sent == []
    notices.changed()
    await asyncio.wait_for(nc.flushed.wait(), ENOUGH)
    stop.set()
    await asyncio.wait_for(task, ENOUGH)
    [(subject, body)] = nc.sent
    assert subject == POLICY_CHANGES_SUBJECT
    assert body["type"] == POLICY_CHANGE_TYPE and set(body) == {"v", "type", "changed_at"}
    assert notices.published == 1


async def test_a_notice_not_published_is_tried_again():
    notices, nc, stop = PolicyChangeNotices(), Nats(failures=1), asyncio.Event()
    task = await started(notices, nc, stop)
    notices.changed()
    await asyncio.wait_for(nc.flushed.wait(), ENOUGH)
    stop.set()
    await asyncio.wait_for(task, ENOUGH)
    assert len(nc.sent) == 2 and notices.published == 1
