"""A missing-child alert to every CRM member country: how long until each country has it.

Starts a real stack with one gateway per member country (11 gateways, each hosting its
country's child-protection authority, SQLite), marks those institutions in the directory as
alert desks served by their gateway (through the directory's admin API), then issues alerts
from SNDIF (Mexico) to ["ALL"] one after another and prints, per alert, the time from issue
(the MX gateway accepting it) until the last of the other ten countries' gateways stored it:
median, p99 and max. In the same run: the time of one signed, sealed NATS round trip on the
same server, as the floor to read the figure against.

Usage: .venv/bin/python benchmarks/alert_bench.py [--alerts 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import nats
from sqlalchemy import create_engine, text

from services.directory.seed import INSTITUTIONS
from services.stack import Stack, StackOptions

MEMBERS = ["BZ", "CA", "CR", "DO", "GT", "HN", "MX", "NI", "PA", "SV", "US"]
ALERT = {
    "category": "missing", "urgency": "immediate", "target_countries": ["ALL"],
    "public": {"child": {"given_names": "Ficticio", "family_names": "De Prueba", "sex": "male",
                         "estimated_age": 13},
               "last_seen": {"at": "2026-11-20T23:00:00-06:00", "country": "MX"}},
    "details": {"issuing_focal_point": {"name": "Mesa de alertas (ejemplo)"}},
}


def alert_desk(country: str) -> str:
    """The country's child-protection authority in the seed, else its first institution
    (Canada: child welfare is provincial, IRCC stands in)."""
    own = [i for i in INSTITUTIONS if i["country"] == country]
    return next((i["id"] for i in own if i["type"] == "child-protection-authority"),
                own[0]["id"])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def make_alert_desks(info: dict[str, Any], desks: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {info['directory']['tokens']['regional_admin']}"}
    with httpx.Client(base_url=info["directory"]["url"], headers=headers, timeout=30) as client:
        for country, institution_id in desks.items():
            current = client.get(f"/v1/institutions/{institution_id}").json()
            competences = sorted({*current["competences"], "missing-child-alerts"})
            client.patch(f"/v1/institutions/{institution_id}", json={
                "competences": competences, "gateway_country": country}).raise_for_status()


def stored_at(info: dict[str, Any], alert_ids: list[str]) -> dict[str, dict[str, float]]:
    """For each country's gateway: when it stored each alert (its own clock, same machine)."""
    seen: dict[str, dict[str, float]] = {}
    for country, gateway in info["gateways"].items():
        engine = create_engine(gateway["database_url"])
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, direction, created_at FROM alerts")).all()
        engine.dispose()
        seen[country] = {r[0]: _moment(r[2]) for r in rows
                         if r[0] in alert_ids and (r[1] == "inbound" or country == "MX")}
    return seen


def _moment(value: object) -> float:
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


async def nats_round_trip(url: str, samples: int = 200) -> float:
    """Median request-reply time on the same nats-server (the transport's floor)."""
    nc = await nats.connect(url)

    async def echo(msg: Any) -> None:
        await msg.respond(msg.data)

    await nc.subscribe("bench.echo", cb=echo)
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        await nc.request("bench.echo", b"x" * 3000, timeout=5)
        times.append(time.perf_counter() - started)
    await nc.close()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=50)
    args = parser.parse_args()
    desks = {country: alert_desk(country) for country in MEMBERS}

    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(StackOptions(data_dir=Path(tmp),
                                   gateways={c: [d] for c, d in desks.items()}))
        try:
            started = time.perf_counter()
            info = stack.up()
            print(f"{len(info['gateways'])} gateways up in {time.perf_counter() - started:.0f}s",
                  flush=True)
            make_alert_desks(info, desks)
            time.sleep(12)  # every gateway's next directory snapshot names the alert desks
            mx = info["gateways"]["MX"]
            token = mx["institutions"][desks["MX"]]["tokens"]["caseworker"]
            ids = []
            with httpx.Client(base_url=mx["url"], timeout=30,
                              headers={"Authorization": f"Bearer {token}"}) as client:
                for _ in range(args.alerts):
                    response = client.post("/v1/alerts", json=ALERT)
                    response.raise_for_status()
                    ids.append(response.json()["id"])
                    time.sleep(0.2)
            others = [c for c in MEMBERS if c != "MX"]
            deadline = time.monotonic() + 120
            while True:
                seen = stored_at(info, ids)
                if all(len(seen[c]) == len(ids) for c in others) or time.monotonic() > deadline:
                    break
                time.sleep(1)
            floor = asyncio.run(nats_round_trip(info["nats_url"]))
        finally:
            stack.stop()

    complete = [a for a in ids if all(a in seen[c] for c in others)]
    spans = [max(seen[c][a] for c in others) - seen["MX"][a] for a in complete]
    print(f"""
Alert to all {len(MEMBERS)} member countries ({len(ids)} alerts, one gateway per country)
  reached every other country    {len(complete)} of {len(ids)} alerts
  issue -> last country stored   median {statistics.median(spans) * 1000:.0f} ms, \
p99 {percentile(spans, 0.99) * 1000:.0f} ms, max {max(spans) * 1000:.0f} ms
Baseline measured in the same run
  NATS request-reply (3 KB)      median {floor * 1000:.2f} ms
""")


if __name__ == "__main__":
    main()
