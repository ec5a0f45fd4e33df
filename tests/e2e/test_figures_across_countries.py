"""Issue 11, point 5, on the real stack with three gateways (Mexico, Honduras, Guatemala):
known referrals, lifecycle steps, alerts, consents and a quarantined message, then every
indicator read where people read it, each gateway's own figures in full and the registry's
regional set suppressed, checked against what this test counts itself from what it did and
what the APIs show of each record. Every statistics message on NATS and every figure served
is scanned for anything of a child or a case.

The expected figures are counted here from the records, not with the product's code: ages
from the dates of birth, needs from the flags, outcomes from the steps taken, durations from
the moments each gateway's API shows, medians and 90th percentiles by nearest rank."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
import re
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import nats.errors
import pytest

from services.registry.seed import DEMO_AGREEMENT
from shared.protocol.envelope import (
    Envelope,
    generate_signing_key,
    sign_envelope,
    unverified_parts,
)
from shared.protocol.figures import CATALOGUE, Dimension, Indicator, Kind, Source
from shared.protocol.subjects import statistics_subject
from tests.conftest import SQLITE_ONLY, RunningStack, running_stack
from tests.e2e.test_quarantine import publish
from tests.helpers import wait_until
from tests.registry.test_figures_suppression import derivable

# On SQLite only: the counting is the same code on both; the figures' storage and queries
# are tested on both databases in tests/exchange and tests/registry.
pytestmark = SQLITE_ONLY

COUNTRIES = ("MX", "HN", "GT")
HOST = {"MX": "mx-sndif", "HN": "hn-senaf", "GT": "gt-sbs"}  # who sends and answers
COUNTRY_OF = {"mx-sndif": "MX", "hn-senaf": "HN", "gt-sbs": "GT"}
REFRESH_SECONDS = 60  # the issue: figures refresh within a minute of a change
RUN = uuid.uuid4().hex[:6].upper()
GIVEN, FAMILY = "Xiomara Itzel", "Quetzal Tzunún"  # in no figure, anywhere
D, Ind = Dimension, Indicator


@dataclass
class Sent:
    """A referral as this test sent it, and what it knows of it afterwards."""

    origin: str
    destination: str
    case: str
    sex: str
    born: date | None
    estimated_age: int | None
    accompaniment: str
    urgency: str
    area: str | None
    needs: tuple[str, ...]
    purpose: str
    answer: str | None = None  # accept, reject:<reason>, close
    id: str = ""
    view: dict[str, Any] = field(default_factory=dict)  # the sender's view at the end


def referral_plan() -> list[Sent]:
    """23 referrals over four pairs (8, 5, 5 and 5: their totals are shown regionally, their
    breakdowns partly withheld), with every breakdown's values and every answer."""
    def sent(origin: str, destination: str, n: int, sex: str, **kw: Any) -> Sent:
        defaults: dict[str, Any] = {
            "born": date(2012, 3, 10), "estimated_age": None, "accompaniment": "unaccompanied",
            "urgency": "urgent", "area": "MX-CHP", "needs": (), "purpose": "reception-and-care"}
        return Sent(origin, destination, f"E2E-{RUN}-{origin}-{n:02d}", sex,
                    **{**defaults, **kw})

    return [
        sent("MX", "HN", 1, "female", answer="accept"),
        sent("MX", "HN", 2, "female", answer="close", needs=("asylum-intent",)),
        sent("MX", "HN", 3, "female", answer="accept", born=date(2021, 6, 1),
             needs=("violence", "other-risks")),
        sent("MX", "HN", 4, "female", answer="reject:no-capacity", area="MX-CHP-TAP"),
        sent("MX", "HN", 5, "male", answer="reject:El niño ya tiene otra remisión abierta.",
             accompaniment="separated", area="Chiapas"),
        sent("MX", "HN", 6, "male", born=None, estimated_age=16, urgency="immediate",
             needs=("trafficking-indicators",)),
        sent("MX", "HN", 7, "unknown", born=date(2009, 1, 20), area=None),
        sent("MX", "HN", 8, "other", born=date(2016, 8, 30), accompaniment="accompanied",
             purpose="family-tracing", urgency="routine"),
        sent("MX", "GT", 9, "female", answer="accept", area="MX-TAB"),
        sent("MX", "GT", 10, "male", born=None, estimated_age=4),
        sent("MX", "GT", 11, "female", answer="reject:outside-area", area="MX-TAB"),
        sent("MX", "GT", 12, "female", area="MX-CHP"),
        sent("MX", "GT", 13, "male", answer="accept", urgency="routine"),
        sent("GT", "HN", 1, "female", answer="reject:duplicate", area="GT-HU"),
        sent("GT", "HN", 2, "female", answer="accept", area="GT-HU"),
        sent("GT", "HN", 3, "male", area="GT-QZ"),
        sent("GT", "HN", 4, "male", answer="close", area="GT-QZ", purpose="follow-up"),
        sent("GT", "HN", 5, "female", born=date(2013, 11, 2), area="GT-QZ"),
        sent("HN", "MX", 1, "female", answer="accept", area="HN-CR"),
        sent("HN", "MX", 2, "male", area="HN-CR"),
        sent("HN", "MX", 3, "male", area="HN-CR", answer="close"),
        sent("HN", "MX", 4, "female", area="HN-AT", accompaniment="separated"),
        sent("HN", "MX", 5, "female", area="HN-CR", answer="reject:not-competent"),
    ]


