"""What one batch of audit events costs the registry and the directory: the directory's
signing keys are read once and kept (a revocation and a new key still count at the next
batch), the batch is one transaction, and the policy check reads consents once.

The directory here is the real one (migrated, seeded, in-process), asked through the
registry's own DirectoryLookup with every request counted."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import OKPKey
from sqlalchemy import event as sql_event
from sqlmodel import select

from services.directory.app import create_app as create_directory
from services.directory.seed import provision_directory
from services.registry.directory import DirectoryLookup
from services.registry.messaging import AuditIngest
from services.registry.models import AuditEntry, AuditQuarantine
from services.registry.repository import RegistryRepository
from shared.kit.db import make_engine, migrate, session_scope
from shared.protocol.audit_events import AUDIT_EVENT_MEDIA_TYPE
from shared.protocol.auth import new_token
from shared.protocol.envelope import generate_signing_key, load_or_create_private_key, sign
from shared.protocol.settings import Settings
from tests.registry.conftest import Registry
from tests.registry.test_audit_api import FakeMsg
from tests.registry.test_policy_mismatch import consent, referral_event

BATCH = 20


class CountedDirectory:
    """The real directory app, the registry's lookup over it, and the paths it was asked."""

    def __init__(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path}/directory.db"
        self.tokens = {"gateway": new_token(), "admin": new_token(), "registry": new_token()}
        provision_directory(url, {"mx-sndif": self.tokens["gateway"]}, self.tokens["admin"],
                            registry_token=self.tokens["registry"])
        self.app = create_directory(Settings(database_url=url, data_dir=tmp_path / "data",
                                             _env_file=None))
        self.asked: list[str] = []
        client = TestClient(self.app)
        client.event_hooks = {"request": [lambda request: self.asked.append(request.url.path)]}
        self.lookup = DirectoryLookup("http://testserver", self.tokens["registry"], client)
        self.gateway = TestClient(self.app, headers={
            "Authorization": f"Bearer {self.tokens['gateway']}"})

    def register(self, key: OKPKey) -> str:
        response = self.gateway.post("/v1/institutions/mx-sndif/keys",
                                     json={**key.as_dict(private=False), "use": "sig"})
        assert response.status_code == 201, response.text
        return str(response.json()["kid"])

    def revoke(self, kid: str) -> None:
        response = self.gateway.post(f"/v1/institutions/mx-sndif/keys/{kid}/revocation",
                                     json={"reason": "key-compromise"})
        assert response.status_code == 200, response.text

    def key_reads(self) -> int:
        return sum(path.endswith("/keys") for path in self.asked)

    def close(self) -> None:
        self.lookup.close()
        self.gateway.close()
        self.app.state.engine.dispose()


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[CountedDirectory]:
    counted = CountedDirectory(tmp_path)
    yield counted
    counted.close()


