"""Referrals between two gateways through the REST API: the full loop, against this machine.

Starts a real stack (the `enlace up` machinery: nats-server, directory, registry, MX and HN
gateways, SQLite) and sends the demo referral SNDIF -> SENAF (a case with consent on
record). Every figure is the full loop: from the start of the POST on the sender (MX) until
the sender's own API shows the referral `delivered` (HN stored it and MX took its signed
receipt). One run prints:

  1. sustained referrals/s: --referrals POSTed by --clients concurrent clients, until MX
     shows every one delivered;
  2. full-loop latency at a steady offered load: --rate referrals/s for --seconds, started
     on a fixed schedule (open loop: a slow answer does not slow the next request, and the
     latency counts from the scheduled start, so queueing shows); median and p99; and the
     idle full loop: median of --idle referrals sent one after another;
  3. CPU-ms per referral of each process of the stack during phase 1 (/proc/<pid>/stat);
  4. baselines measured in the same run: one referral's JOSE work on one core (sign, seal,
     verify, unseal, receipt sign and verify, with shared/protocol/envelope.py and
     shared/protocol/sealing.py as the gateways call them), and raw nats-py JetStream
     publish-and-consume of messages
     as large as a referral's envelope on the same nats-server;
  5. with --drain N: N referrals queued while the HN gateway is stopped, then HN started:
     its drain rate, and that each referral is stored once in HN's database;
and issue 10's targets against these figures, with the load average at start and end.

"Shows delivered" is learnt without flooding MX: one poll at a time, at most one every
--poll-ms (--idle-poll-ms one at a time, 0.2 s in phase 1, where only the last one counts),
only while something is in flight, of MX's outbound referrals with status `delivered`
(newest first, paged back only as far as the oldest referral in flight). A figure is
therefore late by up to one poll interval plus one poll's duration; both are printed. The
polls' CPU counts in MX's. (The webhooks do not serve: their dispatcher polls every 0.5 s.)

Usage, from the repository root (the default size takes about a minute on a gateway that
meets the targets, a few minutes on one that falls behind):
  PYTHONPATH=$PWD .venv/bin/python -m benchmarks.exchange_bench \
      [--referrals 300] [--clients 8] [--rate 100] [--seconds 5] [--idle 20] [--drain 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats
from joserfc.jwk import OKPKey
from nats.js.api import StreamConfig
from sqlalchemy import create_engine, text

from benchmarks.measure import (
    Target,
    cpu_ms_per_item,
    cpu_snapshot,
    load_average,
    moment,
    percentile,
    schedule,
)
from services.demo_data import SAMPLE_REFERRAL
from services.stack import Stack, StackOptions, hold_service, release_service
from shared.protocol.envelope import (
    Envelope,
    digest,
    generate_signing_key,
    public_jwk,
    sign_envelope,
    verify_envelope,
)
from shared.protocol.nats_auth import ADMIN
from shared.protocol.sealing import encryption_jwk, seal, unseal

SENDER, RECIPIENT = "mx-sndif", "hn-senaf"
PAGE_LIMIT = 500  # the gateway's largest page
MAX_CONNECTIONS = 256
BENCH = "benchmark (clients, watcher)"
SUSTAINED_POLL = 0.2
POLL_SPACING = 5
MAX_POLL_GAP = 1.0  # seconds
POST_TIMEOUT = 30.0  # seconds: a POST answered later counts as never delivered
LIST_TIMEOUT = 30.0  # seconds: a poll that takes longer fails, and the next one retries
FALL_BEHIND_SECONDS = 2.0  # seconds between polls in the sustained phase


# The sender's view ----------------------------------------------------------------------


@dataclass
class Sent:
    start: float  # time.perf_counter() at the (scheduled) start of the POST
    wall: float  # time.time() at the same moment, to compare with the gateway's created_at
    delivered: float | None = None  # perf_counter() when MX's API first showed it delivered


class DeliveryWatcher:
    """When the sender's API shows each referral `delivered`.

    One poll at a time, at most one every `interval` seconds (or every five polls' time when
    a backlog makes them long), and none while nothing is in flight. A poll pages through
    GET /v1/referrals?direction=outbound&status=delivered (newest first by creation) only
    back to the POST of the oldest referral in flight, so its cost follows what is in
    flight, not what was ever sent.
    """

    def __init__(self, client: httpx.AsyncClient, interval: float) -> None:
        self.client = client
        self.interval = interval
        self.pending: dict[str, Sent] = {}
        self.delivered: dict[str, Sent] = {}
        self.requests = 0
        self.errors: Counter[str] = Counter()
        self.poll_seconds: list[float] = []
        self._work = asyncio.Event()
        self._polled = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.run())

    def add(self, referral_id: str, sent: Sent) -> None:
        self.pending[referral_id] = sent
        self._work.set()

    async def run(self) -> None:
        while True:
            if not self.pending:
                self._work.clear()
                await self._work.wait()
            started = time.perf_counter()
            try:
                await self.poll()
            except Exception as exc:  # a failed poll is counted, and the next one retries
                self.errors[type(exc).__name__] += 1
            took = time.perf_counter() - started
            self.poll_seconds.append(took)
            self._polled.set()
            # A backlog makes polls long: then MX is polled at most 1/POLL_SPACING of the
            # time, but never less often than every MAX_POLL_GAP.
            gap = max(self.interval, POLL_SPACING * took) - took
            await asyncio.sleep(min(gap, max(self.interval, MAX_POLL_GAP)))

    async def poll(self) -> None:
        # The gateway stamps created_at after the POST began, on this machine's clock.
        cutoff = min(s.wall for s in self.pending.values()) - 1.0
        limit = min(PAGE_LIMIT, max(20, 2 * len(self.pending)))
        url: str | None = "/v1/referrals"
        params: dict[str, Any] | None = {"direction": "outbound", "status": "delivered",
                                         "limit": limit}
        while url is not None:
            response = await self.client.get(url, params=params, timeout=LIST_TIMEOUT)
            seen_at = time.perf_counter()
            self.requests += 1
            response.raise_for_status()
            page = response.json()
            items = page["items"]
            for item in items:
                sent = self.pending.pop(item["id"], None)
                if sent is not None:
                    sent.delivered = seen_at
                    self.delivered[item["id"]] = sent
            if not items or moment(items[-1]["created_at"]) < cutoff:
                return
            url, params = page["next"], None  # the next link carries the filters

    async def wait(self, ids: list[str], within: float) -> bool:
        """Until the sender shows every one of `ids` delivered (False: not `within` s)."""
        deadline = time.perf_counter() + within
        while any(i not in self.delivered for i in ids):
            if self.task is not None and self.task.done():
                raise SystemExit(f"the delivery watcher stopped: {self.task.exception()!r}")
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return False
            self._polled.clear()
            try:
                await asyncio.wait_for(self._polled.wait(), remaining)
            except TimeoutError:
                return False
        return True

    def full_loops(self, ids: list[str]) -> list[float]:
        return [s.delivered - s.start for i in ids
                if (s := self.delivered.get(i)) is not None and s.delivered is not None]


@dataclass
class Sender:
    """POSTs the demo referral to MX as SNDIF's caseworker and tells the watcher."""

    client: httpx.AsyncClient
    watcher: DeliveryWatcher
    errors: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    most_in_flight: int = 0

    async def post(self, start: float | None = None) -> str | None:
        start = time.perf_counter() if start is None else start
        wall = time.time() - (time.perf_counter() - start)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            response = await self.client.post("/v1/referrals", json=SAMPLE_REFERRAL)
        except httpx.HTTPError as exc:
            self.errors[type(exc).__name__] += 1
            return None
        finally:
            self.in_flight -= 1
        if response.status_code != 202:
            self.errors[f"HTTP {response.status_code}"] += 1
            return None
        referral_id = str(response.json()["id"])
        self.watcher.add(referral_id, Sent(start, wall))
        return referral_id

    async def post_many(self, count: int, clients: int) -> list[str]:
        """`count` referrals from `clients` concurrent clients, each one POST after another."""
        ids: list[str] = []
        todo = iter(range(count))

        async def client_loop() -> None:
            for _ in todo:
                referral_id = await self.post()
                if referral_id:
                    ids.append(referral_id)

        await asyncio.gather(*(client_loop() for _ in range(clients)))
        return ids