def body_of(plan: Sent) -> dict[str, Any]:
    child: dict[str, Any] = {"given_names": GIVEN, "family_names": FAMILY, "sex": plan.sex,
                             "nationalities": [plan.destination], "languages": ["es"]}
    if plan.born:
        child["date_of_birth"] = plan.born.isoformat()
    else:
        child["estimated_age"], child["age_is_estimated"] = plan.estimated_age, True
    record: dict[str, Any] = {
        "child": child, "accompaniment": {"status": plan.accompaniment},
        "requested_services": ["reception"],
        "protection": {"urgency": plan.urgency,
                       "asylum_intent": "asylum-intent" in plan.needs,
                       "trafficking_indicators": "trafficking-indicators" in plan.needs,
                       "violence": "violence" in plan.needs,
                       "other_risks": ["street work"] if "other-risks" in plan.needs else []}}
    if plan.area is not None:
        record["detection"] = {"at": "2026-11-18T09:30:00-06:00", "country": plan.origin,
                               "admin_area": plan.area}
    return {"recipient_id": HOST[plan.destination], "case_reference": plan.case,
            "purpose": plan.purpose, "record": record}


# What this test expects, from what it did -----------------------------------------------


def years(born: date, on: date) -> int:
    return on.year - born.year - (1 if (on.month, on.day) < (born.month, born.day) else 0)


def band(age: int | None) -> str:
    bands = {range(0, 6): "0-5", range(6, 12): "6-11", range(12, 15): "12-14",
             range(15, 18): "15-17"}
    return next((name for ages, name in bands.items() if age in ages), "unknown")


def moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def seconds(since: datetime, until: datetime | None) -> int | None:
    return None if until is None else max(0, math.floor((until - since).total_seconds()))


def first_step(view: dict[str, Any], action: str) -> datetime | None:
    return next((moment(h["at"]) for h in view["history"] if h["action"] == action), None)


