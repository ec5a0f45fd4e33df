"""The console's check of the audit log (services/registry/console/checkpoint.py): the checks
of `enlace audit verify`, in-process. It must pass on an honest log and fail on a changed
entry or a rewritten history."""

from __future__ import annotations

import os

from sqlalchemy import text

from services.registry.audit_log import AuditLog, iso_utc
from services.registry.console.checkpoint import Verification, verify_log_here
from services.registry.models import AuditCheckpoint
from services.registry.repository import RegistryRepository
from shared.kit.db import session_scope, utcnow
from shared.protocol.documents import AUDIT_CHECKPOINT
from shared.protocol.envelope import load_or_create_private_key, sign
from tests.registry.conftest import Registry
from tests.registry.test_audit_api import event, ingest


def check(registry: Registry) -> Verification:
    key = load_or_create_private_key(registry.key_path)
    with session_scope(registry.engine) as session:
        return verify_log_here(AuditLog(RegistryRepository(session)), key, registry.directory)


async def test_an_honest_log_verifies_against_the_checkpoint_held_before(registry: Registry):
    await ingest(registry, event(0), event(1))
    registry.ok("", "GET", "/v1/audit/checkpoint")  # held: the checkpoint of 2 entries
    await ingest(registry, event(2, event_type="record-read", institution_id="hn-senaf",
                                 detail={"role": "caseworker"}), subject="enlace.audit.HN")
    result = check(registry)
    assert result.verified, result.failure
    assert result.latest is not None and result.latest.tree_size == 3
    assert result.previous is not None and result.previous.tree_size == 2
    assert (result.entries, result.signed, result.unsigned) == (3, 3, 0)
    # Without the directory the signatures go unchecked, and the rest still stands.
    registry.directory.down = True
    result = check(registry)
    assert result.verified and result.signed is None


async def test_a_changed_entry_fails(registry: Registry):
    await ingest(registry, event(0), event(1), event(2))
    with registry.engine.begin() as connection:
        connection.execute(text("UPDATE audit_entries SET institution_id = 'gt-sbs' "
                                "WHERE leaf_index = 1"))
    result = check(registry)
    assert not result.verified
    assert result.failure is not None and "leaf index 1" in result.failure


async def test_a_rewritten_history_fails(registry: Registry):
    await ingest(registry, event(0), event(1), event(2))
    # A checkpoint of 2 entries, signed by the registry's key, over another root.
    key = load_or_create_private_key(registry.key_path)
    root = os.urandom(32)
    token = sign({"v": "1", "type": "audit-checkpoint", "tree_size": 2,
                  "root_hash": root.hex(), "issued_at": iso_utc(utcnow())},
                 key, media_type=AUDIT_CHECKPOINT.media_type)
    with session_scope(registry.engine) as session:
        session.add(AuditCheckpoint(tree_size=2, root_hash=root, issued_at=utcnow(), jws=token))
    result = check(registry)
    assert not result.verified
    assert result.failure is not None and "history rewritten" in result.failure
