"""Benchmark of the registry's audit log: batched appends, then inclusion and consistency proofs.

    .venv/bin/python benchmarks/audit_bench.py [--entries 1000000] [--batch 1000]
                                               [--database-url URL] [--samples 300]

Appends go through the same code as the registry's audit consumer (AuditLog.append, one
transaction per batch) into a database migrated by Alembic: a fresh SQLite file unless
--database-url is given. Proofs are made as the API makes them (one session each) and
checked. Prints figures and their ratio to the targets; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from services.registry import merkle
from services.registry.audit_log import AuditLog
from services.registry.repository import RegistryRepository
from shared.kit.db import make_engine, migrate, session_scope, utcnow

TARGET_APPENDS_PER_SECOND = 5000
TARGET_PROOF_MS = 5.0
EVENT_TYPES = ("sent", "received", "receipt", "record-read", "accepted")


def events(start: int, count: int) -> list[dict[str, Any]]:
    now = utcnow()
    return [{
        "event_id": str(uuid.uuid4()), "event_type": EVENT_TYPES[n % 5],
        "occurred_at": now + timedelta(microseconds=n), "institution_id": "mx-sndif",
        "counterpart_id": "hn-senaf", "message_id": str(uuid.uuid4()),
        "message_type": "referral", "case_reference": f"MX-DIF-2026-{n // 7:06d}",
        "agreement_id": "agr-mx-sndif-hn-senaf-2026",
        "detail": {"categories": ["identity", "protection"], "withheld_categories": []},
    } for n in range(start, start + count)]


def append_all(engine: Any, total: int, batch: int) -> list[float]:
    """Seconds each batch took to append (making the test events is not counted)."""
    spent: list[float] = []
    for start in range(0, total, batch):
        chunk = events(start, min(batch, total - start))
        started = time.perf_counter()
        with session_scope(engine) as session:
            AuditLog(RegistryRepository(session)).append(chunk, "gateway:MX")
        spent.append(time.perf_counter() - started)
        done = start + len(chunk)
        if done % 100_000 < batch:
            print(f"  {done:>9,} entries, {done / sum(spent):,.0f} appends/s", flush=True)
    return spent


def median_ms(engine: Any, cases: list[Any], prove: Callable[[AuditLog, Any], Any],
              check: Callable[[Any, Any], bool]) -> float:
    """Median time to make one proof (in its own session, as a request does); each checked."""
    times = []
    for case in cases:
        with session_scope(engine) as session:
            log = AuditLog(RegistryRepository(session))
            started = time.perf_counter()
            proof = prove(log, case)
            times.append((time.perf_counter() - started) * 1000)
        assert check(case, proof), f"a proof did not verify: {case}"
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/registry.db"
        migrate("services.registry", url)
        engine = make_engine(url)
        with session_scope(engine) as session:
            already = AuditLog(RegistryRepository(session)).size()
        print(f"Appending {args.entries:,} entries in batches of {args.batch} to "
              f"{url.split('://')[0]} (log holds {already:,}) ...", flush=True)
        batches = append_all(engine, args.entries, args.batch)
        seconds = sum(batches)
        rate = args.batch / statistics.median(batches)
        with session_scope(engine) as session:
            log = AuditLog(RegistryRepository(session))
            size = log.size()
            root = log.root(size)

            rng = random.Random(9162)
            leaves = [rng.randrange(size) for _ in range(args.samples)]
            firsts = [rng.randrange(1, size) for _ in range(args.samples)]
            older = {first: log.root(first) for first in firsts}

        inclusion_ms = median_ms(
            engine, leaves, lambda log, i: log.inclusion_proof(i, size),
            lambda i, proof: merkle.verify_inclusion(i, size, proof[0], proof[1], root))
        consistency_ms = median_ms(
            engine, firsts, lambda log, first: log.consistency_proof(first, size),
            lambda first, proof: merkle.verify_consistency(first, size, older[first], root, proof))
        engine.dispose()

    print(f"\naudit log of {size:,} entries ({url.split('://')[0]})")
    print(f"  appends:            {rate:>10,.0f} per second, median of batches of "
          f"{args.batch} ({args.entries / seconds:,.0f}/s overall, {seconds:.0f} s)   "
          f"target {TARGET_APPENDS_PER_SECOND:,}/s, ratio {rate / TARGET_APPENDS_PER_SECOND:.2f}")
    print(f"  inclusion proof:    {inclusion_ms:>10.2f} ms median of {args.samples}   "
          f"target < {TARGET_PROOF_MS} ms, ratio {TARGET_PROOF_MS / inclusion_ms:.2f}")
    print(f"  consistency proof:  {consistency_ms:>10.2f} ms median of {args.samples}   "
          f"target < {TARGET_PROOF_MS} ms, ratio {TARGET_PROOF_MS / consistency_ms:.2f}")


if __name__ == "__main__":
    main()
