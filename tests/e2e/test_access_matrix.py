"""Issue 8, point 7: the access matrix. Every operation of every service (from each running
service's OpenAPI document) is called with no token, a bad token and the token of every role of
every institution of the demo stack, and must answer as tests/e2e/access_matrix.py says.

One stack of its own (SQLite): the probes write a little (a spare key revoked, a consent
withdrawn, a webhook), which no other module should see."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jwk import OKPKey

from services.demo_data import SAMPLE_REFERRAL
from services.directory.seed import DEMO_USERS
from tests.conftest import RunningStack
from tests.e2e.access_matrix import ALLOWED, Caller, Case, Demo, Operation, operations
from tests.e2e.test_alerts import ALERT
from tests.helpers import wait_until
from tests.registry.conftest import consent_body

GATEWAY_COUNTRIES = ("MX", "HN")
BAD_TOKEN = "enl_" + "x" * 43


@pytest.fixture(scope="module")
def matrix_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = RunningStack(tmp_path_factory.mktemp("stack-matrix"), [])
    try:
        yield running
    finally:
        running.stop()


def service_urls(stack: RunningStack) -> dict[str, str]:
    return {"directory": stack.info["directory"]["url"], "registry": stack.info["registry"]["url"],
            **{f"gateway-{c}": stack.info["gateways"][c]["url"] for c in GATEWAY_COUNTRIES}}


def callers(stack: RunningStack) -> dict[str, tuple[str | None, dict[str, Caller]]]:
    """Each caller by name: its token, and who that token is at each service that knows it."""
    secrets = json.loads((Path(stack.data_dir) / "secrets.json").read_text())
    found: dict[str, tuple[str | None, dict[str, Caller]]] = {
        "no token": (None, {}), "bad token": (BAD_TOKEN, {}),
        "regional_admin": (secrets["regional_admin"], {
            s: Caller("crm-secretariat", "", "regional_admin") for s in ("directory", "registry")}),
        "auditor": (secrets["auditor"], {"registry": Caller("crm-secretariat", "", "auditor")}),
        "registry at the directory": (secrets["directory:registry"], {
            "directory": Caller("crm-registry", "", "regional_service")}),
    }
    for name, (institution, role) in DEMO_USERS.items():
        country = institution.split("-")[0].upper()
        found[f"directory {name}"] = (secrets[f"directory:{name}"], {
            "directory": Caller(institution, country, role.value)})
    for country in GATEWAY_COUNTRIES:
        for institution, held in stack.info["gateways"][country]["institutions"].items():
            found[f"gateway service {institution}"] = (secrets[f"gateway:{institution}"], {
                s: Caller(institution, country, "gateway") for s in ("directory", "registry")})
            for role, token in held["tokens"].items():
                found[f"{institution} {role}"] = (token, {
                    f"gateway-{country}": Caller(institution, country, role)})
    return found


def demo_ids(stack: RunningStack) -> Demo:
    """The demo data the cases name, and what they need besides: spare keys to revoke, a
    consent, a delivered referral and an alert."""
    with stack.directory() as directory, stack.registry() as auditor:
        secrets = json.loads((Path(stack.data_dir) / "secrets.json").read_text())

        def first(path: str, country: str) -> str:
            body = directory.get(path, params={"country": country}).json()
            return str((body["items"] if isinstance(body, dict) else body)[0]["id"])

        def spare_key(institution: str) -> str:
            key = OKPKey.generate_key("Ed25519")
            response = directory.post(
                f"/v1/institutions/{institution}/keys", json=key.as_dict(private=False),
                headers={"Authorization": f"Bearer {secrets[f'gateway:{institution}']}"})
            assert response.status_code == 201, response.text
            return str(response.json()["kid"])

        consent = auditor.post("/v1/consents", json=consent_body(case_reference="MX-MATRIX-1"),
                               headers={"Authorization":
                                        f"Bearer {secrets['gateway:mx-sndif']}"})
        assert consent.status_code == 201, consent.text
        agreement_id = auditor.get("/v1/agreements").json()["items"][0]["id"]
        areas = {c: first("/v1/areas", c) for c in GATEWAY_COUNTRIES}
        focal_points = {c: first("/v1/focal-points", c) for c in GATEWAY_COUNTRIES}
        kids = {c: spare_key(i) for c, i in (("MX", "mx-sndif"), ("HN", "hn-senaf"))}
    with stack.gateway("MX", "mx-sndif") as sndif, stack.gateway("HN", "hn-senaf") as senaf:
        sent = sndif.post("/v1/referrals", json=SAMPLE_REFERRAL)
        assert sent.status_code == 202, sent.text
        referral_id = sent.json()["id"]
        wait_until(lambda: sndif.get(f"/v1/referrals/{referral_id}").json()["status"]
                   == "delivered", timeout=60)
        issued = sndif.post("/v1/alerts", json={**ALERT, "target_countries": ["HN"]})
        assert issued.status_code == 202, issued.text
        alert_id = issued.json()["id"]
        wait_until(lambda: senaf.get(f"/v1/alerts/{alert_id}").status_code == 200, timeout=60)
    return Demo(agreement_id=agreement_id, area_mx=areas["MX"], area_hn=areas["HN"],
                focal_point_mx=focal_points["MX"], focal_point_hn=focal_points["HN"],
                spare_kid_mx=kids["MX"], spare_kid_hn=kids["HN"],
                consent_id=str(consent.json()["id"]), referral_id=referral_id,
                alert_id=alert_id, alert_recipient_hn="hn-senaf")


def table_service(service: str) -> str:
    return "gateway" if service.startswith("gateway-") else service


def spec_operations(stack: RunningStack) -> set[tuple[str, str, str]]:
    found = set()
    for service, url in service_urls(stack).items():
        spec = httpx.get(f"{url}/openapi.json", timeout=30).json()
        for path, methods in spec["paths"].items():
            found |= {(table_service(service), m.upper(), path) for m in methods}
    return found


def test_every_operation_of_every_service_is_in_the_table(matrix_stack: RunningStack):
    demo = Demo(**{f.name: "placeholder" for f in fields(Demo)})
    table = [(op.service, op.method, op.path) for op in operations(demo)]
    assert len(table) == len(set(table)), "an operation is in the table twice"
    in_specs = spec_operations(matrix_stack)
    assert sorted(in_specs - set(table)) == [], "operations missing from access_matrix.py"
    assert sorted(set(table) - in_specs) == [], "operations in access_matrix.py no service has"


def calls(demo: Demo, names: list[str]) -> Iterator[tuple[str, Operation, Case, str]]:
    for operation in operations(demo):
        for case in operation.cases:
            services = ([f"gateway-{c}" for c in GATEWAY_COUNTRIES if case.on in (None, c)]
                        if operation.service == "gateway" else [operation.service])
            for service in services:
                for name in names:
                    yield service, operation, case, name


def test_every_caller_gets_what_the_table_says(matrix_stack: RunningStack):
    demo = demo_ids(matrix_stack)
    who = callers(matrix_stack)
    clients = {s: httpx.Client(base_url=url, timeout=60)
               for s, url in service_urls(matrix_stack).items()}

    def outcome(service: str, operation: Operation, case: Case, name: str
                ) -> tuple[str, Any, int]:
        token, known = who[name]
        expected = operation.who.expect(known.get(service), case)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        content = None
        if case.body is not None:
            content = json.dumps(case.body)
            headers["Content-Type"] = case.content_type
        path = operation.path.format(**case.path)
        response = clients[service].request(operation.method, path, params=case.query,
                                            headers=headers, content=content)
        return f"{service} {operation.method} {path} as {name}", expected, response.status_code

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda call: outcome(*call), calls(demo, list(who))))
    finally:
        for client in clients.values():
            client.close()
    wrong = [f"{call}: expected {expected}, got {status}" for call, expected, status in results
             if status >= 500 or (status in (401, 403) if expected == ALLOWED
                                  else status != expected)]
    assert len(results) > 1000
    assert wrong == [], "\n".join(wrong)