# Phases ---------------------------------------------------------------------------------


@dataclass
class Results:
    sustained: float = 0.0
    sustained_count: int = 0
    cpu_ms: dict[str, float] = field(default_factory=dict)
    bench_cpu_ms: float = 0.0
    loaded: list[float] = field(default_factory=list)
    loaded_missing: int = 0
    idle: list[float] = field(default_factory=list)
    drain_rate: float | None = None
    drain_exactly_once: bool | None = None
    raw_jetstream: float = 0.0
    envelope_bytes: int = 0
    jose: float = 0.0


def ms(seconds: float) -> str:
    if math.isinf(seconds):
        return "inf"
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


async def warm_up(sender: Sender, watcher: DeliveryWatcher, clients: int) -> None:
    ids = await sender.post_many(4 * clients, clients)
    if not await watcher.wait(ids, 120):
        raise SystemExit("warm-up: the referrals were not delivered within 120 s")


async def idle_full_loop(sender: Sender, watcher: DeliveryWatcher, count: int,
                         poll_seconds: float, results: Results) -> None:
    """One referral at a time: POST, then wait until MX shows it delivered."""
    interval, watcher.interval = watcher.interval, poll_seconds
    for _ in range(count):
        referral_id = await sender.post()
        if referral_id is None or not await watcher.wait([referral_id], 60):
            raise SystemExit("idle: a referral was refused or not delivered within 60 s")
        results.idle += watcher.full_loops([referral_id])
    watcher.interval = interval
    print(f"idle full loop ({count} one after another, polls every {ms(poll_seconds)}): "
          f"median {ms(statistics.median(results.idle))}, max {ms(max(results.idle))}",
          flush=True)