def breakdowns(plan: Sent) -> dict[Dimension, list[str]]:
    """The values each breakdown counts a referral under (a list: its needs are several)."""
    view, sent_at = plan.view, moment(plan.view["created_at"])
    assert sent_at is not None
    age = years(plan.born, sent_at.date()) if plan.born else plan.estimated_age
    area = (plan.area or "").split("-")
    accepted = view["status"] in ("accepted", "in_progress", "closed")
    outcome = "accepted" if accepted else view["status"] if view["status"] == "rejected" \
        else "pending"
    return {
        D.age_band: [band(age)], D.sex: [plan.sex if plan.sex != "unknown" else "unknown"],
        D.accompaniment: [plan.accompaniment], D.urgency: [plan.urgency],
        D.purpose: [plan.purpose],
        D.protection_need: list(plan.needs) or ["none"],
        D.detection_area: ["-".join(area[:2]).lower() if len(area) >= 2 else "unknown"],
        D.state: [view["status"]], D.outcome: [outcome],
    }


def pair_month(plan: Sent) -> tuple[str, str, str]:
    return plan.origin, plan.destination, plan.view["created_at"][:7]


Table = dict[tuple[str, ...], dict[str, Any]]  # key -> {"count", "median", "p90"}


def counted(keys: list[tuple[str, ...]]) -> Table:
    return {key: {"count": n} for key, n in Counter(keys).items()}


def timed(values: dict[tuple[str, ...], list[int]]) -> Table:
    def rank(ordered: list[int], percent: int) -> int:
        return ordered[math.ceil(len(ordered) * percent / 100) - 1]
    return {key: {"count": len(v), "median": rank(sorted(v), 50), "p90": rank(sorted(v), 90)}
            for key, v in values.items()}


def referral_tables(plans: list[Sent]) -> dict[tuple[Indicator, Dimension | None], Table]:
    tables: dict[tuple[Indicator, Dimension | None], Table] = {
        (Ind.referrals, None): counted([pair_month(p) for p in plans])}
    for by in CATALOGUE[Ind.referrals].breakdowns:
        tables[(Ind.referrals, by)] = counted(
            [(*pair_month(p), value) for p in plans for value in breakdowns(p)[by]])
    answers = [(p, breakdowns(p)[D.outcome][0]) for p in plans]
    tables[(Ind.referral_answers, None)] = counted(
        [(*pair_month(p), outcome) for p, outcome in answers
         if outcome in ("accepted", "rejected")])
    reasons = {"no-capacity", "duplicate", "outside-area", "not-competent",
               "insufficient-information", "child-not-found"}
    tables[(Ind.referral_answers, D.reason)] = counted(
        [(*pair_month(p), "rejected", r if (r := (p.answer or "")[7:].lower()) in reasons
          else "other") for p, outcome in answers if outcome == "rejected"])
    for indicator, until in ((Ind.referral_time_to_delivered, lambda v: moment(
            v["delivered_at"])), (Ind.referral_time_to_accepted, lambda v: first_step(
            v, "accept")), (Ind.referral_time_to_closed, lambda v: first_step(v, "close"))):
        measured: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for p in plans:
            sent_at = moment(p.view["created_at"])
            assert sent_at is not None
            if (took := seconds(sent_at, until(p.view))) is not None:
                measured[pair_month(p)].append(took)
        tables[(indicator, None)] = timed(measured)
    return tables


