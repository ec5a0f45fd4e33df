"""The signed documents' kinds (shared/protocol/documents.py) accept what their signers
sign, and nothing of another kind."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from services.directory.snapshot import sign_snapshot
from shared.kit.signed import DocumentRejected, verify_document
from shared.protocol.documents import AUDIT_CHECKPOINT, DIRECTORY_SNAPSHOT, POLICY_SNAPSHOT
from shared.protocol.envelope import generate_signing_key, public_jwk, sign
from shared.protocol.policy import PolicySnapshot


def test_a_directory_snapshot_as_the_directory_signs_it():
    key = generate_signing_key()
    token = sign_snapshot({"version": 3, "institutions": []}, key, ttl_seconds=60)
    payload = verify_document(token, public_jwk(key), DIRECTORY_SNAPSHOT, time.time(), held=3)
    assert payload["version"] == 3
    with pytest.raises(DocumentRejected, match="older_than_held"):
        verify_document(token, public_jwk(key), DIRECTORY_SNAPSHOT, time.time(), held=4)
    with pytest.raises(DocumentRejected, match="wrong_type"):
        verify_document(token, public_jwk(key), POLICY_SNAPSHOT, time.time())


def test_a_policy_snapshot_as_the_registry_signs_it():
    key = generate_signing_key()
    now = int(datetime.now(UTC).timestamp())
    snapshot = PolicySnapshot(institution_id="mx-sndif", issued_at=now, expires_at=now + 60,
                              agreements=[], bases=[])
    token = sign(snapshot.model_dump(mode="json"), key, POLICY_SNAPSHOT.media_type)
    payload = verify_document(token, public_jwk(key), POLICY_SNAPSHOT, now, held=now)
    assert PolicySnapshot.model_validate(payload) == snapshot
    with pytest.raises(DocumentRejected, match="expired"):
        verify_document(token, public_jwk(key), POLICY_SNAPSHOT, now + 60)
    with pytest.raises(DocumentRejected, match="wrong_type"):
        verify_document(token, public_jwk(key), AUDIT_CHECKPOINT, now)