async def sustained(sender: Sender, watcher: DeliveryWatcher, pids: dict[str, int],
                    count: int, clients: int, within: float, results: Results) -> None:
    """As fast as `clients` clients can send, until MX shows every one delivered.

    Only the last delivery matters here, so MX is polled at most every SUSTAINED_POLL s:
    the polls' CPU, counted in MX's, stays small against the referrals'.
    """
    interval, watcher.interval = watcher.interval, max(watcher.interval, SUSTAINED_POLL)
    polls_before = watcher.requests
    before = cpu_snapshot({**pids, BENCH: os.getpid()})
    started = time.perf_counter()
    ids = await sender.post_many(count, clients)
    accepted = time.perf_counter() - started
    if not await watcher.wait(ids, within):
        raise SystemExit(f"sustained: {len(watcher.full_loops(ids))} of {len(ids)} delivered "
                         f"within {within:.0f} s")
    finished = max(watcher.delivered[i].delivered or 0.0 for i in ids)
    after = cpu_snapshot({**pids, BENCH: os.getpid()})
    watcher.interval = interval
    results.sustained_count = len(ids)
    results.sustained = len(ids) / (finished - started)
    results.cpu_ms = cpu_ms_per_item(before, after, len(ids))
    results.bench_cpu_ms = results.cpu_ms.pop(BENCH)
    loops = watcher.full_loops(ids)
    refused = f", {count - len(ids)} refused" if len(ids) < count else ""
    print(f"sustained ({len(ids)} referrals{refused}, {clients} clients): POSTs answered at "
          f"{len(ids) / accepted:.1f}/s; all delivered at {results.sustained:.1f}/s; "
          f"full loop median {ms(statistics.median(loops))}, p99 {ms(percentile(loops, 0.99))}; "
          f"{watcher.requests - polls_before} list requests to watch", flush=True)