def alert_tables(alerts: list[dict[str, Any]]) -> dict[tuple[Indicator, Dimension | None],
                                                       Table]:
    """From the issuer's view of each alert at the end."""
    tables: dict[tuple[Indicator, Dimension | None], Table] = {}
    month = {a["id"]: a["created_at"][:7] for a in alerts}
    origin = {a["id"]: COUNTRY_OF[a["issuer_id"]] for a in alerts}
    tables[(Ind.alerts, None)] = counted([(origin[a["id"]], month[a["id"]]) for a in alerts])
    tables[(Ind.alerts, D.category)] = counted(
        [(origin[a["id"]], month[a["id"]], a["category"]) for a in alerts])
    located: dict[tuple[str, ...], list[int]] = defaultdict(list)
    received: dict[tuple[str, ...], list[int]] = defaultdict(list)
    acknowledged: dict[tuple[str, ...], list[int]] = defaultdict(list)
    active_after: list[tuple[str, ...]] = []
    for a in alerts:
        issued = moment(a["created_at"])
        assert issued is not None
        found = moment(a["updated_at"]) if a["status"] == "located" else None
        if found is not None:
            located[(origin[a["id"]], month[a["id"]])].append(seconds(issued, found) or 0)
        for target in a["targets"]:
            key = (origin[a["id"]], target["country"], month[a["id"]])
            for values, at in ((received, target["received_at"]),
                               (acknowledged, target["acknowledged_at"])):
                if at is not None:
                    values[key].append(seconds(issued, moment(at)) or 0)
            if found is not None and target["received_at"] and not target["closed_received_at"]:
                active_after.append(key)
    tables[(Ind.alert_time_to_located, None)] = timed(located)
    tables[(Ind.alert_time_to_received, None)] = timed(received)
    tables[(Ind.alert_time_to_acknowledged, None)] = timed(acknowledged)
    tables[(Ind.alerts_active_after_located, None)] = counted(active_after)
    return tables


# The scenario, on a stack of its own with three gateways ---------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with running_stack(tmp_path_factory.mktemp("stack-three"), countries=COUNTRIES) as running:
        yield running


def agree(stack: RunningStack, first: str, second: str) -> None:
    """An agreement made by the regional administrator, signed by each party's country
    administrator through its gateway."""
    agreement_id = f"agr-{first}-{second}-e2e"
    terms = {**DEMO_AGREEMENT, "id": agreement_id, "parties": [first, second],
             "title": f"Convenio {first} y {second} (prueba)"}
    with stack.registry("regional_admin") as registry:
        assert registry.post("/v1/agreements", json=terms).status_code == 201
        assert registry.post(f"/v1/agreements/{agreement_id}/versions/1/status",
                             json={"status": "awaiting-signatures"}).status_code == 200
    for party in (first, second):
        with stack.gateway(COUNTRY_OF[party], party, role="country_admin") as admin:
            signed = admin.post(f"/v1/agreements/{agreement_id}/signatures",
                                json={"version": 1})
        assert signed.status_code == 201, signed.text


def consent(stack: RunningStack, plan: Sent) -> str:
    with stack.gateway(plan.origin, HOST[plan.origin]) as sender:
        given = sender.post("/v1/consents", json={
            "case_reference": plan.case, "basis": "consent", "given_by": "legal-representative",
            "child_heard": True, "child_views": "agrees",
            "recipients": [HOST[plan.destination]], "purposes": DEMO_AGREEMENT["purposes"],
            "data_categories": DEMO_AGREEMENT["data_categories"],
            "valid_from": DEMO_AGREEMENT["valid_from"]})
    assert given.status_code == 201, given.text
    return str(given.json()["id"])


def view_of(stack: RunningStack, country: str, referral_id: str) -> dict[str, Any]:
    with stack.gateway(country, HOST[country]) as client:
        response = client.get(f"/v1/referrals/{referral_id}")
    return dict(response.json()) if response.status_code == 200 else {}


def settled(stack: RunningStack, plan: Sent, status: str) -> dict[str, Any]:
    return wait_until(lambda: (v := view_of(stack, plan.origin, plan.id)).get("status")
                      == status and v, timeout=90)


def answer(stack: RunningStack, plan: Sent) -> None:
    """The recipient's steps, then the sender sees where they led."""
    steps = {"accept": [{"action": "accept"}],
             "close": [{"action": "accept"}, {"action": "close", "outcome": "Reunificada."}]}
    if plan.answer and plan.answer.startswith("reject:"):
        taken = [{"action": "reject", "reason": plan.answer[7:]}]
    else:
        taken = steps.get(plan.answer or "", [])
    for step in taken:
        with stack.gateway(plan.destination, HOST[plan.destination]) as recipient:
            done = recipient.post(f"/v1/referrals/{plan.id}/actions", json=step)
        assert done.status_code == 200, done.text
    final = {"accept": "accepted", "close": "closed"}.get(plan.answer or "", "delivered")
    plan.view = settled(stack, plan, "rejected" if taken and taken[0]["action"] == "reject"
                        else final)


