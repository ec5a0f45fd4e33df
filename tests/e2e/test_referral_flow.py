"""A referral from Mexico (SNDIF) to Honduras (SENAF) through the real running system."""

from __future__ import annotations

import copy
import hashlib
import json

import httpx
from joserfc import jws
from joserfc.jwk import KeySet
from sqlalchemy import create_engine, text

from services.demo_data import SAMPLE_REFERRAL
from tests.conftest import RunningStack
from tests.helpers import assert_problem, wait_until


def send(stack: RunningStack, body: dict | None = None, institution: str = "mx-sndif"):
    with stack.gateway("MX", institution) as mx:
        return mx.post("/v1/referrals", json=body or SAMPLE_REFERRAL)


def delivered(stack: RunningStack, referral_id: str) -> dict:
    with stack.gateway("MX", "mx-sndif") as mx:
        return wait_until(lambda: (r := mx.get(f"/v1/referrals/{referral_id}").json())
                          ["status"] == "delivered" and r)


def audit_types(stack: RunningStack, **filters: str) -> dict[str, str]:
    with stack.registry("auditor") as registry:
        items = registry.get("/v1/audit/entries", params=filters).json()["items"]
    return {item["event_type"]: item["institution_id"] for item in items}


def test_referral_is_delivered_with_a_receipt_that_verifies(stack: RunningStack):
    response = send(stack)
    assert response.status_code == 202
    referral_id = response.json()["id"]

    referral = delivered(stack, referral_id)
    assert referral["direction"] == "outbound"
    assert referral["recipient_id"] == "hn-senaf"
    assert referral["agreement_id"] == "agr-mx-sndif-hn-senaf-2026"

    # The receipt verifies with SENAF's public key as published by the directory, using
    # the JOSE library directly (not Enlace's own verification code).
    receipt = referral["receipt"]
    jwks = stack.directory().get("/v1/institutions/hn-senaf/jwks").json()
    verified = jws.deserialize_compact(receipt["jws"], KeySet.import_key_set(jwks),
                                       algorithms=["Ed25519"])
    payload = json.loads(verified.payload)
    assert payload["type"] == "receipt"
    assert payload["sender"] == "hn-senaf"
    assert payload["body"]["message_id"] == referral_id
    assert payload["in_reply_to"] == referral_id

    # The receipt quotes the digest of exactly what the sender signed.
    mx_engine = create_engine(stack.info["gateways"]["MX"]["database_url"])
    with mx_engine.connect() as conn:
        envelope = conn.execute(text("SELECT envelope FROM referrals WHERE id = :id"),
                                {"id": referral_id}).scalar_one()
    mx_engine.dispose()
    assert payload["body"]["message_digest"] == hashlib.sha256(envelope.encode()).hexdigest()


def test_receiver_has_the_record_in_its_own_database(stack: RunningStack):
    referral_id = send(stack).json()["id"]
    delivered(stack, referral_id)

    with stack.gateway("HN", "hn-senaf") as hn:
        inbound = hn.get(f"/v1/referrals/{referral_id}")
        listing = hn.get("/v1/referrals", params={"direction": "inbound"}).json()["items"]
    assert inbound.status_code == 200
    body = inbound.json()
    assert body["direction"] == "inbound"
    assert body["status"] == "delivered"
    assert body["sender_id"] == "mx-sndif"
    assert body["case_reference"] == SAMPLE_REFERRAL["case_reference"]
    sent_child = SAMPLE_REFERRAL["record"]["child"]
    assert {k: body["record"]["child"][k] for k in sent_child} == sent_child
    assert referral_id in [item["id"] for item in listing]

    # Two gateways, two databases: each holds only its own side.
    gateways = stack.info["gateways"]
    assert gateways["MX"]["database_url"] != gateways["HN"]["database_url"]
    sides = {}
    for country in ("MX", "HN"):
        engine = create_engine(gateways[country]["database_url"])
        with engine.connect() as conn:
            sides[country] = conn.execute(
                text("SELECT direction FROM referrals WHERE id = :id"), {"id": referral_id}
            ).scalars().all()
        engine.dispose()
    assert sides == {"MX": ["outbound"], "HN": ["inbound"]}


def test_sending_and_receiving_are_audited_in_the_registry(stack: RunningStack):
    referral_id = send(stack).json()["id"]
    delivered(stack, referral_id)
    events = wait_until(lambda: (t := audit_types(stack, message_id=referral_id))
                        .keys() >= {"sent", "received", "receipt"} and t)
    assert events["sent"] == "mx-sndif"
    assert events["received"] == "hn-senaf"
    assert events["receipt"] == "mx-sndif"


def test_audit_entries_hold_no_personal_data(stack: RunningStack):
    referral_id = send(stack).json()["id"]
    delivered(stack, referral_id)
    wait_until(lambda: len(audit_types(stack, message_id=referral_id)) >= 3)
    with stack.registry("auditor") as registry:
        raw = registry.get("/v1/audit/entries", params={"message_id": referral_id}).text
    child = SAMPLE_REFERRAL["record"]["child"]
    for value in (child["given_names"], child["family_names"], child["date_of_birth"]):
        assert value not in raw


def newest_referrals(gateway: httpx.Client) -> list[str]:
    """The ids at the head of the institution's outbound list (newest first: a referral it
    sent would lead)."""
    response = gateway.get("/v1/referrals", params={"direction": "outbound", "limit": 10})
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["items"]]


