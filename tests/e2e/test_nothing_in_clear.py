"""Every message of a demo run, read raw from the streams as the NATS operator sees them:
none of the sample's personal data is in any subject, header or payload (JWS payloads are
decoded; JWE parts are opaque by design)."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from nats.js.errors import NotFoundError

from services.demo_data import SAMPLE_REFERRAL
from shared.protocol.envelope import Envelope, sign_envelope
from tests.conftest import SQLITE_ONLY, RunningStack
from tests.e2e.test_quarantine import mexican_key, publish
from tests.helpers import wait_until

# A stack of its own: it reads every message on the wire, so only its own may be there. On SQLite
# only: what it proves is on the wire, whatever the database.
pytestmark = [pytest.mark.own_stack, SQLITE_ONLY]

# Distinctive values: none of them can appear on the wire by chance.
CHILD_GIVEN, CHILD_FAMILY, BIRTH = "Yaretzi Quetzalli", "Tlacuilo Ixtlahuac", "2011-07-29"
VIEWS = "Quiero vivir con mi abuela Zacniteh"
DETECTED_AT = "Ocosingo-Zihuatlan"
NOTE, OUTCOME = "Nota: Yaretzi pregunta por Zacniteh", "Reunida con Zacniteh en Xalapan"
ALERT_GIVEN, ALERT_FAMILY = "Itzamara Citlali", "Cuauhtlequetzqui"
ALERT_BIRTH = "2012-02-27"
DESCRIPTION, NEW_DESCRIPTION = "Mochila morada con parche de jaguar", "Gorra turquesa de Oxkutzcab"
LAST_SEEN_LOCALITY, LAST_SEEN_AREA = "Huixtla-Soconuscal", "Motozintla-Verapaz"
CIRCUMSTANCES = "Salio del albergue Tonalteca con un adulto desconocido"
FOCAL_NAME, FOCAL_PHONE = "Ximena Oxlajuj Tzunun", "+502 7777 4242"
ACK_BY = "Punto focal Yoloxochitl Batz"
WHERE, MEASURES = "Albergue Cacaopera de Ilobasco", "Bajo cuidado de Kukulcana"
CANCEL_REASON = "Emitida por error: Itzamara ya estaba con su tia Nohemixtli"

PERSONAL = [CHILD_GIVEN, CHILD_FAMILY, BIRTH, VIEWS, DETECTED_AT, NOTE, OUTCOME, ALERT_GIVEN,
            ALERT_FAMILY, ALERT_BIRTH, DESCRIPTION, NEW_DESCRIPTION, LAST_SEEN_LOCALITY,
            LAST_SEEN_AREA, CIRCUMSTANCES, FOCAL_NAME, FOCAL_PHONE, ACK_BY, WHERE, MEASURES,
            CANCEL_REASON, "Tlacuilo", "Cuauhtlequetzqui", "Zacniteh", "Nohemixtli"]


def referral() -> dict[str, Any]:
    body = copy.deepcopy(SAMPLE_REFERRAL)  # its case reference has the demo consent
    record = body["record"]
    record["child"].update(given_names=CHILD_GIVEN, family_names=CHILD_FAMILY,
                           date_of_birth=BIRTH)
    record["child_views"]["views"] = VIEWS
    record["detection"]["locality"] = DETECTED_AT
    return body


def alert() -> dict[str, Any]:
    return {
        "category": "missing-in-need-of-protection", "urgency": "immediate",
        "public": {
            "child": {"given_names": ALERT_GIVEN, "family_names": ALERT_FAMILY,
                      "sex": "female", "date_of_birth": ALERT_BIRTH, "description": DESCRIPTION,
                      "photo_ref": "sha256:77aa"},
            "last_seen": {"at": "2026-11-20T23:00:00-06:00", "country": "MX",
                          "area": LAST_SEEN_AREA, "locality": LAST_SEEN_LOCALITY},
        },
        "details": {"circumstances": CIRCUMSTANCES,
                    "issuing_focal_point": {"name": FOCAL_NAME, "phone": FOCAL_PHONE}},
        "target_countries": ["HN"],
    }


def b64json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def readable(data: bytes) -> tuple[str, dict[str, Any]]:
    """The payload as an operator can read it, and its content (a JWS's payload decoded)."""
    text = data.decode("utf-8", errors="replace")
    parts = text.split(".")
    if len(parts) == 3:
        header, payload = b64json(parts[0]), b64json(parts[1])
        return text + json.dumps([header, payload], ensure_ascii=False), payload
    content = json.loads(text)
    return text + json.dumps(content, ensure_ascii=False), content


async def every_message(stack: RunningStack, stream: str) -> list[Any]:
    nc = await stack.nats("admin")
    try:
        js = nc.jetstream()
        state = (await js.stream_info(stream)).state
        messages = []
        for seq in range(state.first_seq, state.last_seq + 1):
            try:
                messages.append(await js.get_msg(stream, seq))
            except NotFoundError:
                continue
        return messages
    finally:
        await nc.close()


def act(stack: RunningStack, referral_id: str, **body: str) -> None:
    with stack.gateway("HN", "hn-senaf") as hn:
        response = hn.post(f"/v1/referrals/{referral_id}/actions", json=body)
    assert response.status_code == 200, response.text


def status_at(stack: RunningStack, country: str, institution: str, path: str) -> dict:
    with stack.gateway(country, institution) as client:
        response = client.get(path)
    return response.json() if response.status_code == 200 else {}


def audited(stack: RunningStack, event_type: str, message_id: str | None = None) -> bool:
    params = {"event_type": event_type, **({"message_id": message_id} if message_id else {})}
    with stack.registry("auditor") as registry:
        return bool(registry.get("/v1/audit/entries", params=params).json()["items"])


async def demo_run(stack: RunningStack) -> None:
    # A referral through its whole life.
    with stack.gateway("MX", "mx-sndif") as mx:
        sent = mx.post("/v1/referrals", json=referral())
    assert sent.status_code == 202, sent.text
    referral_id = sent.json()["id"]
    path = f"/v1/referrals/{referral_id}"
    wait_until(lambda: status_at(stack, "HN", "hn-senaf", path).get("status") == "delivered")
    act(stack, referral_id, action="accept")
    act(stack, referral_id, action="start")
    act(stack, referral_id, action="note", note=NOTE)
    act(stack, referral_id, action="close", outcome=OUTCOME)
    wait_until(lambda: status_at(stack, "MX", "mx-sndif", path).get("status") == "closed")

    # An alert issued, updated, acknowledged, located; another cancelled.
    with stack.gateway("MX", "mx-sndif") as mx:
        issued = mx.post("/v1/alerts", json=alert())
    assert issued.status_code == 202, issued.text
    alert_path = f"/v1/alerts/{issued.json()['id']}"
    wait_until(lambda: status_at(stack, "HN", "hn-senaf", alert_path))
    changed = alert()["public"]
    changed["child"]["description"] = NEW_DESCRIPTION
    with stack.gateway("MX", "mx-sndif") as mx:
        assert mx.post(f"{alert_path}/actions",
                       json={"action": "update", "public": changed}).status_code == 200
    wait_until(lambda: status_at(stack, "HN", "hn-senaf", alert_path).get("version") == 2)
    with stack.gateway("HN", "hn-senaf") as hn:
        assert hn.post(f"{alert_path}/acknowledge", json={"by": ACK_BY}).status_code == 200
        assert hn.post(f"{alert_path}/actions", json={
            "action": "located", "where": WHERE, "measures": MEASURES}).status_code == 200
    wait_until(lambda: status_at(stack, "HN", "hn-senaf", alert_path).get("status") == "located")
    issuer = status_at(stack, "MX", "mx-sndif", alert_path)
    assert issuer["targets"][0]["acknowledged_by"] == ACK_BY  # the REST API is unchanged
    assert issuer["located"]["where"] == WHERE

    with stack.gateway("MX", "mx-sndif") as mx:
        other = mx.post("/v1/alerts", json=alert()).json()["id"]
        wait_until(lambda: status_at(stack, "HN", "hn-senaf", f"/v1/alerts/{other}"))
        assert mx.post(f"/v1/alerts/{other}/actions",
                       json={"action": "cancel", "reason": CANCEL_REASON}).status_code == 200
    wait_until(lambda: status_at(stack, "HN", "hn-senaf", f"/v1/alerts/{other}")
               .get("status") == "cancelled")

    # A message Honduras verifies but refuses (no agreement): it answers with a rejection.
    refused = Envelope.new(
        ttl_seconds=3600, type="referral", sender="mx-pfpnna", recipients=["hn-senaf"],
        agreement="agr-none", purpose="reception-and-care", categories=["identity"],
        body={"case_reference": "MX-PF-2026-9", "record_jwe": "not.really.a.sealed.body"})
    await publish(stack, sign_envelope(refused, mexican_key(stack, "mx-pfpnna")).encode(),
                  refused.id)
    wait_until(lambda: audited(stack, "refused", refused.id), timeout=60)
    wait_until(lambda: audited(stack, "closed") and audited(stack, "alert-cancelled"),
               timeout=60)


async def test_no_personal_data_on_the_wire(stack: RunningStack):
    await demo_run(stack)
    leaks: list[str] = []
    types: set[str] = set()
    audit_events: set[str] = set()
    for stream in ("ENLACE_MESSAGES", "ENLACE_AUDIT"):
        for message in await every_message(stack, stream):
            text, content = readable(message.data)
            if "event_type" in content:  # an audit event, plain or signed
                audit_events.add(content["event_type"])
            else:
                types.add(content["type"])
            seen = " ".join([message.subject, json.dumps(message.headers or {}), text]).lower()
            leaks += [f"{stream} #{message.seq} ({message.subject}): {value!r}"
                      for value in PERSONAL if value.lower() in seen]
    # The run produced every kind of message, so the search covered them all.
    assert types >= {"referral", "receipt", "referral-update", "alert", "alert-ack",
                     "alert-located", "rejection"}, types
    assert audit_events >= {"sent", "received", "accepted", "closed", "alert-issued",
                            "alert-acknowledged", "alert-located", "quarantined",
                            "refused"}, audit_events
    assert leaks == []
