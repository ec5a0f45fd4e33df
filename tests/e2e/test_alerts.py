"""Missing-child alerts: every target country's gateway has it at once, focal points
acknowledge, the issuer sees who did, and silence escalates."""

from __future__ import annotations

import pytest

from shared.protocol.envelope import Envelope, sign_envelope
from tests.conftest import RunningStack
from tests.e2e.test_quarantine import mexican_key, publish, quarantined
from tests.helpers import wait_until

ACK_TIMEOUT_SECONDS = 10

ALERT = {
    "category": "missing-in-need-of-protection",
    "urgency": "immediate",
    "public": {
        "child": {"given_names": "Ficticio", "family_names": "De Ejemplo", "sex": "male",
                  "estimated_age": 14, "description": "Red cap, scar on left hand.",
                  "photo_ref": "sha256:0f1e2d"},
        "last_seen": {"at": "2026-11-20T23:00:00-06:00", "country": "MX",
                      "area": "Chiapas", "locality": "Tapachula"},
    },
    "details": {
        "circumstances": "Left the shelter at night with an unknown adult.",
        "issuing_focal_point": {"name": "Mesa de alertas (ejemplo)", "phone": "+000 555 0100",
                                "email": "alertas@example.org"},
    },
    "target_countries": ["HN", "GT"],
}


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    return {"ENLACE_ALERT_ACK_TIMEOUT_SECONDS": str(ACK_TIMEOUT_SECONDS)}


def issue(stack: RunningStack, **overrides) -> dict:
    with stack.gateway("MX", "mx-sndif") as mx:
        response = mx.post("/v1/alerts", json={**ALERT, **overrides})
    assert response.status_code == 202, response.text
    return response.json()


def issuer_view(stack: RunningStack, alert_id: str) -> dict:
    with stack.gateway("MX", "mx-sndif") as mx:
        return mx.get(f"/v1/alerts/{alert_id}").json()


def honduras_view(stack: RunningStack, alert_id: str) -> dict | None:
    with stack.gateway("HN", "hn-senaf") as hn:
        response = hn.get(f"/v1/alerts/{alert_id}")
    return response.json() if response.status_code == 200 else None


def by_country(view: dict) -> dict[str, dict]:
    return {t["country"]: t for t in view["targets"]}


def test_alert_reaches_honduras_and_is_acknowledged(stack: RunningStack):
    alert = issue(stack)
    received = wait_until(lambda: honduras_view(stack, alert["id"]))
    assert received["public"] == ALERT["public"]
    assert received["details"]["circumstances"] == ALERT["details"]["circumstances"]
    assert received["issuer_id"] == "mx-sndif"

    with stack.gateway("HN", "hn-senaf") as hn:
        ack = hn.post(f"/v1/alerts/{alert['id']}/acknowledge",
                      json={"by": "Punto focal de alertas, SENAF"})
    assert ack.status_code == 200
    view = wait_until(lambda: (v := issuer_view(stack, alert["id"])) and
                      by_country(v)["HN"]["acknowledged_at"] and v)
    targets = by_country(view)
    assert targets["HN"]["recipient_id"] == "hn-senaf"
    assert targets["HN"]["received_at"] is not None
    assert targets["HN"]["acknowledged_by"] == "Punto focal de alertas, SENAF"
    assert targets["GT"]["recipient_id"] is None  # no gateway in Guatemala in the demo
    assert targets["HN"]["escalated_at"] is None


def test_silent_country_escalates(stack: RunningStack):
    alert = issue(stack)
    view = wait_until(lambda: (v := issuer_view(stack, alert["id"])) and
                      by_country(v)["GT"]["escalated_at"] and v, timeout=60)
    assert by_country(view)["GT"]["acknowledged_at"] is None
    with stack.registry("auditor") as registry:
        entries = wait_until(lambda: registry.get("/v1/audit/entries", params={
            "message_id": alert["id"], "event_type": "alert-escalated"}).json()["items"])
    assert {e["detail"]["country"] for e in entries} >= {"GT"}


def test_alert_to_every_member_lists_all_eleven(stack: RunningStack):
    alert = issue(stack, target_countries=["ALL"])
    assert sorted(by_country(alert)) == ["BZ", "CA", "CR", "DO", "GT", "HN", "MX", "NI", "PA",
                                         "SV", "US"]


