"""All registry queries."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from services.registry.models import Agreement, AuditEntry


class RegistryRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def agreement(self, agreement_id: str) -> Agreement | None:
        return self.session.get(Agreement, agreement_id)

    def agreements(self) -> list[Agreement]:
        return list(self.session.exec(select(Agreement).order_by(col(Agreement.id))))

    def agreements_between(self, sender: str, recipient: str) -> list[Agreement]:
        # Few agreements exist (tens per institution); filtering parties in Python keeps
        # the query portable between SQLite and PostgreSQL JSON.
        return [a for a in self.agreements() if sender in a.parties and recipient in a.parties]

    def add_agreement(self, agreement: Agreement) -> None:
        self.session.add(agreement)
        self.session.flush()

    def append_audit(self, entry: AuditEntry) -> bool:
        """Insert unless an entry with this event id exists; True when inserted."""
        if self.session.exec(
            select(AuditEntry.seq).where(AuditEntry.event_id == entry.event_id)
        ).first() is not None:
            return False
        try:
            with self.session.begin_nested():
                self.session.add(entry)
        except IntegrityError:
            return False
        return True

    def audit_entries(
        self,
        *,
        message_id: str | None = None,
        institution_id: str | None = None,
        event_type: str | None = None,
        case_reference: str | None = None,
        after_seq: int = 0,
        limit: int = 100,
    ) -> list[AuditEntry]:
        query = select(AuditEntry).where(col(AuditEntry.seq) > after_seq)
        if message_id:
            query = query.where(AuditEntry.message_id == message_id)
        if institution_id:
            query = query.where(AuditEntry.institution_id == institution_id)
        if event_type:
            query = query.where(AuditEntry.event_type == event_type)
        if case_reference:
            query = query.where(AuditEntry.case_reference == case_reference)
        return list(self.session.exec(query.order_by(col(AuditEntry.seq)).limit(limit)))
