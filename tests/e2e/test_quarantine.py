"""Messages published straight to NATS that must not be trusted end in quarantine."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from nats.js.api import ConsumerInfo
from sqlalchemy import create_engine, text

from services.demo_data import SAMPLE_REFERRAL
from services.exchange.keys import signing_key_path
from shared.protocol.envelope import (
    MAX_LIFETIME_SECONDS,
    Envelope,
    generate_signing_key,
    key_id,
    load_or_create_private_key,
    sign,
    sign_envelope,
)
from shared.protocol.subjects import MESSAGES_STREAM
from tests.conftest import RunningStack
from tests.helpers import wait_until

SUBJECT = "enlace.msg.HN.hn-senaf.referral"
QUOTA = 30
RAW_BYTES = 1024
MAX_DELIVERIES = 3


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    # A small quota and few retries, so that going beyond them takes seconds.
    return {"ENLACE_QUARANTINE_MAX_PER_SENDER": str(QUOTA),
            "ENLACE_QUARANTINE_MAX_RAW_BYTES": str(RAW_BYTES),
            "ENLACE_INBOUND_MAX_DELIVERIES": str(MAX_DELIVERIES)}


def forged_referral(sender: str = "mx-sndif", **overrides) -> Envelope:
    fields = {
        "type": "referral", "sender": sender, "recipients": ["hn-senaf"],
        "agreement": "agr-mx-sndif-hn-senaf-2026", "purpose": "reception-and-care",
        "categories": ["identity"],
        "body": {"case_reference": "FORGED-1", "record": {"child": {"given_names": "Forged"}}},
    }
    return Envelope.new(ttl_seconds=3600, **{**fields, **overrides})


async def publish(stack: RunningStack, data: bytes, msg_id: str, subject: str = SUBJECT,
                  identity: str = "gateway-MX") -> int:
    """Publish as a country's gateway would (Mexico's by default); returns the stream
    sequence."""
    nc = await stack.nats(identity)
    try:
        ack = await nc.jetstream().publish(subject, data, headers={"Nats-Msg-Id": msg_id})
    finally:
        await nc.close()
    return int(ack.seq)


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


# Poison: whatever arrives ends in quarantine, or is given up on, within a bounded effort ---


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(payload: str) -> bytes:
    """A JWS-shaped token around this payload text (a JSON text, escapes as written)."""
    header = b64(b'{"alg":"Ed25519","kid":"k"}')
    return f"{header}.{b64(payload.encode())}.{b64(bytes(64))}".encode()


def hn_database(stack: RunningStack):  # type: ignore[no-untyped-def]
    return create_engine(stack.info["gateways"]["HN"]["database_url"])


def quarantine_listing(stack: RunningStack) -> dict:
    with stack.gateway("HN", "hn-senaf", role="country_admin") as hn:
        return hn.get("/v1/quarantine", params={"limit": 1000}).json()


@pytest.mark.parametrize("claimed", ["\\ud800", "\\u0000", "\\udfff\\u0000x"])
async def test_text_no_database_can_hold_is_quarantined_escaped(stack: RunningStack, claimed):
    # A lone surrogate or a NUL is a valid JSON string, but neither UTF-8 nor PostgreSQL
    # text can hold it: before, writing the quarantine row failed and the message came back
    # for ever.
    msg_id = str(uuid.uuid4())
    token = unsigned(f'{{"id":"{msg_id}","sender":"{claimed}"}}')
    await publish(stack, token, msg_id)
    entry = wait_until(lambda: quarantined(stack, msg_id))
    assert entry["reason"] == "unknown_sender"
    assert entry["claimed_sender"] == claimed  # escaped as \\uXXXX, as the JSON wrote it
    assert entry["raw_size"] == len(token)
    assert entry["raw_sha256"] == hashlib.sha256(token).hexdigest()
    with hn_database(stack).connect() as db:
        raw = db.execute(text("SELECT raw FROM quarantine WHERE message_id = :id"),
                         {"id": msg_id}).scalar_one()
    assert bytes(raw) == token


async def test_raw_bytes_are_kept_up_to_the_limit_with_size_and_digest(stack: RunningStack):
    data = b"\x00\xff\xfe" + bytes(range(256)) * 20  # invalid UTF-8, NULs, 5 KB
    await publish(stack, data, str(uuid.uuid4()))
    digest = hashlib.sha256(data).hexdigest()
    entry = wait_until(lambda: next((i for i in quarantine_listing(stack)["items"]
                                     if i["raw_sha256"] == digest), None))
    assert (entry["reason"], entry["raw_size"]) == ("malformed", len(data))
    with hn_database(stack).connect() as db:
        raw = db.execute(text("SELECT raw FROM quarantine WHERE raw_sha256 = :d"),
                         {"d": digest}).scalar_one()
    assert bytes(raw) == data[:RAW_BYTES]


def kept_and_counted(stack: RunningStack, sender: str) -> tuple[int, int]:
    with hn_database(stack).connect() as db:
        kept = db.execute(text("SELECT count(*) FROM quarantine WHERE verified_sender = :s"),
                          {"s": sender}).scalar_one()
    over = next((o["over"] for o in quarantine_listing(stack)["over_quota"]
                 if o["sender"] == sender), 0)
    return int(kept), int(over)


async def test_each_sender_has_a_quota_beyond_which_messages_are_only_counted(
        stack: RunningStack):
    # PFPNNA's real key, but no agreement with SENAF: each is quarantined as no_agreement.
    key = mexican_key(stack, "mx-pfpnna")
    kept_before, over_before = kept_and_counted(stack, "mx-pfpnna")
    sent = QUOTA + 5
    for _ in range(sent):
        envelope = forged_referral(sender="mx-pfpnna")
        await publish(stack, sign_envelope(envelope, key).encode(), envelope.id)
    total = kept_before + over_before + sent
    wait_until(lambda: sum(kept_and_counted(stack, "mx-pfpnna")) == total, timeout=90)
    assert kept_and_counted(stack, "mx-pfpnna") == (QUOTA, total - QUOTA)
    summary = next(o for o in quarantine_listing(stack)["over_quota"]
                   if o["sender"] == "mx-pfpnna")
    assert (summary["kept"], summary["last_over_reason"]) == (QUOTA, "no_agreement")

    # The quota is the proven sender's: a forger claiming PFPNNA is still kept.
    forged = forged_referral(sender="mx-pfpnna")
    await publish(stack, sign_envelope(forged, generate_signing_key()).encode(), forged.id)
    assert wait_until(lambda: quarantined(stack, forged.id))["reason"] == "unknown_key"


async def consumer_info(stack: RunningStack) -> ConsumerInfo:
    nc = await stack.nats()
    try:
        return await nc.jetstream().consumer_info(MESSAGES_STREAM, "gateway-HN")
    finally:
        await nc.close()


def gateway_log(stack: RunningStack) -> str:
    logs = Path(stack.info["logs"])
    return "\n".join(path.read_text(errors="replace") for path in logs.glob("*.log")
                     if "hn" in path.name.lower() and "gateway" in path.name.lower())


FAIL_QUARANTINE_WRITES = {
    "sqlite": ["CREATE TRIGGER refuse_quarantine BEFORE INSERT ON quarantine "
               "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"],
    "postgresql": ["CREATE FUNCTION refuse_quarantine() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$",
                   "CREATE TRIGGER refuse_quarantine BEFORE INSERT ON quarantine "
                   "FOR EACH ROW EXECUTE FUNCTION refuse_quarantine()"],
}
ALLOW_QUARANTINE_WRITES = {
    "sqlite": ["DROP TRIGGER refuse_quarantine"],
    "postgresql": ["DROP TRIGGER refuse_quarantine ON quarantine",
                   "DROP FUNCTION refuse_quarantine()"],
}


def run_sql(stack: RunningStack, statements: dict[str, list[str]]) -> None:
    engine = hn_database(stack)
    with engine.begin() as db:
        for statement in statements[engine.dialect.name]:
            db.execute(text(statement))
    engine.dispose()


async def test_a_message_whose_handling_always_fails_is_terminated_after_its_retries(
        stack: RunningStack):
    # Even the quarantine cannot be written (the database refuses it): after its
    # deliveries the message is given up on, not nak'ed for ever.
    run_sql(stack, FAIL_QUARANTINE_WRITES)
    try:
        started = time.monotonic()
        marker = f"Ana-{uuid.uuid4().hex[:8]}"  # stands for a child's name in the message
        sequence = await publish(stack, f"not a jws {marker}".encode(), str(uuid.uuid4()))

        async def settled() -> bool:
            info = await consumer_info(stack)
            return bool(info.ack_floor and info.ack_floor.stream_seq >= sequence)

        deadline = time.monotonic() + 60
        while not await settled():
            assert time.monotonic() < deadline, "the failing message was never given up on"
            await asyncio.sleep(0.2)
        assert time.monotonic() - started >= 1 + 2  # it was retried with backoff first
    finally:
        run_sql(stack, ALLOW_QUARANTINE_WRITES)
    terminated = wait_until(lambda: [line for line in gateway_log(stack).splitlines()
                                     if "message_terminated" in line
                                     and f"stream_sequence={sequence}" in line])
    assert f"deliveries={MAX_DELIVERIES}" in terminated[0]
    assert marker not in gateway_log(stack)
    with hn_database(stack).connect() as db:
        assert db.execute(text("SELECT count(*) FROM quarantine WHERE stream_sequence = :s"),
                          {"s": sequence}).scalar_one() == 0

    # The gateway goes on: the next message is quarantined as usual.
    envelope = forged_referral()
    await publish(stack, sign_envelope(envelope, generate_signing_key()).encode(), envelope.id)
    assert wait_until(lambda: quarantined(stack, envelope.id))["reason"] == "unknown_key"


def delivered_referral(stack: RunningStack) -> str:
    with stack.gateway("MX", "mx-sndif") as mx:
        referral_id = mx.post("/v1/referrals", json=SAMPLE_REFERRAL).json()["id"]
        wait_until(lambda: mx.get(f"/v1/referrals/{referral_id}").json()["status"]
                   == "delivered")
    return str(referral_id)


@pytest.mark.parametrize("clock", ["3", 2.5, True, None, 2**31, 2**63, -1])
async def test_an_update_whose_clock_is_no_integer_in_range_is_quarantined_at_once(
        stack: RunningStack, clock):
    referral_id = delivered_referral(stack)
    envelope = Envelope.new(
        ttl_seconds=3600, type="referral-update", sender="mx-sndif", recipients=["hn-senaf"],
        agreement="agr-mx-sndif-hn-senaf-2026", purpose="reception-and-care",
        in_reply_to=referral_id,
        body={"referral_id": referral_id, "action": "note", "clock": clock,
              "at": datetime.now(UTC).isoformat(), "details_jwe": "x"})
    token = sign_envelope(envelope, mexican_key(stack, "mx-sndif")).encode()
    await publish(stack, token, envelope.id, "enlace.msg.HN.hn-senaf.referral-update")
    entry = wait_until(lambda: quarantined(stack, envelope.id))
    # At once: not `processing_failed` after its retries.
    assert (entry["reason"], entry["detail"]) == (
        "malformed", "the body's clock is not an integer in range")


def audit_event_types(stack: RunningStack, message_id: str) -> list[str]:
    with stack.registry("auditor") as registry:
        items = registry.get("/v1/audit/entries", params={"message_id": message_id}).json()
    return sorted(item["event_type"] for item in items["items"])


def signed_with_typ(key, envelope: Envelope, typ: str) -> bytes:  # type: ignore[no-untyped-def]
    from joserfc import jws

    header = {"alg": "Ed25519", "kid": key_id(key), "typ": typ}
    return jws.serialize_compact(header, json.dumps(envelope.model_dump(mode="json")).encode(),
                                 key, algorithms=["Ed25519"]).encode()


async def test_a_proven_sender_is_told_why_exactly_when_the_protocol_says(stack: RunningStack):
    key = mexican_key(stack, "mx-sndif")
    now = int(time.time())
    changes: dict[str, dict[str, Any]] = {
        "issued_in_future": {"iat": now + 3600, "exp": now + 7200},
        "unsupported_version": {"v": "2"},
        "invalid_lifetime": {"exp": now + MAX_LIFETIME_SECONDS + 3600},
    }
    answered = {reason: forged_referral().model_copy(update=change)
                for reason, change in changes.items()}
    unanswered = {"expired": forged_referral().model_copy(update={"iat": now - 7200,
                                                                  "exp": now - 3600}),
                  "unsupported_typ": forged_referral(), "malformed": forged_referral()}
    for reason, envelope in {**answered, **unanswered}.items():
        if reason == "unsupported_typ":
            token = signed_with_typ(key, envelope, "JWT")
        elif reason == "malformed":
            token = sign({**envelope.model_dump(mode="json"), "extra": 1}, key).encode()
        else:
            token = sign_envelope(envelope, key).encode()
        await publish(stack, token, envelope.id)
    for reason, envelope in {**answered, **unanswered}.items():
        assert wait_until(lambda e=envelope: quarantined(stack, e.id))["reason"] == reason
    for envelope in answered.values():  # Mexico's gateway got the notice, and audited it
        wait_until(lambda e=envelope: audit_event_types(stack, e.id) == ["quarantined",
                                                                          "refused"])
    for envelope in unanswered.values():  # audited on arrival at the registry, never answered
        assert wait_until(lambda e=envelope: audit_event_types(stack, e.id)) == ["quarantined"]
