"""Issue 11 at the gateway: the cells a gateway counts from its own records, each checked
against counts this test computes itself from what it seeded; the signed report carries no
case reference, name, date of birth or exact date; the country's own figures over HTTP."""

from __future__ import annotations

import base64
import json
import math
import random
import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from services.exchange.alerts.models import Alert, AlertTarget
from services.exchange.figures.aggregate import cells_of
from services.exchange.figures.endpoints import router as figures_router
from services.exchange.figures.facts import record_sent
from services.exchange.figures.report import build_report
from services.exchange.gateway import Gateway
from services.exchange.referrals.lifecycle import add_event, mark_sent
from services.exchange.referrals.models import Referral, ReferralEvent
from services.exchange.referrals.repository import ReferralRepository
from services.exchange.transport.arrivals import InboundLimits, Rejected
from services.exchange.transport.quarantine import Quarantine
from shared.kit.db import make_engine, migrate, session_scope
from shared.kit.errors import install_problem_handlers
from shared.protocol.auth import Role, issue_token
from shared.protocol.envelope import generate_signing_key, public_jwk, verify
from shared.protocol.figures import Cell, StatisticsReport, sign_report
from tests.inprocess import database_fixture

HOSTED = ("mx-inm", "mx-sndif")
DESTINATIONS = ("GT", "HN", "SV")
PURPOSES = ("reception-and-care", "family-tracing", "follow-up")
AREAS = {"MX-CHP": "mx-chp", "MX-TAB": "mx-tab", "HN-CR-SPS": "hn-cr", "Chiapas": "unknown",
         None: "unknown"}
FATES = ("queued", "sent", "delivered", "accepted", "in_progress", "closed", "rejected",
         "withdrawn", "withdrawn_accepted", "undeliverable")
REASONS = {"no-capacity": "no-capacity", "outside-area": "outside-area",
           "The family lives elsewhere.": "other"}
NEEDS = (("asylum_intent", "asylum-intent"), ("trafficking_indicators", "trafficking-indicators"),
         ("violence", "violence"))
CATEGORIES = ("missing-in-need-of-protection", "abducted")


def band(age: int | None) -> str:
    if age is None or not 0 <= age <= 17:
        return "unknown"
    return "0-5" if age < 6 else "6-11" if age < 12 else "12-14" if age < 15 else "15-17"


def nearest_rank(values: list[int], percent: int) -> int:
    ordered = sorted(values)
    return ordered[math.ceil(len(ordered) * percent / 100) - 1]


gateway_database = database_fixture("exchange", scope="module")


@pytest.fixture(scope="module")
def gateway(gateway_database: str) -> Gateway:
    url = gateway_database
    migrate("services.exchange", url)
    return Gateway(country="MX", engine=make_engine(url),
                   keys={i: generate_signing_key() for i in HOSTED}, encryption_keys={},
                   directory=None, registry=None,  # type: ignore[arg-type]
                   message_ttl_seconds=3600)


# Seeding: each referral with what it should count as, written down by the test ------------


def seed_referrals(gateway: Gateway, n: int, rng: random.Random) -> list[dict[str, Any]]:
    seeded = []
    for i in range(n):
        sent = datetime(2026, rng.choice((9, 10, 11)), rng.randint(1, 28), rng.randint(0, 23),
                        tzinfo=UTC)
        born = date(rng.randint(2006, 2025), rng.randint(1, 12), rng.randint(1, 28))
        use_birth = rng.random() < 0.7
        estimate = rng.choice((None, 3, 9, 13, 16))
        age = ((sent.year - born.year - ((sent.month, sent.day) < (born.month, born.day)))
               if use_birth else estimate)
        flags = {flag: rng.random() < 0.3 for flag, _ in NEEDS}
        other_risks = ["works on the street"] if rng.random() < 0.2 else []
        area = rng.choice(list(AREAS))
        fate = rng.choice(FATES)
        reason = rng.choice(list(REASONS))
        seconds = [rng.randint(5, 4000), rng.randint(60, 90_000), rng.randint(3600, 900_000)]
        spec = {
            "id": f"00000000-0000-4000-8000-{i:012d}", "sender": rng.choice(HOSTED),
            "destination": rng.choice(DESTINATIONS), "sent": sent,
            "case_reference": f"MX-CASO-2026-{i:06d}", "given": f"Nombrefalso{i}",
            "family": f"Apellidofalso{i}", "born": born,
            "sex": rng.choice(("female", "male", "other", "unknown")),
            "accompaniment": rng.choice(("unaccompanied", "separated", "accompanied")),
            "urgency": rng.choice(("routine", "urgent", "immediate")),
            "purpose": rng.choice(PURPOSES), "fate": fate, "reason_text": reason,
            # What the test expects of it:
            "age_band": band(age), "area": AREAS[area],
            "needs": [need for flag, need in NEEDS if flags[flag]]
            + (["other-risks"] if other_risks else []) or ["none"],
        }
        record = {
            "child": {"given_names": spec["given"], "family_names": spec["family"],
                      "sex": spec["sex"],
                      **({"date_of_birth": born.isoformat()} if use_birth else {}),
                      **({"estimated_age": estimate} if not use_birth else {})},
            "accompaniment": {"status": spec["accompaniment"]},
            "detection": {"at": sent.isoformat(), "country": "MX", "admin_area": area},
            "protection": {"urgency": spec["urgency"], **flags, "other_risks": other_risks},
            "requested_services": ["reception"],
        }
        moments = _send(gateway, spec, record, seconds)
        spec.update(moments)
        seeded.append(spec)
    return seeded


