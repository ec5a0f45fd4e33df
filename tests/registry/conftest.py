"""The registry in-process (no NATS; the harness of tests/inprocess.py), on a real database
migrated by Alembic: a SQLite file, and PostgreSQL when reachable. The directory's two
answers (keys, countries) are stood in for by FakeDirectory; the tests that need the real
directory and gateways are in tests/e2e."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import OKPKey

from services.registry.app import create_app
from services.registry.directory import DirectoryUnavailable, KeyChanges
from shared.kit.db import migrate, session_scope
from shared.protocol.audit_events import KeyRecord
from shared.protocol.auth import Role, issue_token
from shared.protocol.envelope import generate_signing_key, public_jwk, service_key_path, sign
from shared.protocol.settings import Settings
from tests.inprocess import database_fixture

INSTITUTIONS = {"mx-sndif": "MX", "mx-pfpnna": "MX", "hn-senaf": "HN", "gt-sbs": "GT"}
NOW = datetime.now(UTC)


class FakeDirectory:
    """Signing keys (valid since yesterday; `revoked` sets a revocation) and countries of
    the test institutions. `down` makes it answer as an unreachable directory would,
    `garbled` as one whose answers cannot be read."""

    def __init__(self) -> None:
        self.keys = {i: generate_signing_key() for i in INSTITUTIONS}
        self.revoked: dict[str, datetime] = {}
        self.down = False
        self.garbled = False
        # What the directory lists (`every`), by path: "/v1/focal-points", "/v1/institutions".
        self.entries: dict[str, list[dict[str, Any]]] = {}

    def signing_keys(self, institution_id: str) -> list[dict[str, Any]]:
        key = self.keys.get(institution_id)
        return [public_jwk(key)] if key else []

    def signing_key_records(self, institution_id: str) -> list[KeyRecord]:
        if self.down:
            raise DirectoryUnavailable("The directory cannot be reached.")
        if self.garbled:
            raise ValueError("the directory's answer is not a list of keys")
        return [KeyRecord(jwk=jwk, valid_from=NOW - timedelta(days=1),
                          revoked_at=self.revoked.get(institution_id))
                for jwk in self.signing_keys(institution_id)]

    def key_changes(self, since: int | None) -> KeyChanges:
        """It keeps no versions: any institution's keys may have changed."""
        if self.down:
            raise DirectoryUnavailable("The directory cannot be reached.")
        return KeyChanges(0, None)

    def country_of(self, institution_id: str) -> str:
        if self.down:
            raise DirectoryUnavailable("The directory cannot be reached.")
        return INSTITUTIONS.get(institution_id, "")

    def every(self, path: str, **params: str) -> list[dict[str, Any]]:
        if self.down:
            raise DirectoryUnavailable("The directory cannot be reached.")
        return list(self.entries.get(path, []))


def agreement_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "id": "agr-test", "title": "Test agreement", "parties": ["mx-sndif", "hn-senaf"],
        "message_types": ["referral"], "purposes": ["reception-and-care"],
        "data_categories": ["identity", "protection", "child-views"],
        "legal_bases": ["consent", "best-interests-determination"], "retention_days": 365,
        "valid_from": (NOW - timedelta(days=1)).isoformat(),
        "valid_to": (NOW + timedelta(days=365)).isoformat(),
    }
    return {**body, **overrides}


def consent_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "case_reference": "MX-TEST-0001", "basis": "consent", "given_by": "guardian",
        "child_heard": True, "child_views": "agrees", "recipients": ["hn-senaf"],
        "purposes": ["reception-and-care"],
        "data_categories": ["identity", "protection", "child-views"],
    }
    return {**body, **overrides}


def decision_body(**overrides: Any) -> dict[str, Any]:
    body = {"sender": "mx-sndif", "recipient": "hn-senaf", "message_type": "referral",
            "purpose": "reception-and-care", "data_categories": ["identity", "protection"],
            "case_reference": "MX-TEST-0001"}
    return {**body, **overrides}