def test_update_located_and_cancel_reach_the_recipient(stack: RunningStack):
    alert = issue(stack)
    wait_until(lambda: honduras_view(stack, alert["id"]))
    changed_public = {**ALERT["public"], "child": {**ALERT["public"]["child"],
                                                   "description": "Blue cap now."}}
    with stack.gateway("MX", "mx-sndif") as mx:
        update = mx.post(f"/v1/alerts/{alert['id']}/actions",
                         json={"action": "update", "public": changed_public})
    assert update.json()["version"] == 2
    seen = wait_until(lambda: (v := honduras_view(stack, alert["id"])) and v["version"] == 2
                      and v)
    assert seen["public"]["child"]["description"] == "Blue cap now."

    # Honduras finds the child and tells the issuer, who closes the alert everywhere.
    with stack.gateway("HN", "hn-senaf") as hn:
        found = hn.post(f"/v1/alerts/{alert['id']}/actions", json={
            "action": "located", "where": "CAMR Belén, San Pedro Sula",
            "measures": "In SENAF's care; best-interests assessment started."})
    assert found.status_code == 200
    closed = wait_until(lambda: (v := issuer_view(stack, alert["id"]))["status"] == "located"
                        and v)
    assert closed["located"]["by"] == "hn-senaf"
    assert wait_until(lambda: honduras_view(stack, alert["id"])["status"] == "located")
    # Honduras confirms the closing notice (no longer active there); Guatemala, without a
    # gateway in the demo, never had the alert.
    targets = wait_until(lambda: (t := by_country(issuer_view(stack, alert["id"])))
                         ["HN"]["closed_received_at"] and t)
    assert targets["HN"]["closed_received_at"] >= closed["updated_at"]
    assert targets["GT"]["closed_received_at"] is None

    with stack.gateway("MX", "mx-sndif") as mx:
        again = mx.post(f"/v1/alerts/{alert['id']}/actions",
                        json={"action": "cancel", "reason": "x"})
    assert again.status_code == 409
    assert again.json()["code"] == "alert_closed"

    other = issue(stack)
    wait_until(lambda: honduras_view(stack, other["id"]))
    with stack.gateway("MX", "mx-sndif") as mx:
        assert mx.post(f"/v1/alerts/{other['id']}/actions",
                       json={"action": "cancel"}).json()["code"] == "reason_required"
        mx.post(f"/v1/alerts/{other['id']}/actions",
                json={"action": "cancel", "reason": "Issued in error."})
    assert wait_until(lambda: honduras_view(stack, other["id"])["status"] == "cancelled")


def test_only_the_issuer_updates_and_unknown_countries_are_refused(stack: RunningStack):
    alert = issue(stack)
    wait_until(lambda: honduras_view(stack, alert["id"]))
    with stack.gateway("HN", "hn-senaf") as hn:
        refused = hn.post(f"/v1/alerts/{alert['id']}/actions",
                          json={"action": "cancel", "reason": "not mine"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "not_the_issuer"
    with stack.gateway("MX", "mx-sndif") as mx:
        bad = mx.post("/v1/alerts", json={**ALERT, "target_countries": ["ZZ"]})
    assert bad.status_code == 422
    assert bad.json()["code"] == "unknown_country"


async def test_an_alert_with_its_description_in_clear_is_refused(stack: RunningStack):
    # The form earlier gateways sent: `public` in clear beside a sealed `details_jwe`.
    envelope = Envelope.new(
        ttl_seconds=3600, type="alert", sender="mx-sndif", recipients=["hn-senaf"],
        purpose="missing-child-search",
        body={"alert_id": "7e1f3c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b", "version": 1,
              "action": "issue", "status": "active", "category": ALERT["category"],
              "urgency": "immediate", "target_countries": ["HN"], "public": ALERT["public"],
              "details_jwe": "a.b.c.d.e", "located": None, "reason": None})
    await publish(stack, sign_envelope(envelope, mexican_key(stack, "mx-sndif")).encode(),
                  envelope.id, subject="enlace.msg.HN.hn-senaf.alert")
    entry = wait_until(lambda: quarantined(stack, envelope.id))
    assert entry["reason"] == "malformed"
    assert honduras_view(stack, "7e1f3c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b") is None
    with stack.registry("auditor") as registry:
        assert wait_until(lambda: registry.get("/v1/audit/entries", params={
            "message_id": envelope.id, "event_type": "refused"}).json()["items"])