def _send(gateway: Gateway, spec: dict[str, Any], record: dict[str, Any],
          seconds: list[int]) -> dict[str, Any]:
    """Through the lifecycle's own path; returns the state, answer and durations expected."""
    rid, sent, fate = spec["id"], spec["sent"], spec["fate"]
    at = [sent + timedelta(seconds=sum(seconds[:k + 1])) for k in range(3)]
    with session_scope(gateway.engine) as session:
        referral = Referral(
            id=rid, direction="outbound", sender_id=spec["sender"], recipient_id="hn-senaf",
            status="queued", case_reference=spec["case_reference"], purpose=spec["purpose"],
            agreement_id="agr-1", categories=[], record=record, envelope="jws",
            envelope_digest="d", created_at=sent)
        session.add(referral)
        record_sent(session, referral, "MX", spec["destination"])
    if fate == "queued":
        return {"state": "queued", "outcome": "pending", "reason": None, "durations": {}}
    with session_scope(gateway.engine) as session:
        mark_sent(session, [rid], sent + timedelta(seconds=1))
    steps: list[tuple[str, str, datetime, str | None]] = {
        "sent": [],
        "undeliverable": [("refuse", "recipient", at[0], "unknown_recipient")],
        "delivered": [("deliver", "recipient", at[0], None)],
        "accepted": [("deliver", "recipient", at[0], None), ("accept", "recipient", at[1], None)],
        "in_progress": [("deliver", "recipient", at[0], None),
                        ("accept", "recipient", at[1], None),
                        ("start", "recipient", at[1] + timedelta(seconds=30), None)],
        "closed": [("deliver", "recipient", at[0], None), ("accept", "recipient", at[1], None),
                   ("close", "recipient", at[2], None)],
        "rejected": [("deliver", "recipient", at[0], None),
                     ("reject", "recipient", at[1], spec["reason_text"])],
        "withdrawn": [("deliver", "recipient", at[0], None),
                      ("withdraw", "sender", at[1], "duplicate")],
        "withdrawn_accepted": [("deliver", "recipient", at[0], None),
                               ("accept", "recipient", at[1], None),
                               ("withdraw", "sender", at[2], "duplicate")],
    }[fate]
    for clock, (action, side, moment, reason) in enumerate(steps, start=1):
        with session_scope(gateway.engine) as session:
            repo = ReferralRepository(session)
            referral = repo.referral(rid, "outbound")
            assert referral is not None
            add_event(repo, referral, ReferralEvent(
                id=f"{rid}-e{clock}", referral_id=rid, action=action, side=side,
                actor_id="hn-senaf", clock=clock, at=moment, reason=reason,
                outcome="Reunited." if action == "close" else None))
    actions = [s[0] for s in steps]
    durations = {}
    if "deliver" in actions:
        durations["referral-time-to-delivered"] = seconds[0]
    if "accept" in actions:
        durations["referral-time-to-accepted"] = seconds[0] + seconds[1]
    if "close" in actions:
        durations["referral-time-to-closed"] = sum(seconds)
    state = {"withdrawn_accepted": "withdrawn"}.get(fate, fate)
    outcome = ("accepted" if "accept" in actions else
               {"rejected": "rejected", "withdrawn": "withdrawn",
                "undeliverable": "undeliverable"}.get(fate, "pending"))
    reason = REASONS[spec["reason_text"]] if fate == "rejected" else None
    return {"state": state, "outcome": outcome, "reason": reason, "durations": durations}