async def offered_load(sender: Sender, watcher: DeliveryWatcher, rate: float, seconds: float,
                       within: float, results: Results) -> None:
    """Open loop: a POST every 1/rate s whatever the answers; latency from the schedule.

    When more than FALL_BEHIND_SECONDS of the offered load is in flight (POSTed and not yet
    shown delivered), the gateway has fallen behind: the rest is not sent, and counts, with
    whatever was refused or never shown delivered, as an infinite full loop.
    """
    offsets = schedule(rate, seconds)
    sender.most_in_flight = 0
    most_behind = max(20, round(rate * FALL_BEHIND_SECONDS))
    origin = time.perf_counter() + 0.05
    tasks = []
    for offset in offsets:
        delay = origin + offset - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if sender.in_flight + len(watcher.pending) > most_behind:
            break
        tasks.append(asyncio.create_task(sender.post(start=origin + offset)))
    offered_for = time.perf_counter() - origin
    ids = [i for i in await asyncio.gather(*tasks) if i]
    if not await watcher.wait(ids, within):
        await explain_missing(sender.client, [i for i in ids if i not in watcher.delivered])
    loops = watcher.full_loops(ids)
    results.loaded_missing = len(offsets) - len(loops)
    results.loaded = loops + [math.inf] * results.loaded_missing
    behind = (f"; fell behind ({most_behind} in flight) after {offered_for:.1f} s: "
              f"{len(offsets) - len(tasks)} never sent" if len(tasks) < len(offsets) else "")
    print(f"offered load ({len(tasks)} of {len(offsets)} sent at {rate:g}/s over "
          f"{offered_for:.1f} s, {sender.most_in_flight} POSTs in flight at most{behind}): "
          f"{len(loops)} shown delivered, full loop median "
          f"{ms(statistics.median(results.loaded))}, p99 {ms(percentile(results.loaded, 0.99))}",
          flush=True)


async def explain_missing(client: httpx.AsyncClient, ids: list[str], sample: int = 20) -> None:
    """What the sender says of referrals it accepted (202) but never showed delivered."""
    said: Counter[str] = Counter()
    for referral_id in ids[:sample]:
        response = await client.get(f"/v1/referrals/{referral_id}")
        said[response.json().get("status", "?") if response.status_code == 200
             else f"HTTP {response.status_code}"] += 1
    print(f"{len(ids)} accepted but not shown delivered; MX says of {min(sample, len(ids))}: "
          f"{dict(said)}", flush=True)


def rows_by_id(database_url: str, query: str, ids: list[str]) -> list[Any]:
    """Rows of `query` (its `IN (:ids)` filled with `ids`, 500 at a time)."""
    engine = create_engine(database_url)
    rows: list[Any] = []
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            placeholders = ", ".join(f":i{n}" for n in range(len(chunk)))
            statement = text(query.replace(":ids", placeholders))
            rows += conn.execute(statement, {f"i{n}": v for n, v in enumerate(chunk)}).all()
    engine.dispose()
    return rows


PUBLISHED = "SELECT msg_id FROM outbox WHERE published_at IS NOT NULL AND msg_id IN (:ids)"
STORED = "SELECT id, created_at FROM referrals WHERE direction = 'inbound' AND id IN (:ids)"


async def until(condition: Any, within: float, what: str, every: float = 0.5) -> None:
    deadline = time.perf_counter() + within
    while not await asyncio.to_thread(condition):
        if time.perf_counter() > deadline:
            raise SystemExit(f"drain: {what} not within {within:.0f} s")
        await asyncio.sleep(every)


async def drain(stack: Stack, info: dict[str, Any], sender: Sender, watcher: DeliveryWatcher,
                count: int, clients: int, results: Results) -> None:
    """`count` referrals queued in JetStream while HN is stopped; then HN starts again."""
    data_dir = Path(info["data_dir"])
    mx_db, hn_db = info["gateways"]["MX"]["database_url"], info["gateways"]["HN"]["database_url"]
    await asyncio.to_thread(hold_service, data_dir, "gateway-HN")
    interval, watcher.interval = watcher.interval, 1.0
    queued_from = time.perf_counter()
    ids = await sender.post_many(count, clients)
    await until(lambda: len(rows_by_id(mx_db, PUBLISHED, ids)) == len(ids), 600,
                "every referral in JetStream")
    print(f"drain: {len(ids)} referrals queued in {time.perf_counter() - queued_from:.0f} s "
          "with HN stopped; starting HN", flush=True)
    release_service(data_dir, "gateway-HN")
    restarted = time.perf_counter()
    stack.supervise()
    await until(lambda: len({r[0] for r in rows_by_id(hn_db, STORED, ids)}) == len(ids),
                120 + count / 20, "every referral stored by HN")
    stored_all = time.perf_counter()
    rows = rows_by_id(hn_db, STORED, ids)
    copies = Counter(r[0] for r in rows)
    stamps = [moment(str(r[1])) for r in rows]
    # The drain itself: HN's first store to its last (its start-up is printed apart).
    results.drain_rate = len(ids) / max(1e-9, max(stamps) - min(stamps))
    results.drain_exactly_once = len(copies) == len(ids) and set(copies.values()) == {1}
    delivered = await watcher.wait(ids, 120 + count / 20)
    sender_done = time.perf_counter()
    watcher.interval = interval
    print(f"drain: HN stored all {len(ids)} {stored_all - restarted:.1f} s after its process "
          f"started ({len(ids) / (stored_all - restarted):.0f}/s), {results.drain_rate:.0f}/s "
          f"from its first to its last store; rows per id: {dict(Counter(copies.values()))}; "
          + (f"MX showed all delivered {sender_done - restarted:.1f} s after HN's start"
             if delivered else "MX did not show all delivered in time"), flush=True)