class Registry:
    """The registry's API as the tests drive it, with a token per actor."""

    def __init__(self, client: TestClient, directory: FakeDirectory, tokens: dict[str, str],
                 key_path: Path, engine: Any) -> None:
        self.client = client
        self.directory = directory
        self.tokens = tokens
        self.key_path = key_path
        self.engine = engine

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return self.client.request(method, path, headers=headers, **kwargs)

    def ok(self, who: str, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(who, method, path, **kwargs)
        assert response.status_code in (200, 201), response.text
        return response.json()

    # Agreements

    def create(self, **overrides: Any) -> dict[str, Any]:
        return dict(self.ok("admin", "POST", "/v1/agreements", json=agreement_body(**overrides)))

    def set_status(self, agreement_id: str, status: str, version: int = 1) -> Any:
        return self.call("admin", "POST", f"/v1/agreements/{agreement_id}/versions/{version}"
                         "/status", json={"status": status})

    def signature(self, agreement_id: str, version: int, signer: str, *,
                  party: str | None = None, role: str = "country_admin",
                  key: OKPKey | None = None, content: dict[str, Any] | None = None) -> str:
        if content is None:
            content = self.ok(signer, "GET", f"/v1/agreements/{agreement_id}/versions/"
                              f"{version}/content")["content"]
        return sign({"type": "agreement-signature", "agreement": content,
                     "party": party or signer, "signer": signer, "signer_role": role,
                     "iat": int(time.time())},
                    key or self.directory.keys[signer],
                    media_type="enlace-agreement-signature+jws")

    def sign(self, agreement_id: str, version: int, signer: str, *,
             submitter: str | None = None, **kwargs: Any) -> Any:
        token = self.signature(agreement_id, version, signer, **kwargs)
        return self.call(submitter or signer, "POST",
                         f"/v1/agreements/{agreement_id}/versions/{version}/signatures",
                         json={"jws": token})

    def activate(self, **overrides: Any) -> dict[str, Any]:
        """Create, submit, and have every party sign (a country is signed for by one of its
        institutions)."""
        agreement = self.create(**overrides)
        assert self.set_status(agreement["id"], "awaiting-signatures").status_code == 200
        signers = {i: i for i in INSTITUTIONS} | {c: i for i, c in INSTITUTIONS.items()}
        for party in agreement["parties"]:
            response = self.sign(agreement["id"], 1, signers[party], party=party)
            assert response.status_code == 201, response.text
        result = dict(response.json())
        assert result["status"] == "active", result
        return result

    # Consents and decisions

    def consent(self, holder: str = "mx-sndif", **overrides: Any) -> dict[str, Any]:
        return dict(self.ok(holder, "POST", "/v1/consents", json=consent_body(**overrides)))

    def decide(self, actor: str = "mx-sndif", **overrides: Any) -> dict[str, Any]:
        return dict(self.ok(actor, "POST", "/v1/policy/decisions",
                            json=decision_body(**overrides)))

    def reasons(self, **overrides: Any) -> list[str]:
        decision = self.decide(**overrides)
        assert decision["decision"] == "deny", decision
        return [r["code"] for r in decision["reasons"]]

    # Audit

    def entries(self, **params: Any) -> list[dict[str, Any]]:
        return list(self.ok("auditor", "GET", "/v1/audit/entries",
                            params={"limit": 1000, **params})["items"])


database_url = database_fixture("registry")


@pytest.fixture
def registry(database_url: str, tmp_path: Path) -> Iterator[Registry]:
    migrate("services.registry", database_url)
    directory = FakeDirectory()
    data_dir = tmp_path / "registry-data"
    app = create_app(Settings(database_url=database_url, data_dir=data_dir),
                     directory=directory)
    tokens = {"admin": "enl_test-admin", "auditor": "enl_test-auditor"}
    with session_scope(app.state.engine) as session:
        issue_token(session, "crm-secretariat", "", Role.regional_admin, tokens["admin"])
        issue_token(session, "crm-secretariat", "", Role.auditor, tokens["auditor"])
        for institution, country in INSTITUTIONS.items():
            tokens[institution] = f"enl_test-gateway-{institution}"
            issue_token(session, institution, country, Role.gateway, tokens[institution])
    tokens[""] = ""
    # Not entered as a context manager: no lifespan, so no NATS; the API needs none.
    client = TestClient(app, raise_server_exceptions=False)
    yield Registry(client, directory, tokens, service_key_path(data_dir), app.state.engine)
    app.state.engine.dispose()
