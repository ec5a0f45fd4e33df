"""The console's check of the audit log: the checks of `enlace audit verify`
(services/audit_verify.py), run in-process on what the registry holds.

The checkpoint's signature is checked with the registry's public key only; the newest
checkpoint of a smaller tree that the registry issued earlier is checked against it with an
RFC 9162 consistency proof; the entries must reproduce the signed root; and each entry's
signature is checked with its asserter's keys from the directory (when it answers).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.jwk import OKPKey

from services.audit_verify import (
    PAGE,
    Checkpoint,
    VerificationFailed,
    check_consistency,
    check_entries,
    check_signatures,
    read_checkpoint,
)
from services.registry.audit_log import AuditLog
from services.registry.directory import Directory
from services.registry.schemas import AuditEntryPublic
from shared.kit.errors import Problem
from shared.protocol.audit_events import KeyRecord
from shared.protocol.envelope import public_jwk


class LocalLog:
    """The registry's audit API (the parts the checks read), answered in-process."""

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit

    def get(self, path: str, **params: Any) -> Any:
        if path == "/v1/audit/proofs/consistency":
            proof = self.audit.consistency_proof(int(params["first"]), int(params["second"]))
            return {"consistency_path": [h.hex() for h in proof]}
        if path == "/v1/audit/tree":
            whole, left, right = self.audit.subtree(int(params["start"]), int(params["end"]))
            return {"hash": whole.hex(), "left_hash": left.hex() if left else None,
                    "right_hash": right.hex() if right else None}
        raise ValueError(f"not answered in-process: {path}")

    def entries(self) -> Iterator[dict[str, Any]]:
        after = 0
        while True:
            rows = self.audit.repo.audit_entries(after_seq=after, limit=PAGE)
            for row in rows:
                yield AuditEntryPublic.model_validate(row).model_dump(mode="json")
            if len(rows) < PAGE:
                return
            after = rows[-1].seq or 0


class DirectoryKeySource:
    """audit_verify's KeySource over the registry's own directory client, one read per
    institution."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self._keys: dict[str, list[KeyRecord]] = {}

    def of(self, institution_id: str) -> list[KeyRecord]:
        if institution_id not in self._keys:
            self._keys[institution_id] = self.directory.signing_key_records(institution_id)
        return self._keys[institution_id]

    def country_of(self, institution_id: str) -> str | None:
        return self.directory.country_of(institution_id)


@dataclass
class Verification:
    latest: Checkpoint | None = None
    previous: Checkpoint | None = None  # None: the registry holds no earlier checkpoint
    entries: int = 0
    signed: int | None = None  # None: signatures not checked (the directory did not answer)
    unsigned: int = 0
    failure: str | None = None

    @property
    def verified(self) -> bool:
        return self.failure is None


def verify_log_here(audit: AuditLog, key: OKPKey, directory: Directory) -> Verification:
    public_key = public_jwk(key)
    log = LocalLog(audit)
    result = Verification()
    try:
        result.latest = read_checkpoint(audit.checkpoint(key).jws, public_key)
        held = audit.repo.checkpoint_before(result.latest.tree_size)
        if held is not None:
            result.previous = read_checkpoint(held.jws, public_key)
            check_consistency(log, result.previous, result.latest)
        items = check_entries(log, result.latest)
        result.entries = len(items)
        try:
            result.signed, result.unsigned = check_signatures(
                items, public_key, DirectoryKeySource(directory))
        except (Problem, httpx.HTTPError):
            result.signed = None  # the directory is down: the rest stands
    except VerificationFailed as failed:
        result.failure = str(failed)
    return result