def seed_alerts(gateway: Gateway, n: int, rng: random.Random) -> list[dict[str, Any]]:
    seeded = []
    with session_scope(gateway.engine) as session:
        for i in range(n):
            issued = datetime(2026, rng.choice((10, 11)), rng.randint(1, 28), tzinfo=UTC)
            located = (issued + timedelta(seconds=rng.randint(600, 500_000))
                       if rng.random() < 0.5 else None)
            alert_id = f"10000000-0000-4000-8000-{i:012d}"
            targets = rng.sample(DESTINATIONS, rng.randint(1, 3))
            spec: dict[str, Any] = {"issued": issued, "located": located,
                                    "category": rng.choice(CATEGORIES), "targets": {}}
            session.add(Alert(id=alert_id, direction="outbound", issuer_id=rng.choice(HOSTED),
                              status="located" if located else "active",
                              category=spec["category"], urgency="urgent",
                              public={"child": {"given_names": f"Alertanombre{i}"}}, details={},
                              target_countries=targets, created_at=issued, located_at=located))
            for country in targets:
                desks = []
                for desk in range(rng.randint(1, 2)):  # a country's desks: the first counts
                    received = (issued + timedelta(seconds=rng.randint(1, 300))
                                if rng.random() < 0.8 else None)
                    acknowledged = (received + timedelta(seconds=rng.randint(10, 200_000))
                                    if received and rng.random() < 0.7 else None)
                    # The closing notice confirmed by most desks that had the alert.
                    closed = (located + timedelta(seconds=rng.randint(1, 60))
                              if located and received and rng.random() < 0.7 else None)
                    desks.append((received, acknowledged, closed))
                    session.add(AlertTarget(alert_id=alert_id, country=country,
                                            recipient_id=f"{country.lower()}-desk{desk}",
                                            received_at=received, acknowledged_at=acknowledged,
                                            closed_received_at=closed))
                spec["targets"][country] = (
                    min((r for r, _, _ in desks if r), default=None),
                    min((a for _, a, _ in desks if a), default=None),
                    any(r and not c for r, _, c in desks))
            seeded.append(spec)
        # Alerts received from elsewhere are the issuer's to count, not ours.
        session.add(Alert(id="20000000-0000-4000-8000-000000000001", direction="inbound",
                          issuer_id="gt-pgn", recipient_id=HOSTED[0], status="active",
                          category=CATEGORIES[0], urgency="urgent", public={}, details={},
                          target_countries=["MX"]))
    return seeded


def seed_quarantine(gateway: Gateway) -> dict[tuple[str, str], int]:
    """Messages refused for a hosted institution, one of them over the sender quota."""
    quarantine = Quarantine(gateway, InboundLimits(max_per_sender=3))
    reasons = ["malformed"] * 4 + ["bad_signature"] * 2
    with session_scope(gateway.engine) as session:
        for sequence, reason in enumerate(reasons, start=1):
            quarantine.keep(session, f"garbage {sequence}".encode(),
                            f"enlace.msg.MX.{HOSTED[1]}.referral", sequence,
                            Rejected(reason, "refused"))
    month = datetime.now(UTC).strftime("%Y-%m")
    return {(month, "malformed"): 4, (month, "bad_signature"): 2}


# What the cells must be, computed from the seeds -----------------------------------------

Key = tuple[str, frozenset[tuple[str, str]]]


