"""All registry queries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import SessionTransaction
from sqlmodel import col, select

from services.registry.models import (
    Agreement,
    AgreementSignature,
    AuditCheckpoint,
    AuditEntry,
    AuditNode,
    AuditQuarantine,
    AuditTree,
    Consent,
)
from shared.kit.db import Repository
from shared.kit.pagination import keyset

NodeKey = tuple[int, int]


def node_id(level: int, index: int) -> int:
    return index << 6 | level


class RegistryRepository(Repository):
    def savepoint(self) -> SessionTransaction:
        """What is written inside is undone alone if it raises; the transaction goes on."""
        return self.session.begin_nested()

    # Agreements -----------------------------------------------------------------------

    def agreement_versions(self, agreement_id: str | None = None) -> list[Agreement]:
        query = select(Agreement)
        if agreement_id is not None:
            query = query.where(Agreement.id == agreement_id)
        return list(self.session.exec(query.order_by(col(Agreement.id), col(Agreement.version))))

    def agreement_version(self, agreement_id: str, version: int) -> Agreement | None:
        return self.session.get(Agreement, (agreement_id, version))

    def signatures(self, agreement_id: str, version: int) -> list[AgreementSignature]:
        return list(self.session.exec(
            select(AgreementSignature)
            .where(AgreementSignature.agreement_id == agreement_id,
                   AgreementSignature.version == version)
            .order_by(col(AgreementSignature.signed_at))
        ))

    # Consents -------------------------------------------------------------------------

    def consent(self, consent_id: str) -> Consent | None:
        return self.session.get(Consent, consent_id)

    def consents(self, holder_id: str | None = None, case_reference: str | None = None,
                 limit: int = 1000, after: tuple[datetime, str] | None = None) -> list[Consent]:
        """Oldest recorded first; `after`: the (recorded_at, id) of a previous page's last."""
        order = (col(Consent.recorded_at), col(Consent.id))
        query = select(Consent)
        after_last = keyset(order, after)
        if after_last is not None:
            query = query.where(after_last)
        if holder_id is not None:
            query = query.where(Consent.holder_id == holder_id)
        if case_reference is not None:
            query = query.where(Consent.case_reference == case_reference)
        return list(self.session.exec(query.order_by(*order).limit(limit)))

    def consents_of_cases(self, cases: Iterable[tuple[str, str]]
                          ) -> dict[tuple[str, str], list[Consent]]:
        """The consents of each (holder, case reference), oldest recorded first, in one
        query (the pairs filtered in Python)."""
        wanted = set(cases)
        found: dict[tuple[str, str], list[Consent]] = {case: [] for case in wanted}
        if not wanted:
            return found
        query = select(Consent).where(
            col(Consent.holder_id).in_({holder for holder, _ in wanted}),
            col(Consent.case_reference).in_({case for _, case in wanted}))
        for consent in self.session.exec(
                query.order_by(col(Consent.recorded_at), col(Consent.id))):
            case = (consent.holder_id, consent.case_reference)
            if case in found:
                found[case].append(consent)
        return found

    def consents_for_snapshot(self, institution_id: str, country: str) -> list[Consent]:
        """Consents this institution holds or may receive under (scope filtered in Python:
        recipients are a JSON list, queried the same way on SQLite and PostgreSQL)."""
        return [c for c in self.session.exec(select(Consent))
                if c.holder_id == institution_id
                or institution_id in c.recipients or country in c.recipients]

    # Audit log ------------------------------------------------------------------------

    def lock_tree(self) -> int:
        """Take the log's write lock for this transaction and return the tree size."""
        self.session.execute(update(AuditTree).where(col(AuditTree.id) == 1)
                             .values(size=AuditTree.size))
        size = self.session.exec(select(AuditTree.size).where(AuditTree.id == 1)).first()
        if size is None:
            self.session.add(AuditTree(id=1, size=0))
            self.session.flush()
            return 0
        return int(size)

    def tree_size(self) -> int:
        size = self.session.exec(select(AuditTree.size).where(AuditTree.id == 1)).first()
        return int(size or 0)

    def set_tree_size(self, size: int) -> None:
        self.session.execute(update(AuditTree).where(col(AuditTree.id) == 1).values(size=size))

    def known_event_ids(self, event_ids: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(event_ids), 500):
            chunk = event_ids[i:i + 500]
            found.update(self.session.exec(
                select(AuditEntry.event_id).where(col(AuditEntry.event_id).in_(chunk))))
        return found

    def insert_entries(self, rows: list[dict[str, Any]],
                       nodes: list[tuple[NodeKey, bytes]]) -> None:
        # Core executemany, not the ORM's bulk path: appends are the log's hot path.
        connection = self.session.connection()
        if rows:
            connection.execute(insert(AuditEntry.__table__), rows)  # type: ignore[attr-defined]
        if nodes:
            connection.execute(insert(AuditNode.__table__), [  # type: ignore[attr-defined]
                {"node_id": node_id(level, index), "hash": h} for (level, index), h in nodes
            ])

    def node_hashes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        """Hashes of full subtrees: leaves from audit_entries, higher levels from audit_nodes."""
        keys = set(keys)
        leaves = [index for level, index in keys if level == 0]
        inner = {node_id(level, index): (level, index) for level, index in keys if level > 0}
        found: dict[NodeKey, bytes] = {}
        for i in range(0, len(leaves), 500):
            rows = self.session.execute(
                select(AuditEntry.leaf_index, AuditEntry.leaf_hash)
                .where(col(AuditEntry.leaf_index).in_(leaves[i:i + 500])))
            found.update({(0, index): h for index, h in rows})
        ids = list(inner)
        for i in range(0, len(ids), 500):
            rows = self.session.execute(
                select(AuditNode.node_id, AuditNode.hash)
                .where(col(AuditNode.node_id).in_(ids[i:i + 500])))
            found.update({inner[nid]: h for nid, h in rows})
        return found

    def latest_checkpoint(self) -> AuditCheckpoint | None:
        return self.session.exec(
            select(AuditCheckpoint).order_by(col(AuditCheckpoint.tree_size).desc()).limit(1)
        ).first()

    def checkpoint(self, tree_size: int) -> AuditCheckpoint | None:
        return self.session.get(AuditCheckpoint, tree_size)

    def checkpoint_before(self, tree_size: int) -> AuditCheckpoint | None:
        """The newest checkpoint of a smaller tree (the one to check consistency against)."""
        return self.session.exec(
            select(AuditCheckpoint).where(col(AuditCheckpoint.tree_size) < tree_size)
            .order_by(col(AuditCheckpoint.tree_size).desc()).limit(1)
        ).first()

    def add_checkpoint(self, checkpoint: AuditCheckpoint) -> AuditCheckpoint:
        """Store it, unless a concurrent request stored one for this size first."""
        try:
            with self.session.begin_nested():
                self.session.add(checkpoint)
        except IntegrityError:
            existing = self.checkpoint(checkpoint.tree_size)
            assert existing is not None
            return existing
        return checkpoint

    def audit_entries(
        self,
        *,
        message_id: str | None = None,
        institution_id: str | None = None,
        event_types: list[str] | None = None,
        case_reference: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_seq: int = 0,
        limit: int = 100,
    ) -> list[AuditEntry]:
        query = select(AuditEntry).where(col(AuditEntry.seq) > after_seq)
        if message_id:
            query = query.where(AuditEntry.message_id == message_id)
        if institution_id:
            query = query.where(AuditEntry.institution_id == institution_id)
        if event_types:
            query = query.where(col(AuditEntry.event_type).in_(event_types))
        if case_reference:
            query = query.where(AuditEntry.case_reference == case_reference)
        if since:
            query = query.where(AuditEntry.occurred_at >= since)
        if until:
            query = query.where(AuditEntry.occurred_at < until)
        return list(self.session.exec(query.order_by(col(AuditEntry.seq)).limit(limit)))

    def quarantine_audit_events(self, rows: list[AuditQuarantine]) -> int:
        """Store refused events not quarantined before (by the hash of their bytes)."""
        hashes = {r.sha256 for r in rows}
        known = set(self.session.exec(select(AuditQuarantine.sha256).where(
            col(AuditQuarantine.sha256).in_(hashes)))) if hashes else set()
        fresh = {r.sha256: r for r in rows if r.sha256 not in known}
        self.session.add_all(fresh.values())
        return len(fresh)

    def audit_quarantine(self, *, reason: str | None = None, institution_id: str | None = None,
                         after_id: int = 0, limit: int = 100) -> list[AuditQuarantine]:
        query = select(AuditQuarantine).where(col(AuditQuarantine.id) > after_id)
        if reason:
            query = query.where(AuditQuarantine.reason == reason)
        if institution_id:
            query = query.where(AuditQuarantine.institution_id == institution_id)
        return list(self.session.exec(query.order_by(col(AuditQuarantine.id)).limit(limit)))