ALERT = {
    "urgency": "immediate",
    "public": {"child": {"given_names": GIVEN, "family_names": FAMILY, "sex": "female",
                         "estimated_age": 13, "description": "Blue jacket."},
               "last_seen": {"at": "2026-11-20T23:00:00-06:00", "country": "MX",
                             "area": "Chiapas", "locality": "Tapachula"}},
    "details": {"issuing_focal_point": {"name": "Mesa de alertas", "phone": "+000 555 0100",
                                        "email": "alertas@example.org"}},
    "target_countries": ["HN", "GT"],
}
# (issuer, category, targets, who acknowledges, who reports the child located). No Mexican
# institution on the gateway receives alerts, so Guatemala's goes to Honduras alone.
ALERT_PLAN = [
    ("MX", "missing-in-need-of-protection", ("HN", "GT"), ("HN", "GT"), None),
    ("MX", "missing-in-need-of-protection", ("HN", "GT"), ("HN",), "HN"),
    ("MX", "missing-in-need-of-protection", ("HN", "GT"), ("HN", "GT"), "MX"),
    ("MX", "risk-of-trafficking", ("HN", "GT"), (), "MX"),
    ("MX", "missing", ("HN", "GT"), ("GT",), None),
    ("GT", "missing", ("HN",), ("HN",), None),
]
DESK = {"HN": "hn-senaf", "GT": "gt-pgn"}  # who receives alerts at each gateway


def alert_view(stack: RunningStack, country: str, alert_id: str) -> dict[str, Any]:
    with stack.gateway(country, HOST[country]) as client:
        response = client.get(f"/v1/alerts/{alert_id}")
    return dict(response.json()) if response.status_code == 200 else {}


def issuer_sees(stack: RunningStack, issuer: str, alert_id: str, target: str | None,
                what: str) -> None:
    """Until the issuer's view shows the target's moment `what`, or (no target) the alert
    located."""
    def shown() -> bool:
        view = alert_view(stack, issuer, alert_id)
        if target is None:
            return bool(view) and view["status"] == what
        return bool(view) and any(t["country"] == target and t[what] for t in view["targets"])
    wait_until(shown, timeout=60)


def run_alerts(stack: RunningStack) -> list[dict[str, Any]]:
    views = []
    for issuer, category, targets, acknowledging, locating in ALERT_PLAN:
        with stack.gateway(issuer, HOST[issuer]) as client:
            issued = client.post("/v1/alerts", json={**ALERT, "category": category,
                                                     "target_countries": list(targets)})
        assert issued.status_code == 202, issued.text
        alert_id = issued.json()["id"]
        for country in targets:  # each target's gateway has it (its receipt is back)
            issuer_sees(stack, issuer, alert_id, country, "received_at")
        for country in acknowledging:
            with stack.gateway(country, DESK[country]) as client:
                assert client.post(f"/v1/alerts/{alert_id}/acknowledge",
                                   json={"by": "Guardia"}).status_code == 200
            issuer_sees(stack, issuer, alert_id, country, "acknowledged_at")
        if locating:
            with stack.gateway(locating, DESK.get(locating, HOST[locating])) as client:
                assert client.post(f"/v1/alerts/{alert_id}/actions", json={
                    "action": "located", "where": "Albergue", "measures": "En cuidado."}
                ).status_code == 200
            issuer_sees(stack, issuer, alert_id, None, "located")
            for country in targets:  # each target confirmed the closing notice
                issuer_sees(stack, issuer, alert_id, country, "closed_received_at")
        views.append(alert_view(stack, issuer, alert_id))
    return views


