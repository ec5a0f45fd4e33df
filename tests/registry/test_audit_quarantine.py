"""Forged audit events (issue 8): each lands in the audit quarantine with its reason, never
in the log; the quarantine keeps no content; its API is for auditors and administrators."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from joserfc import jws

from services.audit_verify import VerificationFailed, verify_log
from services.registry.audit_log import AuditLog
from services.registry.repository import RegistryRepository
from shared.kit.db import session_scope
from shared.protocol.audit_events import AUDIT_EVENT_MEDIA_TYPE, AuditEvent, KeyRecord
from shared.protocol.envelope import key_id, public_jwk, sign
from tests.helpers import assert_problem
from tests.registry.conftest import NOW, Registry
from tests.registry.test_audit_api import event, ingest, registry_key, signed

CHILD = "María Fernanda López"


def tampered(token: bytes) -> bytes:
    """The same header and signature over another payload."""
    header, _, signature = token.decode().split(".")
    body = json.loads(jws.extract_compact(token).payload)
    body["case_reference"] = "MX-OTHER-CASE"
    payload = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}".encode()


def quarantine(registry: Registry, who: str = "auditor", **params: Any) -> list[dict[str, Any]]:
    return list(registry.ok(who, "GET", "/v1/audit/quarantine", params=params)["items"])


def forged_cases(registry: Registry) -> list[tuple[str, bytes, str, str]]:
    """(case, bytes, subject country, expected reason)."""
    keys = registry.directory.keys
    read_by_hn = event(1, event_type="record-read", institution_id="hn-senaf",
                       counterpart_id="mx-sndif", detail={"role": "caseworker"})
    return [
        ("record-read by HN signed with SNDIF's key",
         signed(registry, read_by_hn, keys["mx-sndif"]), "HN", "unknown_key"),
        ("sent for mx-sndif on HN's subject", signed(registry, event(2)), "HN", "wrong_country"),
        ("backdated to 2019", signed(registry, event(
            3, occurred_at=datetime(2019, 3, 1, tzinfo=UTC).isoformat())), "MX", "too_old"),
        ("in the future", signed(registry, event(
            4, occurred_at=(NOW + timedelta(hours=1)).isoformat())), "MX",
         "occurred_in_future"),
        ("invented type", signed(registry, event(5, event_type="record-deleted")), "MX",
         "unknown_event_type"),
        ("a list as type", signed(registry, event(17, event_type=["sent"])), "MX",
         "unknown_event_type"),
        ("a registry type", signed(registry, event(6, event_type="consent-withdrawn")), "MX",
         "event_type_not_allowed"),
        ("unknown institution", signed(registry, event(7, institution_id="mx-fantasma"),
                                       keys["mx-sndif"]), "MX", "unknown_institution"),
        ("country XX", signed(registry, event(8)), "XX", "wrong_country"),
        ("a child's name in detail", signed(registry, event(9, detail={
            "categories": ["identity"], "withheld_categories": [], "note": CHILD})), "MX",
         "invalid_detail"),
        ("a child's name as a category", signed(registry, event(10, detail={
            "categories": [CHILD], "withheld_categories": []})), "MX", "invalid_detail"),
        ("a child's name as case reference", signed(registry, event(
            11, case_reference=CHILD)), "MX", "malformed"),
        ("NUL in an id", signed(registry, event(15, counterpart_id="hn-senaf\u0000")), "MX",
         "malformed"),
        ("NaN in detail", signed(registry, event(16, event_type="alert-updated", detail={
            "version": float("nan")})), "MX", "invalid_detail"),
        ("unsigned JSON", json.dumps(event(12)).encode(), "MX", "unsigned"),
        ("bad signature", tampered(signed(registry, event(13))), "MX", "bad_signature"),
        ("signed as an envelope", sign(event(14), keys["mx-sndif"]).encode(), "MX",
         "malformed"),
        ("not JSON", b"not json at all", "MX", "malformed"),
        ("lone surrogate", b'{"event_id": "\\ud800"}', "MX", "unsigned"),
        ("invalid UTF-8", b"\xff\xfe" + CHILD.encode(), "MX", "malformed"),
    ]


async def test_each_forged_event_is_quarantined_with_its_reason_not_logged(registry: Registry):
    cases = forged_cases(registry)
    for case, data, country, _ in cases:
        assert await ingest(registry, data, subject=f"enlace.audit.{country}") == ["ack"], case
    assert registry.entries() == []
    rows = quarantine(registry)
    assert [r["reason"] for r in rows] == [reason for *_, reason in cases]
    by_reason = {r["reason"]: r for r in rows}
    assert by_reason["unknown_key"]["institution_id"] == "hn-senaf"
    assert by_reason["unknown_key"]["event_type"] == "record-read"
    assert uuid.UUID(by_reason["unknown_key"]["event_id"])
    assert by_reason["unknown_key"]["kid"] == key_id(registry.directory.keys["mx-sndif"])
    by_case = {case: row for (case, *_), row in zip(cases, rows, strict=True)}
    assert by_case["sent for mx-sndif on HN's subject"]["subject_country"] == "HN"
    assert by_case["country XX"]["subject_country"] == "XX"
    for row, (_, data, _, _) in zip(rows, cases, strict=True):
        assert row["size"] == len(data)
        assert len(row["sha256"]) == 64
    listing = json.dumps(rows, ensure_ascii=False)
    assert "María" not in listing and "Fernanda" not in listing
    # Redelivered: still one row each, still not in the log.
    await ingest(registry, cases[0][1], subject="enlace.audit.HN")
    assert len(quarantine(registry)) == len(cases)
    assert registry.entries() == []


async def test_a_revoked_key_is_refused_even_for_an_event_from_before(registry: Registry):
    before = signed(registry, event(1))
    registry.directory.revoked["mx-sndif"] = NOW
    assert await ingest(registry, before) == ["ack"]
    assert [r["reason"] for r in quarantine(registry)] == ["revoked_key"]
    assert registry.entries() == []


async def test_an_event_signed_before_its_key_was_valid_is_refused(registry: Registry):
    early = signed(registry, event(1, occurred_at=(NOW - timedelta(days=3)).isoformat()))
    assert await ingest(registry, early) == ["ack"]
    assert [r["reason"] for r in quarantine(registry)] == ["key_not_valid"]


async def test_directory_down_means_later_not_quarantine(registry: Registry):
    token = signed(registry, event(1))
    registry.directory.down = True
    assert await ingest(registry, token) == ["nak"]
    assert quarantine(registry) == [] and registry.entries() == []
    registry.directory.down = False
    assert await ingest(registry, token) == ["ack"]
    assert [e["jws"] for e in registry.entries()] == [token.decode()]


async def test_an_event_that_cannot_be_verified_is_quarantined_not_retried(
        registry: Registry):
    registry.directory.garbled = True
    assert await ingest(registry, event(1)) == ["ack"]
    assert [r["reason"] for r in quarantine(registry)] == ["unverifiable"]
    assert registry.entries() == []


async def test_good_and_forged_in_one_batch(registry: Registry):
    good = event(1)
    outcomes = await ingest(registry, signed(registry, good),
                            signed(registry, event(2, event_type="made-up")))
    assert outcomes == ["ack", "ack"]
    assert [e["event_id"] for e in registry.entries()] == [good["event_id"]]
    assert [r["reason"] for r in quarantine(registry)] == ["unknown_event_type"]


async def test_the_registrys_own_entries_are_signed_with_its_key(registry: Registry):
    registry.create()
    [entry] = registry.entries()
    assert entry["source"] == "registry" and entry["event_type"] == "agreement-created"
    verified = jws.deserialize_compact(entry["jws"], registry_key(registry),
                                       algorithms=["Ed25519"])
    assert verified.headers()["typ"] == AUDIT_EVENT_MEDIA_TYPE
    payload = json.loads(verified.payload)
    for name in ("event_id", "event_type", "institution_id", "agreement_id", "detail"):
        assert payload[name] == entry[name], name


@pytest.mark.parametrize(("who", "status"), [("auditor", 200), ("admin", 200),
                                             ("mx-sndif", 403), ("", 401)])
async def test_quarantine_scope(registry: Registry, who: str, status: int):
    await ingest(registry, json.dumps(event(1)).encode())
    response = registry.call(who, "GET", "/v1/audit/quarantine")
    if status == 200:
        assert [r["reason"] for r in response.json()["items"]] == ["unsigned"]
    else:
        assert_problem(response, status, {403: "role_not_allowed", 401: "missing_token"}[status])


async def test_quarantine_filters_and_pages(registry: Registry):
    await ingest(registry, json.dumps(event(1)).encode(), b"x",
                 json.dumps(event(2)).encode())
    assert [r["reason"] for r in quarantine(registry, reason="unsigned")] == ["unsigned"] * 2
    first = registry.ok("auditor", "GET", "/v1/audit/quarantine", params={"limit": 1})
    assert len(first["items"]) == 1 and first["next"]
    rest, link = [], first["next"]
    while link:  # each page as long as the first: `next` keeps the limit
        page = registry.ok("auditor", "GET", link)
        assert len(page["items"]) == 1
        rest, link = rest + page["items"], page["next"]
    assert [r["reason"] for r in rest] == ["malformed", "unsigned"]
    assert_problem(registry.call("auditor", "GET", "/v1/audit/quarantine",
                                 params={"cursor": "WzJdXQ"}), 422, "invalid_cursor")
    assert quarantine(registry)[0]["event_id"] is None  # claims of unsigned JSON are not read


class Keys:
    """audit verify's key source, from the test directory."""

    def __init__(self, registry: Registry) -> None:
        self.directory = registry.directory

    def of(self, institution_id: str) -> list[KeyRecord]:
        return self.directory.signing_key_records(institution_id)

    def country_of(self, institution_id: str) -> str:
        return self.directory.country_of(institution_id)


