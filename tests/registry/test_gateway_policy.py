"""Issue 10: the gateway decides in its own process from the registry's signed snapshot (no
call to the registry per referral), against the real registry in-process; a refusal by the
registry is not taken for the registry being down; the registry tells of each change."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.exchange.clients.regional import (
    RegionalProblem,
    RegionalServiceDown,
    RegionalServiceRefused,
)
from services.exchange.clients.registry import RegistryClient
from services.registry.models import Consent
from shared.kit.db import session_scope
from shared.protocol.documents import POLICY_SNAPSHOT
from shared.protocol.envelope import load_or_create_private_key, public_jwk, sign
from tests.registry.conftest import INSTITUTIONS, NOW, Registry, consent_body, decision_body

WITHDRAWAL = {"withdrawn_by": "guardian", "reason": "changed-mind"}


class CountingClient(RegistryClient):
    """The gateway's registry client, on the registry's own test transport, noting each call
    it makes to the registry."""

    def __init__(self, registry: Registry, snapshot_dir: Path, **options: Any) -> None:
        tokens = {i: registry.tokens[i] for i in INSTITUTIONS}
        super().__init__("http://testserver", {**tokens, **options.pop("tokens", {})},
                         public_key=public_jwk(load_or_create_private_key(registry.key_path)),
                         snapshot_dir=snapshot_dir, country_of=INSTITUTIONS.__getitem__,
                         **options)
        self.http.close()
        self.http = registry.client
        self.calls: list[tuple[str, str]] = []

    def request(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((method, path))
        return super().request(method, path, *args, **kwargs)


@pytest.fixture
def gateway(registry: Registry, tmp_path: Path) -> CountingClient:
    return CountingClient(registry, tmp_path / "policy-snapshots")


DECISIONS = ("POST", "/v1/policy/decisions")


def test_a_held_snapshot_decides_with_no_call_to_the_registry(registry: Registry,
                                                              gateway: CountingClient):
    registry.activate()
    registry.consent()
    gateway.refresh_snapshot("mx-sndif")
    gateway.refresh_snapshot("hn-senaf")
    gateway.calls.clear()

    sent = gateway.decide("mx-sndif", decision_body())
    received = gateway.decide("hn-senaf", decision_body())
    assert gateway.calls == []
    assert (sent["decision"], sent["source"], sent["agreement_id"]) == (
        "allow", "snapshot", "agr-test")
    assert received["decision"] == "allow" and received["source"] == "snapshot"
    # The same answer the registry gives (but for where it comes from).
    assert {k: v for k, v in sent.items() if k != "source"} == registry.decide()


def test_before_any_snapshot_the_registry_decides(registry: Registry, gateway: CountingClient):
    registry.activate()
    registry.consent()
    decision = gateway.decide("mx-sndif", decision_body())
    assert (decision["decision"], decision["source"]) == ("allow", "registry")
    assert gateway.calls == [DECISIONS]


def test_a_snapshot_not_refreshed_for_two_periods_is_not_trusted_while_the_registry_answers(
        registry: Registry, gateway: CountingClient):
    registry.activate()
    registry.consent()
    gateway.refresh_snapshot("mx-sndif")
    gateway.calls.clear()
    gateway.refresh_seconds = 0  # every snapshot held is now older than two periods
    assert gateway.decide("mx-sndif", decision_body())["source"] == "registry"
    assert gateway.calls == [DECISIONS]


def test_a_deny_from_the_snapshot_is_confirmed_by_the_registry(registry: Registry,
                                                               gateway: CountingClient):
    registry.activate()
    gateway.refresh_snapshot("mx-sndif")  # before the consent: the snapshot says no_consent
    registry.consent()
    gateway.calls.clear()
    decision = gateway.decide("mx-sndif", decision_body())
    assert (decision["decision"], decision["source"]) == ("allow", "registry")
    assert gateway.calls == [DECISIONS]


def test_a_withdrawal_reaches_the_decision_with_the_next_snapshot(registry: Registry,
                                                                  gateway: CountingClient):
    registry.activate()
    consent = registry.consent()
    gateway.refresh_snapshot("mx-sndif")
    registry.ok("mx-sndif", "POST", f"/v1/consents/{consent['id']}/withdrawal", json=WITHDRAWAL)
    # Until refreshed, the snapshot held is what decides (the bound: docs/registry.md §3.1).
    assert gateway.decide("mx-sndif", decision_body())["decision"] == "allow"

    gateway.refresh_snapshot("mx-sndif")
    denied = gateway.decide("mx-sndif", decision_body())
    assert denied["decision"] == "deny"
    assert [r["code"] for r in denied["reasons"]] == ["consent_withdrawn"]


def test_a_change_through_the_gateway_is_seen_by_its_next_decision(registry: Registry,
                                                                   gateway: CountingClient):
    registry.activate()
    gateway.refresh_snapshot("mx-sndif")
    consent = gateway.call("mx-sndif", "POST", "/v1/consents", json=consent_body())
    assert gateway.decide("mx-sndif", decision_body())["decision"] == "allow"
    gateway.call("mx-sndif", "POST", f"/v1/consents/{consent['id']}/withdrawal", json=WITHDRAWAL)
    gateway.calls.clear()
    denied = gateway.decide("mx-sndif", decision_body())
    assert gateway.calls == [DECISIONS]  # the snapshot denied; the registry confirmed
    assert denied["decision"] == "deny"
    assert [r["code"] for r in denied["reasons"]] == ["consent_withdrawn"]


def test_an_older_snapshot_never_replaces_a_newer_one(registry: Registry,
                                                      gateway: CountingClient):
    registry.activate()
    registry.consent()
    newer = gateway.refresh_snapshot("mx-sndif")
    older = newer.model_copy(update={"issued_at": newer.issued_at - 60, "agreements": []})
    token = sign(older.model_dump(mode="json"), load_or_create_private_key(registry.key_path),
                 POLICY_SNAPSHOT.media_type)
    gateway.request = lambda *args, **kwargs: httpx.Response(  # type: ignore[method-assign]
        200, json={"jws": token, "expires_at": older.expires_at})
    assert gateway.refresh_snapshot("mx-sndif") == newer
    assert gateway.decide("mx-sndif", decision_body())["decision"] == "allow"


def test_a_refusal_by_the_registry_is_not_the_registry_being_down(registry: Registry,
                                                                  tmp_path: Path):
    refused = CountingClient(registry, tmp_path / "s", tokens={"mx-sndif": "enl_not-a-token"})
    with pytest.raises(RegionalServiceRefused) as decided:
        refused.decide("mx-sndif", decision_body())
    assert not isinstance(decided.value, RegionalServiceDown)
    assert decided.value.upstream_status == 401
    assert decided.value.body()["code"] == "regional_service_refused"
    with pytest.raises(RegionalServiceRefused):
        refused.refresh_snapshot("mx-sndif")
    assert refused.refresh_snapshots(["mx-sndif"]) == ["mx-sndif"]
    with pytest.raises(RegionalProblem):
        refused.call("mx-sndif", "GET", "/v1/consents")


def test_while_the_registry_is_down_the_last_snapshot_on_disk_decides(registry: Registry,
                                                                     tmp_path: Path):
    registry.activate()
    registry.consent()
    CountingClient(registry, tmp_path / "policy").refresh_snapshot("mx-sndif")
    key = public_jwk(load_or_create_private_key(registry.key_path))
    down = RegistryClient("http://127.0.0.1:9", {"mx-sndif": "enl_x"}, public_key=key,
                          snapshot_dir=tmp_path / "policy", country_of=INSTITUTIONS.__getitem__)
    decision = down.decide("mx-sndif", decision_body())
    assert (decision["decision"], decision["source"]) == ("allow", "snapshot")
    without = RegistryClient("http://127.0.0.1:9", {"mx-sndif": "enl_x"}, public_key=key,
                             snapshot_dir=tmp_path / "none", country_of=INSTITUTIONS.__getitem__)
    with pytest.raises(RegionalServiceDown):
        without.decide("mx-sndif", decision_body())
    assert without.refresh_snapshots(["mx-sndif"]) == ["mx-sndif"]


class Notices:
    def __init__(self) -> None:
        self.count = 0

    def changed(self) -> None:
        self.count += 1


def test_each_committed_change_of_agreements_or_consents_is_told_once(registry: Registry):
    notices = Notices()
    registry.client.app.state.policy_notices = notices  # type: ignore[attr-defined]
    agreement = registry.create()
    assert notices.count == 1
    registry.set_status(agreement["id"], "awaiting-signatures")
    assert notices.count == 2
    for party in agreement["parties"]:
        registry.sign(agreement["id"], 1, party)  # signed, and the last one activates
    assert notices.count == 4
    consent = registry.consent()
    assert notices.count == 5
    path = f"/v1/consents/{consent['id']}/withdrawal"
    registry.ok("mx-sndif", "POST", path, json=WITHDRAWAL)
    assert notices.count == 6
    # A refused change commits nothing, and tells nothing.
    assert registry.call("mx-sndif", "POST", path, json=WITHDRAWAL).status_code == 409
    # Reading tells nothing either.
    registry.decide()
    registry.ok("mx-sndif", "GET", "/v1/policy/snapshot")
    assert notices.count == 6


def test_a_snapshot_beyond_the_jose_librarys_default_size_is_taken(registry: Registry,
                                                                    gateway: CountingClient):
    """joserfc refuses payloads over 128 kB unless told otherwise: about 300 consents."""
    registry.activate()
    registry.consent()
    with session_scope(registry.engine) as session:
        for n in range(600):
            session.add(Consent(
                id=str(uuid.uuid4()), holder_id="mx-sndif", case_reference=f"MX-BULK-{n:05d}",
                basis="consent", given_by="guardian", child_heard=True,
                recipients=["hn-senaf"], purposes=["reception-and-care"],
                data_categories=["identity", "protection", "child-views"],
                valid_from=NOW - timedelta(days=1)))
    snapshot = gateway.refresh_snapshot("mx-sndif")
    assert len(snapshot.bases) == 601
    gateway.calls.clear()
    assert gateway.decide("mx-sndif", decision_body(case_reference="MX-BULK-00599"))[
        "source"] == "snapshot"
    assert gateway.calls == []
