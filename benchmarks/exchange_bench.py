"""Referrals between two gateways through the REST API, read against this machine's limits.

Starts a real stack (`enlace up` machinery: nats-server, directory, registry, MX and HN
gateways, SQLite), sends referrals SNDIF -> SENAF from several concurrent clients, and
prints sustained referrals per second and median/p99 delivery latency (accepted by the MX
gateway -> stored by the HN gateway). In the same run, on the same nats-server and
machine, it measures two baselines so the figures read as ratios:
  - raw nats-py JetStream: async publish of same-sized messages, then a pull consumer;
  - Ed25519: signature verifications per second (cryptography, and joserfc JWS).

Usage: .venv/bin/python benchmarks/exchange_bench.py [--referrals 1000] [--clients 8]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import nats
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.js.api import StreamConfig
from sqlalchemy import create_engine, text

from services.demo_data import SAMPLE_REFERRAL
from services.stack import Stack, StackOptions
from shared.envelope import Envelope, generate_signing_key, public_jwk, sign_envelope, verify


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def send_referrals(info: dict, count: int, clients: int) -> list[str]:
    mx = info["gateways"]["MX"]
    token = mx["institutions"]["mx-sndif"]["tokens"]["caseworker"]

    def worker(indexes: range) -> list[str]:
        ids = []
        with httpx.Client(base_url=mx["url"], timeout=30,
                          headers={"Authorization": f"Bearer {token}"}) as client:
            for _ in indexes:
                # One case with consent on record (demo data): the registry allows it.
                response = client.post("/v1/referrals", json=SAMPLE_REFERRAL)
                response.raise_for_status()
                ids.append(response.json()["id"])
        return ids

    chunks = [range(i, count, clients) for i in range(clients)]
    with ThreadPoolExecutor(clients) as pool:
        return [i for ids in pool.map(worker, chunks) for i in ids]


def wait_delivered(info: dict, ids: list[str], timeout: float = 600) -> None:
    engine = create_engine(info["gateways"]["MX"]["database_url"])
    deadline = time.monotonic() + timeout
    wanted = set(ids)
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            done = {row[0] for row in conn.execute(
                text("SELECT id FROM referrals WHERE status = 'delivered'"))}
        if wanted <= done:
            engine.dispose()
            return
        time.sleep(0.25)
    raise SystemExit(f"only {len(wanted & done)} of {len(ids)} delivered in {timeout}s")


def latencies(info: dict, ids: list[str]) -> tuple[list[float], float]:
    """Per referral: HN's receipt time minus MX's acceptance time; and the span of the run."""
    engine = create_engine(info["gateways"]["MX"]["database_url"])
    wanted = set(ids)
    with engine.connect() as conn:
        rows = [r for r in conn.execute(
            text("SELECT id, created_at, delivered_at FROM referrals")) if r[0] in wanted]
    engine.dispose()

    def moment(value: object) -> float:
        from datetime import UTC, datetime

        stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()

    values = [moment(r[2]) - moment(r[1]) for r in rows]
    span = max(moment(r[2]) for r in rows) - min(moment(r[1]) for r in rows)
    return values, span


def envelope_size(info: dict) -> int:
    """Bytes of one signed, encrypted referral as it travels: the raw baseline sends as much."""
    engine = create_engine(info["gateways"]["MX"]["database_url"])
    with engine.connect() as conn:
        size = conn.execute(text("SELECT MAX(LENGTH(envelope)) FROM referrals")).scalar_one()
    engine.dispose()
    return int(size)


async def raw_jetstream(nats_url: str, count: int, size: int) -> float:
    """Messages per second through JetStream: async publish, then a durable pull consumer."""
    nc = await nats.connect(nats_url)
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


def ed25519_rates(size: int, seconds: float = 2.0) -> tuple[float, float]:
    key = generate_signing_key()
    envelope = Envelope.new(ttl_seconds=60, type="referral", sender="a", recipients=["b"],
                            body={"record_jwe": "x" * size})
    token = sign_envelope(envelope, key)
    jwk = [public_jwk(key)]
    message = token.encode()
    raw_private = Ed25519PrivateKey.generate()
    signature, public_key = raw_private.sign(message), raw_private.public_key()

    def rate(call) -> float:  # type: ignore[no-untyped-def]
        done, deadline = 0, time.perf_counter() + seconds
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            call()
            done += 1
        return done / (time.perf_counter() - started)

    raw = rate(lambda: public_key.verify(signature, message))
    jose = rate(lambda: verify(token, jwk))
    return raw, jose


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--referrals", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(StackOptions(data_dir=Path(tmp)))
        try:
            info = stack.up()
            print("stack up; warming up ...", flush=True)
            wait_delivered(info, send_referrals(info, 50, args.clients))

            sending = time.perf_counter()
            ids = send_referrals(info, args.referrals, args.clients)
            accepted_in = time.perf_counter() - sending
            wait_delivered(info, ids)
            values, span = latencies(info, ids)
            size = envelope_size(info)
            raw_js = asyncio.run(raw_jetstream(info["nats_url"], 20000, size))
        finally:
            stack.stop()
    raw_verify, jose_verify = ed25519_rates(size)
    sustained = len(ids) / span
    print(f"""
Enlace exchange benchmark ({len(ids)} referrals, {args.clients} concurrent clients, SQLite)
  REST accepted                  {len(ids) / accepted_in:10.1f} referrals/s
  sustained, sent -> delivered   {sustained:10.1f} referrals/s
  delivery latency               median {statistics.median(values) * 1000:.1f} ms, \
p99 {percentile(values, 0.99) * 1000:.1f} ms
Baselines measured in the same run
  raw JetStream publish+consume  {raw_js:10.1f} msgs/s ({size} B)  ratio {sustained / raw_js:.4f}
  Ed25519 verify (cryptography)  {raw_verify:10.1f} /s  ratio {sustained / raw_verify:.4f}
  Ed25519 JWS verify (joserfc)   {jose_verify:10.1f} /s  ratio {sustained / jose_verify:.4f}
""")


if __name__ == "__main__":
    main()