def run_verify(registry: Registry) -> list[str]:
    said: list[str] = []
    verify_log("http://testserver", public_jwk(registry_key(registry)), None,
               registry.tokens["auditor"], said.append, keys=Keys(registry),
               client=registry.client)
    return said


async def test_audit_verify_checks_every_entrys_signature(registry: Registry):
    registry.create()
    await ingest(registry, event(1), event(2))
    said = run_verify(registry)
    assert "signatures: all 3 signed entries verify with their asserter's key" in said


async def test_audit_verify_names_an_entry_the_registry_took_with_a_bad_signature(
        registry: Registry):
    """A registry that appends an event signed with another institution's key (its checks
    bypassed) makes a log whose hashes all agree: only the signature shows it."""
    await ingest(registry, event(1))
    forged = event(2, event_type="record-read", institution_id="hn-senaf",
                   detail={"role": "caseworker"})
    token = signed(registry, forged, registry.directory.keys["mx-sndif"]).decode()
    fields = AuditEvent.model_validate(forged).fields()
    with session_scope(registry.engine) as session:
        AuditLog(RegistryRepository(session)).append([{**fields, "jws": token}], "gateway:HN")
    await ingest(registry, event(3))
    with pytest.raises(VerificationFailed, match=r"leaf index 1 .*signature does not verify"):
        run_verify(registry)


async def test_audit_verify_names_an_entry_that_differs_from_what_was_signed(
        registry: Registry):
    body = event(1)
    token = signed(registry, body).decode()
    fields = AuditEvent.model_validate(body).fields()
    with session_scope(registry.engine) as session:
        AuditLog(RegistryRepository(session)).append(
            [{**fields, "case_reference": "MX-OTHER", "jws": token}], "gateway:MX")
    with pytest.raises(VerificationFailed, match=r"leaf index 0 .*other than the event"):
        run_verify(registry)


async def test_audit_verify_names_an_entry_taken_from_another_countrys_gateway(
        registry: Registry):
    body = event(1)
    fields = AuditEvent.model_validate(body).fields()
    with session_scope(registry.engine) as session:
        AuditLog(RegistryRepository(session)).append(
            [{**fields, "jws": signed(registry, body).decode()}], "gateway:HN")
    with pytest.raises(VerificationFailed, match=r"leaf index 0 .*came from gateway:HN"):
        run_verify(registry)