def envelope_size(info: dict[str, Any]) -> int:
    """Bytes of one signed, encrypted referral as it travels: the raw baseline sends as much."""
    engine = create_engine(info["gateways"]["MX"]["database_url"])
    with engine.connect() as conn:
        size = conn.execute(text("SELECT MAX(LENGTH(envelope)) FROM referrals")).scalar_one()
    engine.dispose()
    return int(size)


async def raw_jetstream(info: dict[str, Any], count: int, size: int) -> float:
    """Messages per second through JetStream: async publish, then a durable pull consumer."""
    nc = await nats.connect(info["nats_url"], **info["nats_credentials"][ADMIN])
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="BENCH_RAW", subjects=["bench.raw"]))
    payload = b"x" * size
    started = time.perf_counter()
    for i in range(count):
        await js.publish_async("bench.raw", payload, headers={"Nats-Msg-Id": f"raw-{i}"})
    await js.publish_async_completed()
    subscription = await js.pull_subscribe("bench.raw", durable="bench-raw")
    received = 0
    while received < count:
        for msg in await subscription.fetch(500, timeout=5):
            await msg.ack()
            received += 1
    elapsed = time.perf_counter() - started
    await js.delete_stream("BENCH_RAW")
    await nc.close()
    return count / elapsed


def jose_rate(seconds: float = 3.0) -> float:
    """One referral's JOSE work on one core, as the two gateways do it, per second."""
    mx_sign, hn_sign = generate_signing_key(), generate_signing_key()
    hn_seal = OKPKey.generate_key("X25519")
    mx_keys, hn_keys = [public_jwk(mx_sign)], [public_jwk(hn_sign)]
    hn_seal_public = encryption_jwk(hn_seal)
    record = SAMPLE_REFERRAL["record"]

    def one_referral() -> None:
        referral = Envelope.new(
            ttl_seconds=3600, type="referral", sender=SENDER, recipients=[RECIPIENT],
            agreement="agreement", purpose="reception-and-care", categories=["identity"],
            body={"case_reference": "MX-DIF-2026-000123",
                  "record_jwe": seal(hn_seal_public, record)})
        token = sign_envelope(referral, mx_sign)
        received = verify_envelope(token, mx_keys)
        unseal(received.body["record_jwe"], hn_seal)
        receipt = Envelope.new(
            ttl_seconds=3600, type="receipt", sender=RECIPIENT, recipients=[SENDER],
            in_reply_to=received.id,
            body={"message_id": received.id, "message_digest": digest(token),
                  "status": "delivered"})
        verify_envelope(sign_envelope(receipt, hn_sign), hn_keys)

    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        one_referral()
        done += 1
    return done / (time.perf_counter() - started)


# The run --------------------------------------------------------------------------------