def test_referral_without_agreement_is_denied_and_audited(stack: RunningStack):
    with stack.gateway("MX", "mx-pfpnna") as mx:
        before = newest_referrals(mx)
    problem = assert_problem(send(stack, institution="mx-pfpnna"), 403, "policy_denied")
    assert [r["code"] for r in problem["reasons"]] == ["no_agreement"]
    with stack.gateway("MX", "mx-pfpnna") as mx:
        assert newest_referrals(mx) == before  # nothing written
    wait_until(lambda: audit_types(stack, institution_id="mx-pfpnna",
                                   event_type="denied").get("denied") == "mx-pfpnna")


def test_invalid_referral_gets_problem_details_without_echoing_data(stack: RunningStack):
    body = copy.deepcopy(SAMPLE_REFERRAL)
    del body["record"]["child"]["sex"]
    body["record"]["child"]["estimated_age"] = 40
    with stack.gateway("MX", "mx-sndif") as mx:
        before = newest_referrals(mx)
        response = mx.post("/v1/referrals", json=body)
        after = newest_referrals(mx)
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "invalid_request"
    assert problem["type"] == "urn:enlace:problem:invalid_request"
    locations = [e["location"] for e in problem["errors"]]
    assert ["body", "record", "child", "sex"] in locations
    assert ["body", "record", "child", "estimated_age"] in locations
    assert "Ana" not in response.text and "Ejemplo" not in response.text
    assert after == before


def test_unknown_recipient_is_refused(stack: RunningStack):
    response = send(stack, {**SAMPLE_REFERRAL, "recipient_id": "zz-nowhere"})
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_recipient"


def test_malformed_json_is_a_problem_not_a_500(stack: RunningStack):
    with stack.gateway("MX", "mx-sndif") as mx:
        response = mx.post("/v1/referrals", content=b"{not json",
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"


def test_authentication_and_scope(stack: RunningStack):
    referral_id = send(stack).json()["id"]
    url = stack.info["gateways"]["MX"]["url"]
    anonymous = httpx_get(f"{url}/v1/referrals/{referral_id}")
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "missing_token"
    forged = httpx_get(f"{url}/v1/referrals/{referral_id}", token="enl_not-a-token")
    assert forged.json()["code"] == "invalid_token"
    # A Honduran token means nothing to the Mexican gateway.
    foreign = httpx_get(f"{url}/v1/referrals/{referral_id}",
                        token=stack.token("HN", "hn-senaf"))
    assert foreign.status_code == 401
    # Another institution on the same gateway does not see SNDIF's referral.
    with stack.gateway("MX", "mx-pfpnna") as other:
        assert other.get(f"/v1/referrals/{referral_id}").json()["code"] == "referral_not_found"
    # An auditor token may read the quarantine but not send referrals.
    with stack.gateway("MX", "mx-sndif", role="auditor") as auditor:
        refused = auditor.post("/v1/referrals", json=SAMPLE_REFERRAL)
    assert refused.status_code == 403
    assert refused.json()["code"] == "role_not_allowed"


def httpx_get(url: str, token: str | None = None):
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(url, headers=headers, timeout=10)


def test_every_service_answers_health_and_readiness(stack: RunningStack):
    import httpx

    urls = [stack.info["directory"]["url"], stack.info["registry"]["url"],
            *(g["url"] for g in stack.info["gateways"].values())]
    for url in urls:
        assert httpx.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}
        ready = httpx.get(f"{url}/readyz", timeout=5)
        assert ready.status_code == 200
        assert all(ready.json()["checks"].values())


async def test_nothing_personal_travels_in_clear(stack: RunningStack):
    import base64

    referral_id = send(stack).json()["id"]
    delivered(stack, referral_id)
    nc = await stack.nats()
    try:
        message = await nc.jetstream().get_last_msg("ENLACE_MESSAGES",
                                                    "enlace.msg.HN.hn-senaf.referral")
    finally:
        await nc.close()
    assert message.headers["Nats-Msg-Id"] == referral_id
    raw = message.data.decode()
    payload = json.loads(base64.urlsafe_b64decode(raw.split(".")[1] + "=="))
    child = SAMPLE_REFERRAL["record"]["child"]
    for value in (child["given_names"], child["family_names"], child["date_of_birth"],
                  SAMPLE_REFERRAL["record"]["child_views"]["views"]):
        assert value not in json.dumps(payload, ensure_ascii=False)
    assert "record" not in payload["body"]
    assert payload["body"]["record_jwe"].count(".") == 4  # JWE compact: five parts
    assert payload["body"]["case_reference"] == SAMPLE_REFERRAL["case_reference"]


def test_categories_outside_the_agreement_are_stripped_and_the_audit_says_so(
        stack: RunningStack):
    assert "best_interests" in SAMPLE_REFERRAL["record"]  # legal-status: not in the agreement
    referral_id = send(stack).json()["id"]
    delivered(stack, referral_id)
    with stack.gateway("HN", "hn-senaf") as hn:
        record = hn.get(f"/v1/referrals/{referral_id}").json()["record"]
    assert "best_interests" not in record
    assert record["detection"]["locality"] == "Tapachula"
    sent = wait_until(lambda: next(
        (e for e in stack.registry("auditor").get(
            "/v1/audit/entries", params={"message_id": referral_id, "event_type": "sent"}
        ).json()["items"]), None))
    assert sent["detail"]["withheld_categories"] == ["legal-status"]
    assert "legal-status" not in sent["detail"]["categories"]


def test_an_accepted_referral_is_readable_at_once(stack: RunningStack):
    """The transaction commits before the 202 is sent: reading right after never misses."""
    with stack.gateway("MX", "mx-sndif") as mx:
        for _ in range(20):
            referral_id = mx.post("/v1/referrals", json=SAMPLE_REFERRAL).json()["id"]
            assert mx.get(f"/v1/referrals/{referral_id}").status_code == 200