def expected_cells(referrals: list[dict[str, Any]], alerts: list[dict[str, Any]],
                   quarantined: dict[tuple[str, str], int]) -> dict[Key, tuple[int, ...]]:
    counts: dict[Key, int] = defaultdict(int)
    timed: dict[Key, list[int]] = defaultdict(list)

    def key(indicator: str, **dims: str) -> Key:
        return indicator, frozenset(dims.items())

    for r in referrals:
        pair = {"origin": "MX", "destination": r["destination"],
                "month": r["sent"].strftime("%Y-%m")}
        counts[key("referrals", **pair)] += 1
        for dimension, value in (("age_band", r["age_band"]), ("sex", r["sex"]),
                                 ("accompaniment", r["accompaniment"]),
                                 ("urgency", r["urgency"]), ("purpose", r["purpose"]),
                                 ("state", r["state"]), ("outcome", r["outcome"]),
                                 ("detection_area", r["area"])):
            counts[key("referrals", **pair, **{dimension: value})] += 1
        for need in r["needs"]:
            counts[key("referrals", **pair, protection_need=need)] += 1
        if r["outcome"] in ("accepted", "rejected"):
            counts[key("referral-answers", **pair, outcome=r["outcome"])] += 1
        if r["reason"]:
            counts[key("referral-answers", **pair, outcome="rejected", reason=r["reason"])] += 1
        for indicator, seconds in r["durations"].items():
            timed[key(indicator, **pair)].append(seconds)
    for a in alerts:
        month = a["issued"].strftime("%Y-%m")
        counts[key("alerts", origin="MX", month=month)] += 1
        counts[key("alerts", origin="MX", month=month, category=a["category"])] += 1
        if a["located"]:
            timed[key("alert-time-to-located", origin="MX", month=month)].append(
                int((a["located"] - a["issued"]).total_seconds()))
        for country, (received, acknowledged, still_open) in a["targets"].items():
            dims = {"origin": "MX", "target": country, "month": month}
            if received:
                timed[key("alert-time-to-received", **dims)].append(
                    int((received - a["issued"]).total_seconds()))
            if acknowledged:
                timed[key("alert-time-to-acknowledged", **dims)].append(
                    int((acknowledged - a["issued"]).total_seconds()))
            if a["located"] and still_open:  # a desk had it and has not confirmed the close
                counts[key("alerts-active-after-located", **dims)] += 1
    for (month, reason), n in quarantined.items():
        counts[key("quarantined", country="MX", month=month, reason=reason)] += n
        counts[key("quarantined", country="MX", month=month)] += n
    cells: dict[Key, tuple[int, ...]] = {k: (n,) for k, n in counts.items()}
    cells.update({k: (len(v), nearest_rank(v, 50), nearest_rank(v, 90))
                  for k, v in timed.items()})
    return cells


def as_expected(cells: list[Cell]) -> dict[Key, tuple[int, ...]]:
    found: dict[Key, tuple[int, ...]] = {}
    for cell in cells:
        assert cell.fits_catalogue(), cell
        key = (cell.indicator.value, frozenset((d.value, v) for d, v in cell.dims.items()))
        assert key not in found, f"two cells for {key}"
        found[key] = ((cell.count,) if cell.median_seconds is None else
                      (cell.count, cell.median_seconds, cell.p90_seconds or 0))
    return found


@pytest.fixture(scope="module")
def seeded(gateway: Gateway) -> dict[str, Any]:
    rng = random.Random(11)
    return {"referrals": seed_referrals(gateway, 150, rng), "alerts": seed_alerts(gateway, 40, rng),
            "quarantined": seed_quarantine(gateway)}


def test_every_cell_the_gateway_counts_is_what_the_test_counts(
        gateway: Gateway, seeded: dict[str, Any]) -> None:
    with Session(gateway.engine) as session:
        cells = cells_of(session, list(HOSTED), "MX")
    expected = expected_cells(seeded["referrals"], seeded["alerts"], seeded["quarantined"])
    assert as_expected(cells) == expected
    indicators = {key[0] for key in expected}
    assert indicators == {"referrals", "referral-answers", "referral-time-to-delivered",
                          "referral-time-to-accepted", "referral-time-to-closed", "alerts",
                          "alert-time-to-received", "alert-time-to-acknowledged",
                          "alert-time-to-located", "alerts-active-after-located",
                          "quarantined"}


def test_each_institution_reports_only_its_own_records(
        gateway: Gateway, seeded: dict[str, Any]) -> None:
    for institution in HOSTED:
        mine = [r for r in seeded["referrals"] if r["sender"] == institution]
        report = build_report(gateway, institution)
        totals = sum(c.count for c in report.cells
                     if c.indicator.value == "referrals" and len(c.dims) == 3)
        assert totals == len(mine)
        assert report.institution_id == institution and report.country == "MX"


def test_the_signed_report_carries_no_case_reference_name_birth_date_or_exact_date(
        gateway: Gateway, seeded: dict[str, Any]) -> None:
    institution = HOSTED[0]
    key = gateway.keys[institution]
    token = sign_report(build_report(gateway, institution), key)
    header, signed = verify(token, [public_jwk(key)], max_payload_bytes=10_000_000)
    assert header["typ"] == "enlace-statistics+jws"
    # The bytes as they travel, not a re-encoding of them.
    encoded = token.split(".")[1]
    payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    assert json.loads(payload) == signed
    report = StatisticsReport.model_validate(signed)
    assert report.cells, "an empty report would prove nothing"
    for r in seeded["referrals"]:
        for value in (r["case_reference"], r["given"], r["family"], r["id"]):
            assert value not in payload
    assert not any(f"Alertanombre{i}" in payload for i in range(40))
    # No YYYY-MM-DD anywhere but the moment the report itself was computed.
    cells_only = json.dumps(json.loads(payload)["cells"])
    assert not re.search(r"\d{4}-\d{2}-\d{2}", cells_only)
    outside = payload.replace(json.dumps(json.loads(payload)["computed_at"]), "")
    assert not re.search(r"\d{4}-\d{2}-\d{2}", outside)


