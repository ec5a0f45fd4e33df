"""Benchmark of the regional figures at the registry (issue 11): 11 countries' statistics
reports taken in, then the region's main tables combined and suppressed.

    .venv/bin/python benchmarks/regional_figures_bench.py [--institutions 2] [--months 12]
        [--rounds 3] [--whole]

Each of 11 countries has `--institutions` institutions, each reporting a year of months
(`--months`) to 10 destinations with every breakdown of the catalogue (a realistic full
report: ~8,400 cells, 1.9 MB signed). The reports are split in parts as a gateway sends
them (each under NATS's 1 MB; `--whole`: each in one message, as before), signed, then
verified and stored by the registry's statistics consumer (StatisticsIngest.handle_batch,
in batches of 20 messages, on a fresh SQLite file migrated by Alembic) `--rounds` times,
each on a fresh file; then `regional_figures` computes the main tables `--rounds` times, each once
afresh (combined and suppressed, as after a new report) and once again (from the decided
region: a dashboard's reads until the next report). Prints the medians and the load
average; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.registry.directory import KeyChanges
from services.registry.figures.ingest import StatisticsIngest
from services.registry.figures.service import REGIONS, regional_figures
from shared.kit.db import make_engine, migrate, session_scope
from shared.protocol.audit_events import KeyRecord
from shared.protocol.auth import Principal, Role
from shared.protocol.envelope import generate_signing_key, public_jwk
from shared.protocol.figures import (
    AGE_BANDS,
    CATALOGUE,
    Cell,
    Dimension,
    FigureQuery,
    Indicator,
    Kind,
    StatisticsReport,
    sign_report,
    split_report,
)
from shared.protocol.subjects import statistics_subject

D = Dimension
COUNTRIES = ["MX", "GT", "HN", "SV", "NI", "CR", "PA", "BZ", "DO", "CO", "US"]
VALUES = {
    D.age_band: list(AGE_BANDS), D.sex: ["female", "male", "unknown"],
    D.accompaniment: ["unaccompanied", "separated", "accompanied"],
    D.protection_need: ["trafficking", "violence", "health", "family-tracing", "asylum",
                        "education", "documentation", "other"],
    D.urgency: ["routine", "priority", "urgent"],
    D.purpose: ["reception-and-care", "family-reunification", "return", "follow-up"],
    D.state: ["sent", "delivered", "accepted", "rejected", "closed", "withdrawn"],
    D.outcome: ["accepted", "rejected", "closed", "pending"],
    D.detection_area: [f"area-{n:02d}" for n in range(8)],
    D.reason: ["no-capacity", "not-competent", "incomplete", "duplicate", "other"],
    D.category: ["missing", "abducted", "runaway", "lost", "other", "unknown"],
}


class Directory:
    """The keys and countries of the benchmark's institutions."""

    def __init__(self, institutions: dict[str, str]) -> None:
        self.countries = institutions
        self.keys = {i: generate_signing_key() for i in institutions}

    def signing_keys(self, institution_id: str) -> list[dict[str, object]]:
        return [public_jwk(self.keys[institution_id])]

    def signing_key_records(self, institution_id: str) -> list[KeyRecord]:
        return [KeyRecord(jwk=public_jwk(self.keys[institution_id]),
                          valid_from=datetime.now(UTC) - timedelta(days=1))]

    def key_changes(self, since: int | None) -> KeyChanges:
        return KeyChanges(0, None)

    def country_of(self, institution_id: str) -> str:
        return self.countries.get(institution_id, "")

    def every(self, path: str, **params: str) -> list[dict[str, object]]:
        return []


class Message:
    def __init__(self, data: bytes, subject: str) -> None:
        self.data, self.subject = data, subject

    async def ack(self) -> None: ...

    async def nak(self, delay: float | None = None) -> None: ...


def cells_of(country: str, months: list[str], rng: random.Random) -> list[Cell]:
    cells: list[Cell] = []
    for indicator, spec in CATALOGUE.items():
        if spec.source.value != "gateway":
            continue
        for fixed in fixed_values(spec.dimensions, country, months):
            if spec.kind is Kind.timed:
                cells.append(Cell(indicator=indicator, dims=fixed, count=rng.randint(0, 40),
                                  median_seconds=rng.randint(60, 10**5),
                                  p90_seconds=rng.randint(10**5, 10**6)))
                continue
            cells.append(Cell(indicator=indicator, dims=fixed, count=rng.randint(0, 60)))
            for breakdown in spec.breakdowns:
                cells.extend(Cell(indicator=indicator, dims={**fixed, breakdown: value},
                                  count=rng.randint(0, 12)) for value in VALUES[breakdown])
    return cells


