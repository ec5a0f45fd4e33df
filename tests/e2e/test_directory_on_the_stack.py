"""Issue #3 on the real running system (`enlace up`): the consular officer's question, a
gateway that keeps resolving recipients while the directory is stopped, and a revoked key
refused once the receiving gateway holds the snapshot that says so."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from services.demo_data import SAMPLE_REFERRAL
from services.exchange.keys import signing_key_path
from shared.protocol.envelope import Envelope, load_or_create_private_key, sign_envelope
from tests.conftest import SQLITE_ONLY, RunningStack
from tests.helpers import wait_until

# A stack of its own: it stops and starts the directory. On SQLite only: the gateways' snapshots
# and a stopped directory; the directory's storage is tested on both in tests/directory.
pytestmark = [pytest.mark.own_stack, SQLITE_ONLY]


def enlace(stack: RunningStack, *args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "services.cli", *args, "--data-dir",
                             str(stack.data_dir)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def send_and_wait_delivered(stack: RunningStack) -> dict:
    with stack.gateway("MX", "mx-sndif") as mx:
        sent = mx.post("/v1/referrals", json=SAMPLE_REFERRAL)
        assert sent.status_code == 202, sent.text
        path = f"/v1/referrals/{sent.json()['id']}"
        return wait_until(lambda: (r := mx.get(path).json())["status"] == "delivered" and r)


def test_the_consular_officer_at_two_in_the_morning(stack: RunningStack):
    """Which Honduran institution receives a child returned by land to San Pedro Sula, and
    whom to call about a missing-child alert, from the Honduran consulate in Tapachula."""
    with stack.directory("consular_officer_HN") as officer:
        receivers = officer.get("/v1/institutions", params={
            "country": "HN", "competence": "reception", "area": "HN-CR-SPS"}).json()
        answer = officer.get("/v1/focal-points/lookup", params={
            "country": "HN", "topic": "missing-child-alerts", "area": "MX-CHP-TAPACHULA"}).json()
    assert {"hn-camr-belen", "hn-senaf"} <= {i["id"] for i in receivers["items"]}
    first, second = answer["results"][:2]
    assert first["institution"]["id"] == "hn-consulado-tapachula"
    assert first["focal_point"]["available_24_7"] is True
    assert second["institution"]["acronym"] == "SENAF" and second["coverage"] == "national"
    assert first["focal_point"]["channels"][0]["value"].startswith("+000")


def test_a_gateway_keeps_resolving_recipients_while_the_directory_is_stopped(
        stack: RunningStack):
    send_and_wait_delivered(stack)  # both gateways now hold a verified snapshot
    for country in ("MX", "HN"):
        assert (Path(stack.info["gateways"][country]["data_dir"])
                / "directory-snapshot.json").exists()
    enlace(stack, "service", "stop", "directory")
    try:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{stack.info['directory']['url']}/healthz", timeout=2)
        referral = send_and_wait_delivered(stack)
        assert referral["recipient_id"] == "hn-senaf"
        assert referral["receipt"]["signed_by"] == "hn-senaf"
    finally:
        enlace(stack, "service", "start", "directory")


async def publish_as_pfpnna(stack: RunningStack) -> str:
    """A referral really signed with PFPNNA's key, straight on NATS (no agreement covers it,
    so the receiving gateway refuses it in any case; the question is why)."""
    key = load_or_create_private_key(signing_key_path(
        Path(stack.info["gateways"]["MX"]["data_dir"]), "mx-pfpnna"))
    envelope = Envelope.new(
        ttl_seconds=3600, type="referral", sender="mx-pfpnna", recipients=["hn-senaf"],
        purpose="reception-and-care", categories=["identity"],
        body={"case_reference": f"REVOKED-{uuid.uuid4().hex[:6]}"},
    )
    nc = await stack.nats()
    try:
        await nc.jetstream().publish("enlace.msg.HN.hn-senaf.referral",
                                     sign_envelope(envelope, key).encode(),
                                     headers={"Nats-Msg-Id": envelope.id})
    finally:
        await nc.close()
    return envelope.id


def quarantine_reason(stack: RunningStack, message_id: str) -> str | None:
    with stack.gateway("HN", "hn-senaf", role="country_admin") as hn:
        items = hn.get("/v1/quarantine").json()["items"]
    return next((i["reason"] for i in items if i["message_id"] == message_id), None)


async def test_a_revoked_key_is_refused_once_the_gateway_holds_the_snapshot(
        stack: RunningStack):
    before = await publish_as_pfpnna(stack)
    # Verified (the key is valid), then refused by policy: no agreement covers PFPNNA to HN.
    assert wait_until(lambda: quarantine_reason(stack, before)) == "no_agreement"

    with stack.directory() as admin:
        kids = [k["kid"] for k in admin.get("/v1/institutions/mx-pfpnna/keys").json()["items"]
                if k["use"] == "sig" and k["revoked_at"] is None]
        for kid in kids:
            revoked = admin.post(f"/v1/institutions/mx-pfpnna/keys/{kid}/revocation",
                                 json={"reason": "key-compromise"})
            assert revoked.status_code == 200, revoked.text

    # The HN gateway learns of the revocation at its next refresh of the snapshot.
    reasons = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        message_id = await publish_as_pfpnna(stack)
        reasons.append(wait_until(lambda m=message_id: quarantine_reason(stack, m)))
        if reasons[-1] in ("unknown_key", "revoked_key"):
            assert reasons[-1] == "revoked_key"  # the key is known, and known revoked
            return
        await asyncio.sleep(1)
    pytest.fail(f"messages signed with the revoked key were refused only for {set(reasons)}")
