"""The audit log: an RFC 9162 Merkle tree over canonical entries, with signed checkpoints.

Appending takes the log's lock (a row update), so leaf indexes are contiguous on SQLite
and PostgreSQL alike; each new leaf also stores the full subtrees it completes, so a
proof reads O(log n) stored hashes instead of rehashing the log.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from joserfc.jwk import OKPKey

from services.registry import merkle
from services.registry.models import AuditCheckpoint
from services.registry.repository import RegistryRepository
from shared.kit.db import utcnow
from shared.kit.errors import Unprocessable
from shared.protocol.audit_events import AUDIT_EVENT_MEDIA_TYPE
from shared.protocol.documents import AUDIT_CHECKPOINT
from shared.protocol.envelope import sign

ENTRY_FIELDS = ("event_id", "event_type", "occurred_at", "recorded_at", "source",
                "institution_id", "counterpart_id", "message_id", "message_type",
                "case_reference", "agreement_id", "detail")
CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                                  allow_nan=False)


def iso_utc(moment: datetime) -> str:
    """`2026-11-22T10:00:00.000000Z`: UTC, always six decimals, as entries are hashed."""
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def canonical_entry(entry: Any) -> bytes:
    """The exact bytes a leaf hashes (docs/registry.md, "Canonical entry"): version "2"
    commits to the signed event (`jws`) too; entries made before events were signed keep
    version "1", without it, so their leaves do not change."""
    if not isinstance(entry, dict):
        entry = {name: getattr(entry, name) for name in (*ENTRY_FIELDS, "jws")}
    document = {name: entry[name] for name in ENTRY_FIELDS}
    document["v"] = "1"
    if entry.get("jws") is not None:
        document["v"], document["jws"] = "2", entry["jws"]
    for name in ("occurred_at", "recorded_at"):
        if isinstance(document[name], datetime):
            document[name] = iso_utc(document[name])
    return CANONICAL_JSON.encode(document).encode()


class AuditLog:
    def __init__(self, repo: RegistryRepository, key: OKPKey | None = None) -> None:
        self.repo = repo
        self.key = key  # the registry's service key, for the entries it makes itself

    # Appending ------------------------------------------------------------------------

    def append(self, events: list[dict[str, Any]], source: str) -> int:
        """Append events not seen before (by event_id), in order; return how many.

        Each event has the members of ENTRY_FIELDS but the registry's own, and its `jws`."""
        size = self.repo.lock_tree()
        known = self.repo.known_event_ids([e["event_id"] for e in events])
        fresh: dict[str, dict[str, Any]] = {}
        for event in events:
            if event["event_id"] not in known:
                fresh.setdefault(event["event_id"], event)
        if not fresh:
            return 0
        frontier = self._frontier(size)
        recorded_at = utcnow()
        recorded = iso_utc(recorded_at)
        rows, nodes = [], []
        for event in fresh.values():
            row = {**event, "source": source, "recorded_at": recorded_at,
                   "leaf_index": frontier.size}
            row["leaf_hash"] = merkle.leaf_hash(canonical_entry({**row, "recorded_at": recorded}))
            nodes.extend(frontier.append(row["leaf_hash"]))
            rows.append(row)
        self.repo.insert_entries(rows, nodes)
        self.repo.set_tree_size(frontier.size)
        return len(rows)

    def record(self, event_type: str, institution_id: str, **fields: Any) -> None:
        """An entry made by the registry itself (agreement and consent changes)."""
        self.append([self.own_entry(event_type, institution_id, **fields)], source="registry")

    def own_entry(self, event_type: str, institution_id: str, **fields: Any) -> dict[str, Any]:
        """An entry of the registry's own, to append with source "registry": signed with
        the registry's key in the same form as a gateway's event (docs/protocol.md §10)."""
        if self.key is None:
            raise RuntimeError("the registry's own audit entries need its signing key")
        event: dict[str, Any] = {
            "event_id": str(uuid.uuid4()), "event_type": str(event_type),
            "occurred_at": iso_utc(utcnow()), "institution_id": institution_id,
            "counterpart_id": None, "message_id": None, "message_type": None,
            "case_reference": None, "agreement_id": None, "detail": {}, **fields,
        }
        token = sign({"v": "1", **event}, self.key, media_type=AUDIT_EVENT_MEDIA_TYPE)
        occurred_at = datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))
        return {**event, "occurred_at": occurred_at, "jws": token}

    def _frontier(self, size: int) -> merkle.Frontier:
        keys = merkle.full_subtrees(0, size)
        hashes = self.repo.node_hashes(keys)
        return merkle.Frontier(size, [hashes[key] for key in keys])

    # Reading --------------------------------------------------------------------------

    def size(self) -> int:
        return self.repo.tree_size()

    def _hashes(self, ranges: list[merkle.Range]) -> list[bytes]:
        nodes = self.repo.node_hashes(merkle.needed_nodes(ranges))
        return [merkle.range_hash(start, end, nodes) for start, end in ranges]

    def _check_size(self, tree_size: int) -> None:
        if tree_size > self.size():
            raise Unprocessable("The tree is not that large yet.", code="tree_size_too_large")

    def root(self, tree_size: int) -> bytes:
        return self._hashes([(0, tree_size)])[0] if tree_size else merkle.EMPTY_ROOT

    def inclusion_proof(self, leaf_index: int, tree_size: int) -> tuple[bytes, list[bytes]]:
        self._check_size(tree_size)
        if not 0 <= leaf_index < tree_size:
            raise Unprocessable("leaf_index must be below tree_size.", code="invalid_proof_request")
        hashes = self._hashes([(leaf_index, leaf_index + 1),
                               *merkle.inclusion_ranges(leaf_index, tree_size)])
        return hashes[0], hashes[1:]

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        self._check_size(second)
        if not 0 < first <= second:
            raise Unprocessable("Ask with 0 < first <= second.", code="invalid_proof_request")
        return self._hashes(merkle.consistency_ranges(first, second))

    def subtree(self, start: int, end: int) -> tuple[bytes, bytes | None, bytes | None]:
        """A node of the tree and its two children: lets a verifier find where hashes part."""
        self._check_size(end)
        if not merkle.is_tree_range(start, end):
            raise Unprocessable("[start, end) is not a node of the tree.", code="invalid_range")
        if end - start == 1:
            return self._hashes([(start, end)])[0], None, None
        middle = start + merkle.split_point(end - start)
        whole, left, right = self._hashes([(start, end), (start, middle), (middle, end)])
        return whole, left, right

    # Checkpoints ----------------------------------------------------------------------

    def checkpoint(self, key: OKPKey) -> AuditCheckpoint:
        """The signed checkpoint of the current tree, made once per tree size."""
        size = self.size()
        latest = self.repo.latest_checkpoint()
        if latest is not None and latest.tree_size == size:
            return latest
        existing = self.repo.checkpoint(size)
        if existing is not None:
            return existing
        root, issued_at = self.root(size), utcnow()
        token = sign({"v": "1", **AUDIT_CHECKPOINT.claims, "tree_size": size,
                      "root_hash": root.hex(), "issued_at": iso_utc(issued_at)},
                     key, media_type=AUDIT_CHECKPOINT.media_type)
        return self.repo.add_checkpoint(AuditCheckpoint(
            tree_size=size, root_hash=root, issued_at=issued_at, jws=token))
