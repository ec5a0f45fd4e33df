"""Messages published straight to NATS that must not be trusted end in quarantine."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest

from services.exchange.keys import signing_key_path
from shared.envelope import (
    Envelope,
    generate_signing_key,
    load_or_create_private_key,
    sign_envelope,
)
from tests.conftest import RunningStack, wait_until

SUBJECT = "enlace.msg.HN.hn-senaf.referral"


def forged_referral(sender: str = "mx-sndif", **overrides) -> Envelope:
    fields = {
        "type": "referral", "sender": sender, "recipients": ["hn-senaf"],
        "agreement": "agr-mx-sndif-hn-senaf-2026", "purpose": "reception-and-care",
        "categories": ["identity"],
        "body": {"case_reference": "FORGED-1", "record": {"child": {"given_names": "Forged"}}},
    }
    return Envelope.new(ttl_seconds=3600, **{**fields, **overrides})


async def publish(stack: RunningStack, data: bytes, msg_id: str, subject: str = SUBJECT) -> None:
    nc = await stack.nats()
    try:
        await nc.jetstream().publish(subject, data, headers={"Nats-Msg-Id": msg_id})
    finally:
        await nc.close()


def mexican_key(stack: RunningStack, institution_id: str):  # type: ignore[no-untyped-def]
    """A real signing key of a Mexican institution, read from its gateway's data directory."""
    return load_or_create_private_key(
        signing_key_path(Path(stack.info["gateways"]["MX"]["data_dir"]), institution_id))


def quarantined(stack: RunningStack, message_id: str) -> dict | None:
    with stack.gateway("HN", "hn-senaf", role="country_admin") as hn:
        items = hn.get("/v1/quarantine").json()["items"]
    return next((item for item in items if item["message_id"] == message_id), None)


def assert_not_a_referral(stack: RunningStack, message_id: str) -> None:
    with stack.gateway("HN", "hn-senaf") as hn:
        assert hn.get(f"/v1/referrals/{message_id}").status_code == 404
        ids = [item["id"] for item in hn.get("/v1/referrals").json()["items"]]
    assert message_id not in ids


async def test_message_signed_by_an_impostor_is_quarantined(stack: RunningStack):
    envelope = forged_referral()
    await publish(stack, sign_envelope(envelope, generate_signing_key()).encode(), envelope.id)
    entry = wait_until(lambda: quarantined(stack, envelope.id))
    assert entry["reason"] == "unknown_key"
    assert entry["claimed_sender"] == "mx-sndif"
    assert_not_a_referral(stack, envelope.id)


async def test_message_from_an_unknown_sender_is_quarantined(stack: RunningStack):
    envelope = forged_referral(sender="zz-nobody")
    await publish(stack, sign_envelope(envelope, generate_signing_key()).encode(), envelope.id)
    assert wait_until(lambda: quarantined(stack, envelope.id))["reason"] == "unknown_sender"
    assert_not_a_referral(stack, envelope.id)


async def test_tampered_message_is_quarantined(stack: RunningStack):
    # Signed with SNDIF's real key, then changed in transit.
    key = mexican_key(stack, "mx-sndif")
    envelope = forged_referral()
    header, payload, signature = sign_envelope(envelope, key).split(".")
    changed = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    changed["body"]["case_reference"] = "CHANGED"
    tampered = base64.urlsafe_b64encode(json.dumps(changed).encode()).rstrip(b"=").decode()
    await publish(stack, f"{header}.{tampered}.{signature}".encode(), envelope.id)
    entry = wait_until(lambda: quarantined(stack, envelope.id))
    assert entry["reason"] == "bad_signature"
    assert_not_a_referral(stack, envelope.id)


async def test_signed_message_without_agreement_is_quarantined(stack: RunningStack):
    # PFPNNA's real key, but no agreement between PFPNNA and SENAF.
    key = mexican_key(stack, "mx-pfpnna")
    envelope = forged_referral(sender="mx-pfpnna")
    await publish(stack, sign_envelope(envelope, key).encode(), envelope.id)
    assert wait_until(lambda: quarantined(stack, envelope.id))["reason"] == "no_agreement"
    assert_not_a_referral(stack, envelope.id)


async def test_garbage_is_quarantined_not_dropped(stack: RunningStack):
    msg_id = str(uuid.uuid4())
    await publish(stack, b"\x00\xffnot a jws", msg_id)

    def garbage_entry():
        with stack.gateway("HN", "hn-senaf", role="country_admin") as hn:
            items = hn.get("/v1/quarantine").json()["items"]
        return next((i for i in items if i["reason"] == "malformed"
                     and i["message_id"] is None), None)

    assert wait_until(garbage_entry)["subject"] == SUBJECT


async def test_quarantine_is_audited_without_personal_data(stack: RunningStack):
    envelope = forged_referral()
    await publish(stack, sign_envelope(envelope, generate_signing_key()).encode(), envelope.id)
    with stack.registry("auditor") as registry:
        entries = wait_until(lambda: registry.get(
            "/v1/audit/entries", params={"message_id": envelope.id}).json()["items"])
    assert [e["event_type"] for e in entries] == ["quarantined"]
    assert entries[0]["detail"] == {"reason": "unknown_key"}
    assert "Forged" not in json.dumps(entries)


@pytest.mark.parametrize("role", ["caseworker"])
def test_quarantine_listing_needs_an_administrator_or_auditor(stack: RunningStack, role):
    with stack.gateway("HN", "hn-senaf", role=role) as hn:
        response = hn.get("/v1/quarantine")
    assert response.status_code == 403
    assert response.json()["code"] == "role_not_allowed"


async def test_message_with_a_purpose_outside_the_vocabulary_is_quarantined(stack: RunningStack):
    key = mexican_key(stack, "mx-sndif")
    envelope = forged_referral(purpose="curiosity")
    await publish(stack, sign_envelope(envelope, key).encode(), envelope.id)
    assert wait_until(lambda: quarantined(stack, envelope.id))["reason"] == "invalid_routing_fields"
    assert_not_a_referral(stack, envelope.id)