# The country's own figures over HTTP ------------------------------------------------------


@pytest.fixture(scope="module")
def client(gateway: Gateway) -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.engine = gateway.engine
    app.state.gateway = gateway
    app.include_router(figures_router)
    return TestClient(app)


def token_for(gateway: Gateway, role: Role) -> dict[str, str]:
    with session_scope(gateway.engine) as session:
        token = issue_token(session, HOSTED[0], "MX", role)
    return {"Authorization": f"Bearer {token}"}


def test_administrators_and_supervisors_read_their_country_in_full_detail(
        gateway: Gateway, seeded: dict[str, Any], client: TestClient) -> None:
    referrals = seeded["referrals"]
    for role in (Role.country_admin, Role.supervisor):
        answer = client.get("/v1/figures", params={
            "indicator": "referrals", "by": "sex", "since": "2026-10", "until": "2026-11"},
            headers=token_for(gateway, role))
        assert answer.status_code == 200, answer.text
        table = answer.json()
        assert table["suppressed"] is False
        got = {(c["dims"]["destination"], c["dims"]["month"], c["dims"]["sex"]): c["value"]
               for c in table["cells"]}
        want: dict[tuple[str, str, str], int] = defaultdict(int)
        for r in referrals:
            month = r["sent"].strftime("%Y-%m")
            if month >= "2026-10":
                want[(r["destination"], month, r["sex"])] += 1
        assert got == want
        assert any(0 < c["value"] < 5 for c in table["cells"])  # not suppressed here
        assert all(c["display"] == str(c["value"]) for c in table["cells"])


def test_everyone_else_is_refused(gateway: Gateway, client: TestClient) -> None:
    for role in (Role.caseworker, Role.consular_officer, Role.auditor, Role.regional_admin):
        answer = client.get("/v1/figures", params={"indicator": "referrals"},
                            headers=token_for(gateway, role))
        assert answer.status_code == 403
    assert client.get("/v1/figures", params={"indicator": "referrals"}).status_code == 401


@pytest.mark.parametrize(("params", "code"), [
    ({"indicator": "children"}, "unknown_indicator"),
    ({"indicator": "referrals", "by": "name"}, "unknown_dimension"),
    ({"indicator": "alerts", "by": "sex"}, "breakdown_not_allowed"),
    ({"indicator": "referrals", "since": "2026-13"}, "invalid_month"),
    ({"indicator": "referrals", "since": "2026-11-02"}, "invalid_month"),
    ({"indicator": "referrals", "since": "2026-11", "until": "2026-10"}, "invalid_period"),
    ({"indicator": "referrals", "country": "mex"}, "invalid_country"),
    ({"indicator": "agreements-in-force"}, "indicator_not_at_gateway"),
])
def test_bad_queries_are_refused_with_stable_codes(
        gateway: Gateway, client: TestClient, params: dict[str, str], code: str) -> None:
    answer = client.get("/v1/figures", params=params,
                        headers=token_for(gateway, Role.country_admin))
    assert answer.status_code == 422
    assert answer.json()["code"] == code


def test_the_csv_export_is_the_same_table(
        gateway: Gateway, seeded: dict[str, Any], client: TestClient) -> None:
    headers = token_for(gateway, Role.country_admin)
    params = {"indicator": "referral-time-to-delivered", "country": "MX"}
    table = client.get("/v1/figures", params=params, headers=headers).json()
    answer = client.get("/v1/figures.csv", params=params, headers=headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    lines = answer.text.strip().split("\r\n")
    assert lines[0] == "origin,destination,month,value,median_seconds,p90_seconds"
    assert len(lines) == 1 + len(table["cells"]) > 1
    first = table["cells"][0]
    assert lines[1] == ",".join([first["dims"]["origin"], first["dims"]["destination"],
                                 first["dims"]["month"], first["display"],
                                 str(first["median_seconds"]), str(first["p90_seconds"])])
    # Another country's origin: this gateway counts none.
    other = client.get("/v1/figures", params={**params, "country": "GT"}, headers=headers)
    assert other.json()["cells"] == []
