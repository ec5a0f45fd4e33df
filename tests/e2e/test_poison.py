"""No message can stall a gateway: a flood of poison ends in quarantine while real traffic
flows, and /readyz says when the inbound consumer is stuck."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from services.demo_data import SAMPLE_REFERRAL
from tests.conftest import RunningStack
from tests.e2e.test_quarantine import SUBJECT, b64
from tests.helpers import wait_until

STUCK_SECONDS = 3
MAX_ACK_PENDING = 100
# The attacker's 66-byte JWS: its sender is a lone surrogate, which no database can store.
POISON = ".".join([b64(b'{"alg":"EdDSA"}'), b64(b'{"sender":"\\ud800"}'),
                   "A" * 18]).encode()


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    return {"ENLACE_INBOUND_STUCK_SECONDS": str(STUCK_SECONDS),
            "ENLACE_INBOUND_MAX_ACK_PENDING": str(MAX_ACK_PENDING)}


async def publish_many(stack: RunningStack, data: bytes, count: int) -> None:
    """As the Mexican gateway's identity, with async publishes: seconds, not minutes. In
    rounds of 50, each waiting up to 30 s for its acks: on a loaded machine 250 at once took
    longer than nats-py's 5 s default to be acknowledged."""
    nc = await stack.nats("gateway-MX")
    try:
        js = nc.jetstream(timeout=30)
        for start in range(0, count, 50):
            await asyncio.gather(*(
                js.publish(SUBJECT, data, headers={"Nats-Msg-Id": str(uuid.uuid4())})
                for _ in range(min(50, count - start))))
    finally:
        await nc.close()


def poison_kept(stack: RunningStack) -> int:
    engine = create_engine(stack.info["gateways"]["HN"]["database_url"])
    with engine.connect() as db:
        kept = db.execute(text("SELECT count(*) FROM quarantine WHERE reason = 'unknown_sender' "
                               "AND claimed_sender = :escaped"),
                          {"escaped": "\\ud800"}).scalar_one()
    engine.dispose()
    return int(kept)


# Five times MAX_ACK_PENDING: the inbound consumer's whole window is poison several times over
# before the referral comes, which is what could stall it (2,000 proved no more, in 88 s).
POISON_COUNT = 5 * MAX_ACK_PENDING


async def test_a_flood_of_poison_messages_then_a_referral_that_is_delivered(
        stack: RunningStack):
    assert len(POISON) == 66
    before = poison_kept(stack)
    await publish_many(stack, POISON, POISON_COUNT)
    started = time.monotonic()
    with stack.gateway("MX", "mx-sndif") as mx:
        referral_id = mx.post("/v1/referrals", json=SAMPLE_REFERRAL).json()["id"]
        # Seconds on an idle machine; the deadline leaves room for a loaded one.
        wait_until(lambda: mx.get(f"/v1/referrals/{referral_id}").json()["status"]
                   == "delivered", timeout=120)
    print(f"referral delivered {time.monotonic() - started:.1f} s after "
          f"{POISON_COUNT} poison messages")
    # All of them end in quarantine, each with its reason (the referral may pass the last few).
    wait_until(lambda: poison_kept(stack) == before + POISON_COUNT, timeout=120)
    with stack.gateway("HN", "hn-senaf") as hn:
        assert hn.get(f"/v1/referrals/{referral_id}").status_code == 200


@contextmanager
def quarantine_writes_held(stack: RunningStack) -> Iterator[None]:
    """Hold the Honduran gateway's quarantine writes (a lock, as a stuck database would):
    its handling of the next poison message blocks until this ends."""
    url = stack.info["gateways"]["HN"]["database_url"]
    if url.startswith("sqlite"):
        db = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
        db.execute("BEGIN IMMEDIATE")  # the gateway waits up to its busy timeout (30 s)
        try:
            yield
        finally:
            db.execute("ROLLBACK")
            db.close()
        return
    engine = create_engine(url)
    with engine.connect() as conn, conn.begin():
        conn.execute(text("LOCK TABLE quarantine IN SHARE ROW EXCLUSIVE MODE"))
        yield
    engine.dispose()


def readiness(stack: RunningStack) -> tuple[int, dict]:
    response = httpx.get(f"{stack.info['gateways']['HN']['url']}/readyz", timeout=10)
    return response.status_code, response.json()["checks"]


def stuck_lines(stack: RunningStack) -> list[str]:
    log = Path(stack.info["logs"]) / "gateway-HN.log"
    return [line for line in log.read_text(errors="replace").splitlines()
            if "inbound_consumer_stuck" in line]


@pytest.mark.parametrize(("messages", "at_limit"), [(1, False), (MAX_ACK_PENDING, True)])
async def test_readyz_is_503_while_the_inbound_consumer_is_stuck_and_200_again_after(
        stack: RunningStack, messages: int, at_limit: bool):
    assert wait_until(lambda: readiness(stack)[0] == 200, timeout=60)
    seen = len(stuck_lines(stack))
    with quarantine_writes_held(stack):
        await publish_many(stack, POISON, messages)
        _, checks = wait_until(lambda: (r := readiness(stack))[0] == 503 and r,
                               timeout=25)
        assert checks.pop("inbound_consumer") is False
        assert all(checks.values()), checks  # the failing check is named, and only it
    wait_until(lambda: readiness(stack)[0] == 200, timeout=60)
    assert f"at_limit={at_limit}" in stuck_lines(stack)[seen]