def fixed_values(dimensions: tuple[Dimension, ...], country: str, months: list[str]
                 ) -> list[dict[Dimension, str]]:
    combos: list[dict[Dimension, str]] = [{}]
    for dimension in dimensions:
        if dimension in (D.origin, D.country):
            values = [country]
        elif dimension in (D.destination, D.target):
            values = [c for c in COUNTRIES if c != country][:10]
        elif dimension is D.month:
            values = months
        else:
            values = VALUES[dimension][:3]
        combos = [{**c, dimension: v} for c in combos for v in values]
    return combos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--institutions", type=int, default=2)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--whole", action="store_true", help="each report in one message")
    args = parser.parse_args()
    rng = random.Random(11)
    months = [f"2026-{m:02d}" for m in range(1, args.months + 1)]
    institutions = {f"{c.lower()}-inst-{n}": c for c in COUNTRIES
                    for n in range(args.institutions)}
    directory = Directory(institutions)
    started = time.perf_counter()
    messages = []
    for institution, country in institutions.items():
        report = StatisticsReport(
            report_id=str(uuid.uuid4()), institution_id=institution, country=country,
            computed_at=datetime.now(UTC), cells=cells_of(country, months, rng))
        for part in [report] if args.whole else split_report(report):
            messages.append(Message(sign_report(part, directory.keys[institution]).encode(),
                                    statistics_subject(country)))
    built = time.perf_counter() - started
    size = sum(len(m.data) for m in messages)
    with tempfile.TemporaryDirectory() as folder:
        ingests: list[float] = []
        for round_ in range(args.rounds):
            url = f"sqlite:///{Path(folder) / f'registry-{round_}.db'}"
            migrate("services.registry", url)
            engine = make_engine(url)
            ingest = StatisticsIngest(engine, directory)
            started = time.perf_counter()
            for i in range(0, len(messages), 20):
                asyncio.run(ingest.handle_batch(messages[i:i + 20]))  # type: ignore[arg-type]
            ingests.append(time.perf_counter() - started)
            if round_ < args.rounds - 1:
                engine.dispose()
        with session_scope(engine) as session:
            cells = session.connection().exec_driver_sql(
                "SELECT count(*) FROM statistics_cells").scalar()
        print(f"{len(institutions)} reports in {len(messages)} messages (largest "
              f"{max(len(m.data) for m in messages) / 1e6:.2f} MB), {cells} cells, "
              f"{size / 1e6:.1f} MB signed (built in {built:.1f} s); ingest (verify + store): "
              f"median {statistics.median(ingests):.2f} s of {args.rounds} "
              f"({', '.join(f'{t:.2f}' for t in ingests)})")
        reader = Principal("crm-secretariat", "", Role.auditor)
        queries = [FigureQuery(indicator=Indicator.referrals),
                   FigureQuery(indicator=Indicator.referrals, by=D.detection_area),
                   FigureQuery(indicator=Indicator.referrals, by=D.age_band),
                   FigureQuery(indicator=Indicator.referral_time_to_accepted),
                   FigureQuery(indicator=Indicator.alerts, by=D.category),
                   FigureQuery(indicator=Indicator.referral_answers, by=D.reason)]
        for query in queries:
            decided: list[float] = []
            cached: list[float] = []
            shown = withheld = 0
            for _ in range(args.rounds):
                REGIONS.clear()  # as after a new report: combined and suppressed afresh
                for times in (decided, cached):
                    started = time.perf_counter()
                    with session_scope(engine) as session:
                        table = regional_figures(session, reader, query, directory)
                    times.append(time.perf_counter() - started)
                shown = len(table.cells)
                withheld = sum(c.value is None for c in table.cells)
            by = f" by {query.by.value}" if query.by else ""
            print(f"{query.indicator.value}{by}: median {statistics.median(decided):.3f} s "
                  f"combined and suppressed, {statistics.median(cached):.3f} s read again "
                  f"({shown} cells, {withheld} withheld)")
        engine.dispose()
    print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