@dataclass
class World:
    plans: list[Sent]
    alerts: list[dict[str, Any]]
    consents: Counter[str]  # recorded per country by this test
    withdrawn: Counter[str]
    quarantined: dict[str, str]  # country -> reason
    last_change: float  # time.monotonic() of the last step taken


@pytest.fixture(scope="module")
def world(stack: RunningStack) -> World:
    agree(stack, "mx-sndif", "gt-sbs")
    agree(stack, "gt-sbs", "hn-senaf")
    plans = referral_plan()
    consents: Counter[str] = Counter()
    consent_ids = []
    for plan in plans:
        consent_ids.append((plan.origin, consent(stack, plan)))
        consents[plan.origin] += 1
        with stack.gateway(plan.origin, HOST[plan.origin]) as sender:
            sent = sender.post("/v1/referrals", json=body_of(plan))
        assert sent.status_code == 202, sent.text
        plan.id = sent.json()["id"]
    for plan in plans:
        settled(stack, plan, "delivered")
        answer(stack, plan)
    # One consent withdrawn after its referral (HN's second).
    withdrawn: Counter[str] = Counter()
    country, consent_id = consent_ids[-1]
    with stack.gateway(country, HOST[country]) as holder:
        withdrawal = holder.post(f"/v1/consents/{consent_id}/withdrawal", json={
            "withdrawn_by": "legal-representative", "reason": "changed-mind"})
        assert withdrawal.status_code == 200, withdrawal.text
    withdrawn[country] += 1
    alerts = run_alerts(stack)
    # A message nobody could have signed reaches Honduras's gateway: quarantined.
    envelope = Envelope.new(ttl_seconds=3600, type="referral", sender="mx-sndif",
                            recipients=["hn-senaf"], agreement=DEMO_AGREEMENT["id"],
                            purpose="reception-and-care", categories=["identity"],
                            body={"case_reference": f"E2E-{RUN}-FORGED", "record": {}})
    asyncio.run(publish(stack, sign_envelope(envelope, generate_signing_key()).encode(),
                        envelope.id, subject="enlace.msg.HN.hn-senaf.referral"))
    with stack.gateway("HN", "hn-senaf", role="country_admin") as hn:
        wait_until(lambda: any(i["message_id"] == envelope.id
                               for i in hn.get("/v1/quarantine").json()["items"]), timeout=60)
    return World(plans, alerts, consents, withdrawn, {"HN": "unknown_key"}, time.monotonic())


def expected_tables(world: World, origin: str | None = None
                    ) -> dict[tuple[Indicator, Dimension | None], Table]:
    """Every gateway-counted table: the region's, or one origin country's."""
    plans = [p for p in world.plans if origin in (None, p.origin)]
    alerts = [a for a in world.alerts if origin in (None, COUNTRY_OF[a["issuer_id"]])]
    tables = {**referral_tables(plans), **alert_tables(alerts)}
    month = datetime.now(UTC).strftime("%Y-%m")
    quarantined = {c: r for c, r in world.quarantined.items() if origin in (None, c)}
    tables[(Ind.quarantined, None)] = counted([(c, month) for c in quarantined])
    tables[(Ind.quarantined, D.reason)] = counted([(c, month, r)
                                                  for c, r in quarantined.items()])
    return tables


def keyed(body: dict[str, Any], indicator: Indicator, by: Dimension | None) -> Table:
    order = (*CATALOGUE[indicator].dimensions, *([by] if by else []))
    return {tuple(c["dims"][d.value] for d in order): {
        "count": c["value"], "median": c["median_seconds"], "p90": c["p90_seconds"],
        "display": c["display"]} for c in body["cells"]}


def gateway_tables() -> list[tuple[Indicator, Dimension | None]]:
    return [(ind, by) for ind, spec in CATALOGUE.items() if spec.source is Source.gateway
            for by in (None, *spec.breakdowns)]


