"""Delivery you can trust: a receiving gateway killed or away loses and duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, text

from services.demo_data import SAMPLE_REFERRAL
from tests.conftest import SQLITE_ONLY, RunningStack
from tests.helpers import pid_alive, wait_until

pytestmark = pytest.mark.own_stack  # it kills, stops and starts the receiving gateway


def send_many(stack: RunningStack, count: int, on_progress=None) -> list[str]:
    def send_batch(start: int) -> list[str]:
        ids = []
        with stack.gateway("MX", "mx-sndif") as mx:
            for _ in range(start, min(start + 50, count)):
                response = mx.post("/v1/referrals", json=SAMPLE_REFERRAL)
                assert response.status_code == 202, response.text
                ids.append(response.json()["id"])
                if on_progress:
                    on_progress()
        return ids

    with ThreadPoolExecutor(max_workers=4) as pool:
        batches = pool.map(send_batch, range(0, count, 50))
        return [i for batch in batches for i in batch]


def count_rows(database_url: str, ids: list[str], where: str = "") -> dict[str, int]:
    engine = create_engine(database_url)
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            params = {f"i{n}": value for n, value in enumerate(chunk)}
            placeholders = ", ".join(f":i{n}" for n in range(len(chunk)))
            # Only placeholders and the tests' own fixed conditions are interpolated.
            query = (f"SELECT id, COUNT(*) FROM referrals WHERE id IN ({placeholders}) {where} "  # noqa: S608
                     "GROUP BY id")
            rows = conn.execute(text(query), params).all()
            counts.update({row[0]: row[1] for row in rows})
    engine.dispose()
    return counts


def published(database_url: str, ids: list[str]) -> int:
    """How many of these referrals' messages JetStream has acknowledged to the sender."""
    engine = create_engine(database_url)
    params = {f"i{n}": value for n, value in enumerate(ids)}
    placeholders = ", ".join(f":i{n}" for n in range(len(ids)))
    with engine.connect() as conn:
        # Only placeholders are interpolated.
        query = ("SELECT COUNT(*) FROM outbox WHERE published_at IS NOT NULL "  # noqa: S608
                 f"AND msg_id IN ({placeholders})")
        count = int(conn.execute(text(query), params).scalar_one())
    engine.dispose()
    return count


def honduran_gateway(stack: RunningStack, action: str) -> None:
    """`enlace service stop|start gateway-HN`, as an operator would."""
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "service", action, "gateway-HN",
         "--data-dir", str(stack.data_dir)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def all_delivered(stack: RunningStack, ids: list[str], timeout: float) -> None:
    mx_db = stack.info["gateways"]["MX"]["database_url"]
    wait_until(lambda: len(count_rows(mx_db, ids, "AND status = 'delivered'")) == len(ids),
               timeout=timeout, interval=1)


# Sizes: the receiver's inbound consumer may hold MAX_ACK_PENDING unacknowledged messages, so
# with IN_FLIGHT eight times that, the receiver is killed with a full window delivered but
# not acknowledged and the rest queued behind it: on its return it works through the
# redeliveries and several more windows, which is what 1,000 at the default limit of 2,000
# proved too (in 90 s a database rather than 30).
MAX_ACK_PENDING = 50
IN_FLIGHT = 400
KILLED_AFTER = 100


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    return {"ENLACE_INBOUND_MAX_ACK_PENDING": str(MAX_ACK_PENDING)}


def test_receiver_killed_with_hundreds_in_flight_stores_each_exactly_once(
        stack: RunningStack):
    hn_pid = stack.info["pids"]["gateway-HN"]
    sent = 0

    def kill_receiver_midway() -> None:
        nonlocal sent
        sent += 1
        if sent == KILLED_AFTER:
            os.kill(hn_pid, signal.SIGKILL)  # `enlace up` restarts it

    ids = send_many(stack, IN_FLIGHT, kill_receiver_midway)
    assert len(set(ids)) == IN_FLIGHT
    all_delivered(stack, ids, timeout=300)

    stored = count_rows(stack.info["gateways"]["HN"]["database_url"], ids,
                        "AND direction = 'inbound'")
    assert len(stored) == IN_FLIGHT
    assert set(stored.values()) == {1}
    # The one killed is gone; another process, restarted by `enlace up`, delivered the rest.
    assert not pid_alive(hn_pid)
    restarted = RunningStack.read_info(stack.data_dir)["pids"]["gateway-HN"]
    assert restarted != hn_pid and pid_alive(restarted)


# JetStream keeps them while the receiver is away, whatever its database (exactly-once storage
# on both is the test above).
@SQLITE_ONLY
def test_messages_sent_while_the_receiver_is_down_arrive_when_it_returns(stack: RunningStack):
    honduran_gateway(stack, "stop")
    ids = send_many(stack, 50)
    mx_db = stack.info["gateways"]["MX"]["database_url"]
    # Every one is in the stream, waiting for Honduras; none can have been delivered.
    wait_until(lambda: published(mx_db, ids) == len(ids), timeout=60, interval=0.5)
    assert count_rows(mx_db, ids, "AND status = 'delivered'") == {}
    honduran_gateway(stack, "start")
    all_delivered(stack, ids, timeout=120)
    stored = count_rows(stack.info["gateways"]["HN"]["database_url"], ids)
    assert len(stored) == 50 and set(stored.values()) == {1}


# The refusal path is the wire's; the quarantine's storage on both databases is
# tests/e2e/test_quarantine.py.
@SQLITE_ONLY
def test_a_referral_the_receiver_cannot_open_comes_back_refused(stack: RunningStack):
    """HN loses its encryption key while a referral to it is in flight: HN quarantines the
    message and sends MX a signed rejection notice; MX shows the referral undeliverable."""
    from pathlib import Path

    from services.exchange.keys import encryption_key_path

    honduran_gateway(stack, "stop")
    [referral_id] = send_many(stack, 1)
    encryption_key_path(Path(stack.info["gateways"]["HN"]["data_dir"]), "hn-senaf").unlink()
    honduran_gateway(stack, "start")

    with stack.gateway("MX", "mx-sndif") as mx:
        refused = wait_until(lambda: (r := mx.get(f"/v1/referrals/{referral_id}").json())
                             ["status"] == "undeliverable" and r, timeout=60)
    assert refused["history"][-1]["action"] == "refuse"
    assert refused["history"][-1]["reason"].startswith("undecryptable:")
    with stack.gateway("HN", "hn-senaf", role="country_admin") as hn:
        quarantined = hn.get("/v1/quarantine").json()["items"]
    assert {"message_id": referral_id, "reason": "undecryptable"}.items() <= next(
        q for q in quarantined if q["message_id"] == referral_id).items()

    # Once HN's new key is in the directory, new referrals are encrypted to it and arrive.
    with stack.directory() as directory:
        wait_until(lambda: len([
            k for k in directory.get("/v1/institutions/hn-senaf/keys").json()["items"]
            if k["use"] == "enc"]) == 2)
    [later] = send_many(stack, 1)
    all_delivered(stack, [later], timeout=60)