@pytest.fixture
def engine(database_url: str) -> Iterator[Any]:
    migrate("services.registry", database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def sent(n: int) -> dict[str, Any]:
    return {"v": "1", "event_id": str(uuid.uuid4()), "event_type": "sent",
            "occurred_at": datetime.now(UTC).isoformat(), "institution_id": "mx-sndif",
            "counterpart_id": "hn-senaf", "message_id": str(uuid.uuid4()),
            "message_type": "referral", "case_reference": f"MX-CASE-{n}",
            "agreement_id": "agr-test",
            "detail": {"categories": ["identity"], "withheld_categories": []}}


async def ingest(ingest: AuditIngest, key: OKPKey, count: int) -> list[str]:
    messages = [FakeMsg(sign(sent(n), key, AUDIT_EVENT_MEDIA_TYPE).encode())
                for n in range(count)]
    await ingest.handle_batch(messages)  # type: ignore[arg-type]
    return [m.outcome for m in messages]


def stored(engine: Any) -> tuple[int, list[str]]:
    """How many entries the log holds, and the quarantine's reasons."""
    with session_scope(engine) as session:
        return (len(session.exec(select(AuditEntry)).all()),
                [q.reason for q in session.exec(select(AuditQuarantine))])


async def test_a_batch_reads_the_keys_once_and_the_next_batch_not_at_all(
        directory: CountedDirectory, engine: Any):
    key = generate_signing_key()
    directory.register(key)
    consumer = AuditIngest(engine, directory.lookup)
    assert await ingest(consumer, key, BATCH) == ["ack"] * BATCH
    assert directory.key_reads() == 1
    directory.asked.clear()
    assert await ingest(consumer, key, BATCH) == ["ack"] * BATCH
    assert directory.key_reads() == 0
    assert directory.asked == ["/v1/snapshot"]  # what changed since: nothing
    assert stored(engine) == (2 * BATCH, [])


async def test_a_key_revoked_after_it_was_kept_is_refused(directory: CountedDirectory,
                                                          engine: Any):
    key = generate_signing_key()
    kid = directory.register(key)
    consumer = AuditIngest(engine, directory.lookup)
    assert await ingest(consumer, key, 1) == ["ack"]
    directory.revoke(kid)
    assert await ingest(consumer, key, 2) == ["ack", "ack"]
    assert stored(engine) == (1, ["revoked_key", "revoked_key"])


async def test_a_key_registered_after_the_others_were_kept_is_read(
        directory: CountedDirectory, engine: Any):
    first, second = generate_signing_key(), generate_signing_key()
    directory.register(first)
    consumer = AuditIngest(engine, directory.lookup)
    assert await ingest(consumer, first, 1) == ["ack"]
    directory.register(second)
    directory.asked.clear()
    assert await ingest(consumer, second, BATCH) == ["ack"] * BATCH
    assert directory.key_reads() == 1
    assert stored(engine) == (1 + BATCH, [])


async def test_an_unknown_kid_is_read_once_per_batch_not_once_per_event(
        directory: CountedDirectory, engine: Any):
    directory.register(generate_signing_key())
    consumer = AuditIngest(engine, directory.lookup)
    assert await ingest(consumer, generate_signing_key(), BATCH) == ["ack"] * BATCH
    assert directory.key_reads() == 1
    assert stored(engine) == (0, ["unknown_key"] * BATCH)


async def test_the_directory_down_between_batches_means_later(directory: CountedDirectory,
                                                              engine: Any):
    key = generate_signing_key()
    directory.register(key)
    consumer = AuditIngest(engine, directory.lookup)
    assert await ingest(consumer, key, 1) == ["ack"]
    directory.lookup.http.close()  # the registry can no longer reach the directory
    directory.lookup.http = httpx.Client(transport=httpx.MockTransport(
        lambda request: httpx.Response(503)), base_url="http://testserver")
    assert await ingest(consumer, key, 2) == ["nak", "nak"]
    assert stored(engine) == (1, [])


async def test_a_batch_is_one_transaction_and_reads_consents_once(registry: Registry):
    registry.activate()
    consent(registry)
    commits: list[int] = []
    consent_reads: list[str] = []
    sql_event.listen(registry.engine, "commit", lambda connection: commits.append(1))

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM consents" in statement:
            consent_reads.append(statement)

    sql_event.listen(registry.engine, "before_cursor_execute", count)
    events = [referral_event("sent", case_reference=f"MX-TEST-{n:04d}") for n in range(BATCH)]
    messages = [FakeMsg(sign(e, registry.directory.keys["mx-sndif"],
                             AUDIT_EVENT_MEDIA_TYPE).encode()) for e in events]
    key = load_or_create_private_key(registry.key_path)
    await AuditIngest(registry.engine, registry.directory, key).handle_batch(
        messages)  # type: ignore[arg-type]
    assert [m.outcome for m in messages] == ["ack"] * BATCH
    assert len(commits) == 1
    assert len(consent_reads) == 1
    # All but MX-TEST-0001 have no consent: flagged, beside their events, in that commit.
    flagged = registry.entries(event_type="policy-mismatch")
    assert len(flagged) == BATCH - 1
    assert {e["detail"]["reasons"][0] for e in flagged} == {"no_consent"}


async def test_a_batch_that_fails_to_commit_leaves_nothing_half_written(
        registry: Registry, monkeypatch: pytest.MonkeyPatch):
    registry.activate()
    good = referral_event("sent", case_reference="MX-NO-CONSENT")  # flagged: no consent
    forged = sign(referral_event("sent"), generate_signing_key(), AUDIT_EVENT_MEDIA_TYPE)
    key = load_or_create_private_key(registry.key_path)

    async def batch() -> list[str]:
        messages = [FakeMsg(sign(good, registry.directory.keys["mx-sndif"],
                                 AUDIT_EVENT_MEDIA_TYPE).encode()), FakeMsg(forged.encode())]
        await AuditIngest(registry.engine, registry.directory, key).handle_batch(
            messages)  # type: ignore[arg-type]
        return [m.outcome for m in messages]

    def broken(self: RegistryRepository, rows: list[Any]) -> int:
        raise RuntimeError("the database fails at the batch's last write")

    entries_before = len(registry.entries())
    with monkeypatch.context() as patched:
        patched.setattr(RegistryRepository, "quarantine_audit_events", broken)
        assert await batch() == ["nak", "nak"]
    assert len(registry.entries()) == entries_before
    assert registry.ok("auditor", "GET", "/v1/audit/quarantine")["items"] == []
    assert await batch() == ["ack", "ack"]  # redelivered: all of it, once
    assert [e["event_id"] for e in registry.entries(event_type="sent")] == [good["event_id"]]
    assert len(registry.entries(event_type="policy-mismatch")) == 1
    assert [q["reason"] for q in registry.ok("auditor", "GET", "/v1/audit/quarantine")[
        "items"]] == ["unknown_key"]