def read(client: Any, indicator: Indicator, by: Dimension | None) -> dict[str, Any]:
    params = {"indicator": indicator.value, **({"by": by.value} if by else {})}
    response = client.get("/v1/figures", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


# The tests ------------------------------------------------------------------------------


def test_each_gateway_serves_its_own_country_in_full(stack: RunningStack, world: World):
    for country in COUNTRIES:
        expected = expected_tables(world, country)
        with stack.gateway(country, HOST[country], role="supervisor") as gateway:
            for indicator, by in gateway_tables():
                want = expected.get((indicator, by), {})
                served = keyed(read(gateway, indicator, by), indicator, by)
                assert {k: _plain(v, indicator) for k, v in served.items()} == \
                    {k: _plain(v, indicator) for k, v in want.items()}, (country, indicator, by)


def _plain(cell: dict[str, Any], indicator: Indicator) -> tuple[Any, ...]:
    if CATALOGUE[indicator].kind is Kind.timed:
        return cell["count"], cell["median"], cell["p90"]
    return (cell["count"],)


def regional(stack: RunningStack, indicator: Indicator, by: Dimension | None) -> Table:
    with stack.registry("auditor") as registry:
        return keyed(read(registry, indicator, by), indicator, by)


def test_the_registry_serves_the_region_suppressed_within_a_minute(
        stack: RunningStack, world: World):
    expected = expected_tables(world)
    # The region's referrals as they now are, within a minute of the last step.
    wait_until(lambda: consistent(regional(stack, Ind.referrals, None),
                                  expected[(Ind.referrals, None)]),
               timeout=REFRESH_SECONDS)
    assert time.monotonic() - world.last_change < REFRESH_SECONDS
    some_complementary, shown_counts = False, 0
    for indicator, by in gateway_tables():
        want = expected.get((indicator, by), {})
        served = wait_until(lambda i=indicator, b=by, w=want:  # type: ignore[misc]
                            consistent(s := regional(stack, i, b), w) and [s],
                            timeout=REFRESH_SECONDS)[0]
        for key, cell in served.items():
            truth = want[key]["count"]
            if 1 <= truth <= 4:
                assert (cell["count"], cell["display"]) == (None, "<5"), (indicator, by, key)
            elif cell["count"] is not None:
                assert (cell["count"], cell["display"]) == (truth, str(truth)), key
                shown_counts += CATALOGUE[indicator].kind is Kind.counted
                if CATALOGUE[indicator].kind is Kind.timed:
                    assert (cell["median"], cell["p90"]) == (want[key]["median"],
                                                             want[key]["p90"]), key
            else:
                some_complementary = True
        if CATALOGUE[indicator].kind is Kind.counted:
            counts = {k: v["count"] for k, v in want.items()}
            hidden = {k for k, c in served.items() if c["count"] is None}
            width = len(CATALOGUE[indicator].dimensions) + (1 if by else 0)
            if by is None:
                assert derivable(counts, hidden, width) == [], (indicator, key)
            else:
                whole = {k: v["count"] for k, v in expected[(indicator, None)].items()}
                whole_hidden = {k for k, c in regional(stack, indicator, None).items()
                                if c["count"] is None}
                assert derivable(counts, hidden, width, whole, whole_hidden) == [], \
                    (indicator, by)
    assert some_complementary  # the scenario makes suppression go beyond the small cells
    assert shown_counts  # not everything is withheld
    # MX -> HN's 8 times to delivery: durations are withheld below 5 measured, never
    # complementarily.
    month = world.plans[0].view["created_at"][:7]
    delivered = regional(stack, Ind.referral_time_to_delivered, None)[("MX", "HN", month)]
    truth = expected[(Ind.referral_time_to_delivered, None)][("MX", "HN", month)]
    assert (delivered["count"], delivered["median"], delivered["p90"]) == (
        8, truth["median"], truth["p90"])


def consistent(served: Table, want: Table) -> bool:
    """The same cells, none from 1 to 4 shown, each shown one as counted here."""
    return served.keys() == want.keys() and all(
        cell["count"] is None if 1 <= want[key]["count"] <= 4
        else cell["count"] in (None, want[key]["count"]) for key, cell in served.items())


def test_the_registry_counts_consents_and_agreements_of_the_three(
        stack: RunningStack, world: World):
    month = datetime.now(UTC).strftime("%Y-%m")
    recorded = regional(stack, Ind.consents_recorded, None)
    # MX holds the demo's consent too, recorded when the stack started.
    truth = {"MX": world.consents["MX"] + 1, "HN": world.consents["HN"],
             "GT": world.consents["GT"]}
    assert {k for k in recorded} == {(c, month) for c in truth}
    for country, n in truth.items():
        cell = recorded[(country, month)]
        assert (cell["count"], cell["display"]) == ((n, str(n)) if n >= 5 else (None, "<5"))
    withdrawn = regional(stack, Ind.consents_withdrawn, None)
    assert {k: v["display"] for k, v in withdrawn.items()} == {("HN", month): "<5"}
    in_force = regional(stack, Ind.agreements_in_force, None)
    # The demo's MX-HN, and this test's MX-GT and GT-HN: two for each of the three.
    assert {k: v["display"] for k, v in in_force.items()} == {
        ("MX",): "<5", ("HN",): "<5", ("GT",): "<5"}


async def _statistics_messages(stack: RunningStack) -> list[bytes]:
    """Every message of the statistics stream since the stack started, read as the
    secretariat's admin (the registry's consumer is left alone)."""
    nc = await stack.nats("admin")
    found: list[bytes] = []
    try:
        js = nc.jetstream(timeout=10)
        subscription = await js.subscribe(statistics_subject("*"), ordered_consumer=True)
        while True:
            try:
                message = await subscription.next_msg(timeout=3)
            except nats.errors.TimeoutError:
                return found
            found.append(message.data)
    finally:
        await nc.close()


def test_nothing_of_a_child_or_a_case_on_the_wire_or_served(stack: RunningStack, world: World):
    forbidden = [GIVEN, FAMILY, *GIVEN.split(), *FAMILY.split(), RUN,
                 *(p.id for p in world.plans), *(a["id"] for a in world.alerts),
                 *(p.born.isoformat() for p in world.plans if p.born)]
    exact_date = re.compile(r"\d{4}-\d{2}-\d{2}")
    messages = asyncio.run(_statistics_messages(stack))
    institutions = set()
    for data in messages:
        header, report = unverified_parts(data.decode())
        assert header["typ"] == "enlace-statistics+jws"
        institutions.add(report["institution_id"])
        text = json.dumps({k: v for k, v in report.items() if k != "computed_at"},
                          ensure_ascii=False)
        assert not exact_date.search(text)
        assert not [value for value in forbidden if value in text]
    # Every hosted institution reported, and what they sent was read here.
    assert institutions >= {"mx-sndif", "mx-pfpnna", "hn-senaf", "gt-sbs", "gt-pgn"}
    with stack.registry("auditor") as registry:
        for indicator, spec in CATALOGUE.items():
            for by in (None, *spec.breakdowns):
                params = {"indicator": indicator.value, **({"by": by.value} if by else {})}
                for path in ("/v1/figures", "/v1/figures.csv"):
                    response = registry.get(path, params=params)
                    assert response.status_code == 200, response.text
                    body = response.text
                    if path.endswith(".csv"):
                        rows = list(csv.reader(io.StringIO(body)))
                        assert rows and len(rows[0]) > 1
                    else:
                        body = json.dumps({**json.loads(body), "computed_at": None})
                    assert not exact_date.search(body), (indicator, by, path)
                    assert not [value for value in forbidden if value in body]
