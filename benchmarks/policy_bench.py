"""Benchmark of the policy decision: asked of the registry per referral, or decided in the
gateway from the registry's signed snapshot (issue 10).

    .venv/bin/python benchmarks/policy_bench.py [--consents 1000] [--samples 500]

A registry on a fresh SQLite file (migrated by Alembic) holds one active agreement and
`--consents` consents of the sending institution. The same question is decided
`--samples` times by the registry (POST /v1/policy/decisions, in-process over its ASGI app:
no network, so the figure is the registry's own cost), and by the gateway's RegistryClient
from the snapshot it fetched (the hot path now). Prints the CPU time per decision of each
and the snapshot's size and fetch time; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from services.exchange.clients.registry import RegistryClient
from services.registry.app import create_app
from services.registry.models import Agreement, Consent
from shared.kit.db import migrate, session_scope, utcnow
from shared.protocol.auth import Role, issue_token
from shared.protocol.envelope import load_or_create_private_key, public_jwk, service_key_path
from shared.protocol.settings import Settings

COUNTRIES = {"mx-sndif": "MX", "hn-senaf": "HN"}
CATEGORIES = ["identity", "protection", "child-views", "family", "location"]
QUESTION = {"sender": "mx-sndif", "recipient": "hn-senaf", "message_type": "referral",
            "purpose": "reception-and-care", "data_categories": CATEGORIES,
            "case_reference": "MX-BENCH-000007"}


class Countries:
    def country_of(self, institution_id: str) -> str:
        return COUNTRIES.get(institution_id, "")


def seed(engine: Any, consents: int) -> None:
    now = utcnow()
    with session_scope(engine) as session:
        session.add(Agreement(
            id="agr-bench", version=1, title="Bench", parties=["mx-sndif", "HN"],
            message_types=["referral", "receipt"], purposes=["reception-and-care"],
            data_categories=CATEGORIES, legal_bases=["consent"], retention_days=365,
            valid_from=now - timedelta(days=1), valid_to=now + timedelta(days=365),
            status="active"))
        for n in range(consents):
            session.add(Consent(
                id=str(uuid.uuid4()), holder_id="mx-sndif",
                case_reference=f"MX-BENCH-{n:06d}", basis="consent", given_by="guardian",
                child_heard=True, recipients=["hn-senaf"], purposes=["reception-and-care"],
                data_categories=CATEGORIES, valid_from=now - timedelta(days=1)))
        issue_token(session, "mx-sndif", "MX", Role.gateway, "enl_bench-mx-sndif")


def cpu_ms_per_call(call: Any, samples: int) -> tuple[float, float]:
    """(median, p95) of the process CPU time per call, in ms."""
    spent = []
    for _ in range(samples):
        start = time.process_time()
        call()
        spent.append((time.process_time() - start) * 1000)
    spent.sort()
    return statistics.median(spent), spent[int(len(spent) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consents", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'registry.db'}"
        migrate("services.registry", url)
        settings = Settings(database_url=url, data_dir=Path(folder) / "registry")
        app = create_app(settings, directory=Countries())  # type: ignore[arg-type]
        seed(app.state.engine, args.consents)
        key = public_jwk(load_or_create_private_key(service_key_path(settings.data_dir)))
        registry = TestClient(app)
        gateway = RegistryClient("http://testserver", {"mx-sndif": "enl_bench-mx-sndif"},
                                 public_key=key, country_of=COUNTRIES.__getitem__)
        gateway.http.close()
        gateway.http = registry

        asked = gateway._decide_at_registry("mx-sndif", QUESTION)
        assert asked["decision"] == "allow", asked
        at_registry = cpu_ms_per_call(
            lambda: gateway._decide_at_registry("mx-sndif", QUESTION), args.samples)

        start = time.perf_counter()
        snapshot = gateway.refresh_snapshot("mx-sndif")
        fetch_ms = (time.perf_counter() - start) * 1000
        size = len(registry.get("/v1/policy/snapshot",
                                headers={"Authorization": "Bearer enl_bench-mx-sndif"}).text)
        decided = gateway.decide("mx-sndif", QUESTION)
        assert decided["source"] == "snapshot" and decided["decision"] == "allow", decided
        in_gateway = cpu_ms_per_call(lambda: gateway.decide("mx-sndif", QUESTION),
                                     args.samples)
        app.state.engine.dispose()

    print(f"consents of the sender: {args.consents}, samples: {args.samples}")
    print(f"asked of the registry  : {at_registry[0]:7.3f} ms CPU median, "
          f"{at_registry[1]:7.3f} ms p95 (registry and its HTTP stack, in-process)")
    print(f"decided in the gateway : {in_gateway[0]:7.3f} ms CPU median, "
          f"{in_gateway[1]:7.3f} ms p95 (no call)")
    print(f"snapshot: {len(snapshot.bases)} bases, {size / 1024:.0f} KiB signed, "
          f"fetched and verified in {fetch_ms:.0f} ms (in the background)")


if __name__ == "__main__":
    main()
