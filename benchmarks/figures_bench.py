"""A gateway's figures over 1,000,000 referrals: how long computing all its cells takes.

Seeds a SQLite gateway database (the gateway's own migrations) with N referrals' facts
(raw executemany inserts into the facts table, its tally made from it by GROUP BY), spread
over 2 sending institutions, 10 destination countries, 24 months and every value of every
breakdown, about 70% delivered, 50% accepted, 20% closed, 15% rejected; then computes every
cell of the catalogue for the gateway's institutions (services/exchange/figures/aggregate.py)
three times and prints the median against issue 11's target (< 5 s), with the load average.

Usage, from the repository root:
  PYTHONPATH=$PWD .venv/bin/python -m benchmarks.figures_bench [--referrals 1000000]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session

from benchmarks.measure import Target, load_average
from services.exchange.figures.aggregate import cells_of
from shared.kit.db import make_engine, migrate
from shared.protocol.figures import AGE_BANDS

INSTITUTIONS = ("mx-inm", "mx-sndif")
DESTINATIONS = ("BZ", "CA", "CR", "DO", "GT", "HN", "NI", "PA", "SV", "US")
MONTHS = [f"{2025 + m // 12}-{m % 12 + 1:02d}" for m in range(24)]
AREAS = ("mx-chp", "mx-tab", "mx-ver", "mx-oax", "mx-cmx", "mx-nle", "mx-tam", "unknown")
COLUMNS = ("referral_id", "institution_id", "origin", "destination", "month", "age_band", "sex",
           "accompaniment", "needs", "urgency", "purpose", "detection_area", "state", "outcome",
           "reason", "sent_at", "delivered_at", "accepted_at", "closed_at",
           "seconds_to_delivered", "seconds_to_accepted", "seconds_to_closed")
# Built from the constant above, no input: not an injection.
INSERT = (f"INSERT INTO referral_facts ({', '.join(COLUMNS)}) "  # noqa: S608
          f"VALUES ({', '.join('?' * len(COLUMNS))})")
KEY = "institution_id, origin, destination, month"
# The tally the gateway keeps as it writes (figures.facts.tallied), made here in bulk.
TALLIES = [f"SELECT {KEY}, '', '', count(*) FROM referral_facts GROUP BY {KEY}"] + [  # noqa: S608
    f"SELECT {KEY}, '{column}', {column}, count(*) FROM referral_facts GROUP BY {KEY}, {column}"  # noqa: S608
    for column in ("age_band", "sex", "accompaniment", "urgency", "purpose", "detection_area",
                   "state", "outcome")] + [
    f"SELECT {KEY}, 'reason', reason, count(*) FROM referral_facts WHERE outcome = 'rejected' "  # noqa: S608
    f"AND reason IS NOT NULL GROUP BY {KEY}, reason"] + [
    f"SELECT {KEY}, 'protection_need', '{need}', count(*) FROM referral_facts "  # noqa: S608
    f"WHERE {condition} GROUP BY {KEY}" for need, condition in (
        ("asylum-intent", "needs & 1"), ("trafficking-indicators", "needs & 2"),
        ("violence", "needs & 4"), ("other-risks", "needs & 8"), ("none", "needs = 0"))]


def rows(count: int, seed: int = 11):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(count):
        month = rng.randrange(24)
        sent = base + timedelta(days=month * 30 + rng.randrange(28), seconds=rng.randrange(86400))
        fate = rng.random()
        delivered = sent + timedelta(seconds=rng.randint(1, 3600)) if fate < 0.7 else None
        accepted = delivered + timedelta(seconds=rng.randint(60, 200_000)) \
            if delivered and fate < 0.5 else None
        closed = accepted + timedelta(days=rng.randint(1, 90)) if accepted and fate < 0.2 else None
        rejected = delivered is not None and accepted is None and fate < 0.65
        state = ("closed" if closed else "accepted" if accepted else "rejected" if rejected
                 else "delivered" if delivered else "sent")
        outcome = ("accepted" if accepted else "rejected" if rejected else "pending")
        yield (f"r-{i:09d}", INSTITUTIONS[i % 2], "MX", rng.choice(DESTINATIONS), MONTHS[month],
               rng.choice(AGE_BANDS), rng.choice(("female", "male", "other", "unknown")),
               rng.choice(("unaccompanied", "separated", "accompanied")), rng.randrange(16),
               rng.choice(("routine", "urgent", "immediate")),
               rng.choice(("reception-and-care", "family-tracing", "follow-up")),
               rng.choice(AREAS), state, outcome,
               rng.choice(("no-capacity", "outside-area", "other")) if rejected else None,
               sent.isoformat(" "), delivered and delivered.isoformat(" "),
               accepted and accepted.isoformat(" "), closed and closed.isoformat(" "),
               delivered and int((delivered - sent).total_seconds()),
               accepted and int((accepted - sent).total_seconds()),
               closed and int((closed - sent).total_seconds()))


def seed(path: Path, count: int) -> float:
    url = f"sqlite:///{path}"
    migrate("services.exchange", url)
    started = time.perf_counter()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    with connection:
        connection.executemany(INSERT, rows(count))
        for tally in TALLIES:
            connection.execute(f"INSERT INTO referral_tally {tally}")
    connection.execute("ANALYZE")
    connection.close()
    return time.perf_counter() - started


def aggregate_once(url: str) -> tuple[float, int]:
    engine = make_engine(url)
    started = time.perf_counter()
    with Session(engine) as session:
        cells = cells_of(session, list(INSTITUTIONS), "MX")
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed, len(cells)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--referrals", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="enlace-figures-") as folder:
        path = Path(folder) / "exchange.db"
        print(f"seeding {args.referrals:,} referrals ...", flush=True)
        print(f"  seeded in {seed(path, args.referrals):.1f} s")
        timings = []
        for run in range(args.runs):
            elapsed, cells = aggregate_once(f"sqlite:///{path}")
            timings.append(elapsed)
            print(f"  run {run + 1}: {elapsed:.2f} s, {cells:,} cells")
    median = statistics.median(timings)
    target = Target("all cells of a gateway over its referrals", median, "<", 5.0, "s")
    print(f"\nmedian of {args.runs} runs over {args.referrals:,} referrals: {median:.2f} s")
    print(target.line())
    print(f"  load average (1, 5, 15 min): {load_average()}")
    return 0 if target.met else 1


if __name__ == "__main__":
    raise SystemExit(main())
