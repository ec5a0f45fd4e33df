"""The queries of the outbox and the quarantine."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, not_, or_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select

from services.exchange.referrals.lifecycle import mark_sent
from services.exchange.transport.models import OutboxMessage, QuarantinedMessage, QuarantineQuota
from shared.kit.db import Repository, utcnow


class OutboxRepository(Repository):
    def pending_outbox_count(self) -> int:
        query = select(func.count()).select_from(OutboxMessage).where(
            col(OutboxMessage.published_at).is_(None))
        return int(self.session.exec(query).one())

    def pending_outbox(self, limit: int) -> list[OutboxMessage]:
        query = (
            select(OutboxMessage)
            .where(col(OutboxMessage.published_at).is_(None))
            .order_by(col(OutboxMessage.seq))
            .limit(limit)
        )
        return list(self.session.exec(query))

    def mark_published(self, seqs: list[int]) -> None:
        now = utcnow()
        self.session.execute(
            update(OutboxMessage).where(col(OutboxMessage.seq).in_(seqs)).values(published_at=now),
            execution_options={"synchronize_session": False},  # rows this session holds not
        )
        referral_ids = select(OutboxMessage.referral_id).where(
            col(OutboxMessage.seq).in_(seqs), col(OutboxMessage.referral_id).is_not(None)
        )
        mark_sent(self.session, referral_ids, now)


class QuarantineRepository(Repository):
    def add_quarantined(self, row: QuarantinedMessage) -> bool:
        """Always True; a failed write raises (a concurrent copy of the message included:
        it is then retried and found by `is_quarantined`)."""
        self.session.add(row)
        self.session.flush()
        return True

    def is_quarantined(self, stream_sequence: int) -> bool:
        query = select(QuarantinedMessage.id).where(
            QuarantinedMessage.stream_sequence == stream_sequence)
        return self.session.exec(query).first() is not None

    def take_quarantine_slot(self, sender: str, quota: int, reason: str) -> bool:
        """One more message of `sender` ("" for the unproven) kept, if its quota allows;
        else it is only counted. Atomic: the row update waits for a concurrent one."""
        row = col(QuarantineQuota.sender) == sender
        take = (update(QuarantineQuota).where(row, col(QuarantineQuota.kept) < quota)
                .values(kept=QuarantineQuota.kept + 1))
        if self.session.execute(take).rowcount == 1:  # type: ignore[attr-defined]
            return True
        if self.session.get(QuarantineQuota, sender) is None:  # the sender's first
            table = QuarantineQuota.__table__  # type: ignore[attr-defined]
            dialect = self.session.get_bind().dialect.name
            insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
            self.session.execute(insert(table).values(sender=sender, kept=0, over=0)
                                 .on_conflict_do_nothing(index_elements=["sender"]))
            if self.session.execute(take).rowcount == 1:  # type: ignore[attr-defined]
                return True
        self.session.execute(update(QuarantineQuota).where(row).values(
            over=QuarantineQuota.over + 1, last_over_reason=reason, last_over_at=utcnow()))
        return False

    def quarantine_over_quota(self) -> list[QuarantineQuota]:
        query = (select(QuarantineQuota).where(col(QuarantineQuota.over) > 0)
                 .order_by(col(QuarantineQuota.sender)))
        return list(self.session.exec(query))

    def quarantine(self, limit: int, country: str, institution_id: str,
                   unaddressed_except: list[str] | None = None,
                   before_id: int | None = None) -> list[QuarantinedMessage]:
        """Entries whose subject names `institution_id` as recipient; with
        `unaddressed_except`, also those naming none of `institution_id` and these; newest
        first, older than `before_id` if given."""
        def addressed_to(institution: str) -> Any:
            prefix = f"enlace.msg.{country}.{institution}."
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return col(QuarantinedMessage.subject).like(escaped + "%", escape="\\")

        scope = addressed_to(institution_id)
        if unaddressed_except is not None:
            hosted = [addressed_to(i) for i in [institution_id, *unaddressed_except]]
            scope = or_(scope, not_(or_(*hosted)))
        query = (select(QuarantinedMessage).where(scope)
                 .order_by(col(QuarantinedMessage.id).desc()))
        if before_id is not None:
            query = query.where(col(QuarantinedMessage.id) < before_id)
        return list(self.session.exec(query.limit(limit)))
