"""The audit log through the registry's API: gateway events taken in batches, signed
checkpoints, and RFC 9162 proofs checked by the tests' own verifier (tests/registry/rfc9162.py)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import OKPKey

from services.registry.messaging import AuditIngest
from shared.protocol.audit_events import AUDIT_EVENT_MEDIA_TYPE
from shared.protocol.envelope import sign
from tests.helpers import assert_problem
from tests.registry import rfc9162
from tests.registry.conftest import NOW, Registry

T0 = NOW - timedelta(hours=3)


class FakeMsg:
    """A JetStream message as the consumer sees it: data, subject, and how it was settled."""

    def __init__(self, data: bytes, subject: str = "enlace.audit.MX") -> None:
        self.data, self.subject, self.outcome = data, subject, ""

    async def ack(self) -> None:
        self.outcome = "ack"

    async def term(self) -> None:
        self.outcome = "term"

    async def nak(self, delay: float | None = None) -> None:
        self.outcome = "nak"


def event(n: int, **overrides: Any) -> dict[str, Any]:
    body = {
        "v": "1", "event_id": str(uuid.uuid4()), "event_type": "sent",
        "occurred_at": (T0 + timedelta(minutes=n)).isoformat(), "institution_id": "mx-sndif",
        "counterpart_id": "hn-senaf", "message_id": str(uuid.uuid4()), "message_type": "referral",
        "case_reference": f"MX-CASE-{n % 3}", "agreement_id": "agr-test",
        "detail": {"categories": ["identity"], "withheld_categories": []},
    }
    return {**body, **overrides}


def signed(registry: Registry, body: dict[str, Any], key: OKPKey | None = None) -> bytes:
    """As a gateway publishes it: signed with the key of the institution it is about."""
    key = key or registry.directory.keys[body["institution_id"]]
    return sign(body, key, AUDIT_EVENT_MEDIA_TYPE).encode()


async def ingest(registry: Registry, *events: dict[str, Any] | bytes,
                 subject: str = "enlace.audit.MX") -> list[str]:
    messages = [FakeMsg(e if isinstance(e, bytes) else signed(registry, e), subject)
                for e in events]
    await AuditIngest(registry.engine, registry.directory).handle_batch(
        messages)  # type: ignore[arg-type]
    return [m.outcome for m in messages]


def registry_key(registry: Registry) -> OKPKey:
    private = json.loads(registry.key_path.read_text())
    return OKPKey.import_key({k: private[k] for k in ("kty", "crv", "x")})


def checkpoint(registry: Registry) -> tuple[int, bytes]:
    """The latest checkpoint, its signature verified with the stock JOSE library."""
    body = registry.ok("", "GET", "/v1/audit/checkpoint")
    payload = json.loads(jws.deserialize_compact(body["jws"], registry_key(registry),
                                                 algorithms=["Ed25519"]).payload)
    assert (payload["tree_size"], payload["root_hash"]) == (body["tree_size"], body["root_hash"])
    return payload["tree_size"], bytes.fromhex(payload["root_hash"])


def leaves(registry: Registry) -> list[bytes]:
    entries = registry.entries()
    assert [e["leaf_index"] for e in entries] == list(range(len(entries)))
    hashes = [rfc9162.leaf(rfc9162.canonical_entry(e)) for e in entries]
    assert [h.hex() for h in hashes] == [e["leaf_hash"] for e in entries]
    return hashes


def inclusion_path(registry: Registry, index: int, size: int) -> tuple[bytes, list[bytes]]:
    proof = registry.ok("", "GET", "/v1/audit/proofs/inclusion",
                        params={"leaf_index": index, "tree_size": size})
    return bytes.fromhex(proof["leaf_hash"]), [bytes.fromhex(h) for h in proof["audit_path"]]


def consistency_ok(registry: Registry, first: int, second: int, roots: dict[int, bytes]
                   ) -> bool:
    proof = registry.ok("", "GET", "/v1/audit/proofs/consistency",
                        params={"first": first, "second": second})["consistency_path"]
    return rfc9162.verify_consistency(first, second, roots[first], roots[second],
                                      [bytes.fromhex(h) for h in proof])


async def test_gateway_events_are_taken_once_with_their_signature(registry: Registry):
    good = event(1)
    token = signed(registry, good)
    outcomes = await ingest(registry, token, token, event(2))
    assert outcomes == ["ack", "ack", "ack"]
    stored = registry.entries()
    assert [e["event_id"] for e in stored] == [good["event_id"], stored[1]["event_id"]]
    assert {e["source"] for e in stored} == {"gateway:MX"}
    assert stored[0]["jws"] == token.decode()
    assert {k: stored[0][k] for k in ("event_type", "institution_id", "counterpart_id",
                                      "message_id", "case_reference", "detail")} == {
        k: good[k] for k in ("event_type", "institution_id", "counterpart_id", "message_id",
                             "case_reference", "detail")}
    # Redelivered after a crash: acknowledged again, stored once.
    assert await ingest(registry, token) == ["ack"]
    assert len(registry.entries()) == 2


async def test_proofs_verify_with_an_independent_rfc9162_verifier(registry: Registry):
    assert checkpoint(registry) == (0, rfc9162.sha256(b""))
    roots: dict[int, bytes] = {}
    n = 0
    for batch in (1, 1, 2, 3, 1, 8, 13, 1, 34):
        await ingest(registry, *(event(n + i) for i in range(batch)))
        n += batch
        size, root = checkpoint(registry)
        assert size == n
        roots[size] = root
    hashes = leaves(registry)
    for size, root in roots.items():
        assert rfc9162.mth(hashes[:size]) == root
    # Every tree size up to 16 and every size checkpointed, every leaf.
    for size in sorted(set(range(1, 17)) | set(roots)):
        roots.setdefault(size, rfc9162.mth(hashes[:size]))
        for index in range(size):
            leaf, path = inclusion_path(registry, index, size)
            assert leaf == hashes[index]
            assert rfc9162.verify_inclusion(index, size, leaf, path, roots[size]), (index, size)
    for second in roots:
        for first in roots:
            if first <= second:
                assert consistency_ok(registry, first, second, roots), (first, second)
    # The verifier does fail: a proof for another leaf, or against another root.
    _, path = inclusion_path(registry, 3, 16)
    assert not rfc9162.verify_inclusion(3, 16, hashes[4], path, roots[16])
    assert not rfc9162.verify_inclusion(3, 16, hashes[3], path[:-1], roots[16])
    assert not consistency_ok(registry, 5, 16, {5: roots[6], 16: roots[16]})


async def test_who_has_seen_this_childs_data(registry: Registry):
    await ingest(registry, event(0, case_reference="MX-A"), event(2, case_reference="MX-B"))
    await ingest(registry,
                 event(1, case_reference="MX-A", event_type="received",
                       institution_id="hn-senaf", counterpart_id="mx-sndif",
                       detail={"categories": ["identity"]}),
                 event(3, case_reference="MX-A", event_type="record-read",
                       institution_id="hn-senaf", detail={"role": "caseworker"}),
                 subject="enlace.audit.HN")
    await ingest(registry, event(4, case_reference="MX-A", event_type="record-read",
                                 institution_id="gt-sbs", detail={"role": "caseworker"}),
                 subject="enlace.audit.GT")
    seen = registry.entries(case_reference="MX-A", event_type=["received", "record-read"])
    assert [(e["institution_id"], e["event_type"], e["source"]) for e in seen] == [
        ("hn-senaf", "received", "gateway:HN"), ("hn-senaf", "record-read", "gateway:HN"),
        ("gt-sbs", "record-read", "gateway:GT")]
    assert len(registry.entries(institution_id="hn-senaf")) == 2
    window = registry.entries(since=(T0 + timedelta(minutes=1)).isoformat(),
                              until=(T0 + timedelta(minutes=3)).isoformat())
    assert [(e["case_reference"], e["event_type"]) for e in window] == [
        ("MX-B", "sent"), ("MX-A", "received")]  # in log order
    assert_problem(registry.call("mx-sndif", "GET", "/v1/audit/entries"), 403, "role_not_allowed")
    assert_problem(registry.call("", "GET", "/v1/audit/entries"), 401, "missing_token")


async def test_bad_proof_requests_are_problems(registry: Registry):
    await ingest(registry, *(event(i) for i in range(5)))
    for path, params, code in [
        ("/v1/audit/proofs/inclusion", {"leaf_index": 5, "tree_size": 5},
         "invalid_proof_request"),
        ("/v1/audit/proofs/inclusion", {"leaf_index": 0, "tree_size": 6}, "tree_size_too_large"),
        ("/v1/audit/proofs/consistency", {"first": 4, "second": 3}, "invalid_proof_request"),
        ("/v1/audit/proofs/consistency", {"first": 1, "second": 9}, "tree_size_too_large"),
        ("/v1/audit/tree", {"start": 1, "end": 3}, "invalid_range"),
        ("/v1/audit/proofs/inclusion", {"leaf_index": -1, "tree_size": 5}, "invalid_request"),
    ]:
        assert_problem(registry.call("", "GET", path, params=params), 422, code)


@pytest.mark.parametrize(("start", "end"), [(0, 5), (0, 4), (4, 5), (2, 4), (4, 6)])
async def test_tree_nodes_hash_their_children(registry: Registry, start, end):
    await ingest(registry, *(event(i) for i in range(6)))
    hashes = leaves(registry)
    node = registry.ok("", "GET", "/v1/audit/tree", params={"start": start, "end": end})
    assert node["hash"] == rfc9162.mth(hashes[start:end]).hex()
    if end - start == 1:
        assert node["left_hash"] is node["right_hash"] is None
        return
    split = start + rfc9162.split(end - start)
    assert node["left_hash"] == rfc9162.mth(hashes[start:split]).hex()
    assert node["right_hash"] == rfc9162.mth(hashes[split:end]).hex()