async def drive(stack: Stack, info: dict[str, Any], args: argparse.Namespace,
                results: Results) -> None:
    mx = info["gateways"]["MX"]
    token = mx["institutions"][SENDER]["tokens"]["caseworker"]
    limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=mx["url"], timeout=POST_TIMEOUT, limits=limits,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        watcher = DeliveryWatcher(client, args.poll_ms / 1000)
        sender = Sender(client, watcher)
        watcher.start()
        pids = {name: pid for name, pid in info["pids"].items()}
        await warm_up(sender, watcher, args.clients)
        await idle_full_loop(sender, watcher, args.idle, args.idle_poll_ms / 1000, results)
        await sustained(sender, watcher, pids, args.referrals, args.clients, args.timeout,
                        results)
        await offered_load(sender, watcher, args.rate, args.seconds, args.timeout, results)
        if args.drain:
            await drain(stack, info, sender, watcher, args.drain, args.clients, results)
        if sender.errors or watcher.errors:
            print(f"errors: POST {dict(sender.errors)}, list {dict(watcher.errors)}", flush=True)
        polls = watcher.poll_seconds
        print(f"watching: {watcher.requests} list requests in {len(polls)} polls, "
              f"poll median {ms(statistics.median(polls))}", flush=True)
        if watcher.task:
            watcher.task.cancel()
    results.envelope_bytes = envelope_size(info)
    results.raw_jetstream = await raw_jetstream(info, 20000, results.envelope_bytes)


def report(args: argparse.Namespace, results: Results, load_at_start: str) -> None:
    cpu_total = sum(results.cpu_ms.values())
    cpu_lines = "\n".join(f"    {name:<32} {value:8.2f} ms"
                          for name, value in results.cpu_ms.items())
    targets = [
        Target("sustained referrals/s (full loop)", results.sustained, ">=", 200, "/s"),
        Target("sustained, % of one-core JOSE rate", 100 * results.sustained / results.jose,
               ">=", 20, "%"),
        Target(f"p99 full loop at {args.rate:g}/s offered", 1000 * percentile(results.loaded,
                                                                               0.99),
               "<", 100, "ms"),
        Target("idle full loop, median", 1000 * statistics.median(results.idle), "<", 25, "ms"),
        Target("CPU per referral, all processes", cpu_total, "<=", 10, "ms"),
    ]
    if results.drain_rate is not None:
        targets.append(Target(f"drain of {args.drain} after HN restarts", results.drain_rate,
                              ">=", 500, "/s"))
        targets.append(Target("drain: each stored exactly once (1 = yes)",
                              float(bool(results.drain_exactly_once)), ">=", 1, ""))
    print(f"""
Enlace exchange benchmark: full loop (POST on MX until MX shows it delivered), SQLite
  load average at start {load_at_start}, at end {load_average()}
  sustained ({results.sustained_count} referrals, {args.clients} clients) \
{results.sustained:10.1f} referrals/s
  at {args.rate:g}/s offered for {args.seconds:g} s        median \
{ms(statistics.median(results.loaded))}, p99 {ms(percentile(results.loaded, 0.99))}
  idle, one at a time ({len(results.idle)})      median {ms(statistics.median(results.idle))}
  CPU per referral during the sustained phase (utime+stime)
{cpu_lines}
    {'total':<32} {cpu_total:8.2f} ms
    {BENCH:<32} {results.bench_cpu_ms:8.2f} ms (not in the total)
Baselines measured in the same run
  one referral's JOSE work, one core   {results.jose:10.1f} referrals/s
  raw JetStream publish+consume        {results.raw_jetstream:10.1f} msgs/s \
({results.envelope_bytes} B)
Targets (issue 10)
""" + "\n".join(t.line() for t in targets) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--referrals", type=int, default=300, help="sustained phase")
    parser.add_argument("--clients", type=int, default=8, help="sustained phase")
    parser.add_argument("--rate", type=float, default=100, help="offered load, referrals/s")
    parser.add_argument("--seconds", type=float, default=5, help="offered load, duration")
    parser.add_argument("--idle", type=int, default=20, help="referrals one after another")
    parser.add_argument("--drain", type=int, default=0, help="backlog drain (0: skip)")
    parser.add_argument("--poll-ms", type=float, default=25, help="watch interval under load")
    parser.add_argument("--idle-poll-ms", type=float, default=5, help="watch interval idle")
    parser.add_argument("--timeout", type=float, default=300, help="wait for delivery, s")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="keep the stack's data and logs here (default: a temporary one)")
    args = parser.parse_args()

    load_at_start = load_average()
    print(f"load average {load_at_start}; starting the stack ...", flush=True)
    results = Results()
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(StackOptions(data_dir=args.data_dir or Path(tmp)))
        try:
            info = stack.up()
            asyncio.run(drive(stack, info, args, results))
        finally:
            stack.stop()
    results.jose = jose_rate()
    report(args, results, load_at_start)


if __name__ == "__main__":
    main()
