"""The queries of referrals and their steps."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, or_
from sqlmodel import col, select

from services.exchange.referrals.models import Referral, ReferralEvent
from shared.kit.db import Repository


class ReferralRepository(Repository):
    def referral(self, referral_id: str, direction: str) -> Referral | None:
        return self.session.get(Referral, (referral_id, direction))

    def referral_of(self, referral_id: str, institution_id: str) -> Referral | None:
        """The row of the referral whose local party is the institution."""
        query = select(Referral).where(Referral.id == referral_id,
                                       _local_party_in([institution_id]))
        return self.session.exec(query).first()

    def referrals_of(
        self,
        institution_ids: list[str],
        direction: str | None,
        status: str | None,
        limit: int,
        before: str | None,
    ) -> list[Referral]:
        query = select(Referral).where(_local_party_in(institution_ids))
        if direction:
            query = query.where(Referral.direction == direction)
        if status:
            query = query.where(Referral.status == status)
        if before:
            cursor = self.session.exec(select(Referral).where(
                Referral.id == before, _local_party_in(institution_ids))).first()
            if cursor is not None:
                query = query.where(or_(
                    col(Referral.created_at) < cursor.created_at,
                    and_(col(Referral.created_at) == cursor.created_at,
                         col(Referral.id) < cursor.id),
                ))
        order = (col(Referral.created_at).desc(), col(Referral.id).desc())
        return list(self.session.exec(query.order_by(*order).limit(limit)))

    def events(self, referral: Referral) -> list[ReferralEvent]:
        return list(self.session.exec(_EVENTS_OF,
                                      params={"id": referral.id, "direction": referral.direction}))

    def event(self, event_id: str, referral: Referral) -> ReferralEvent | None:
        return self.session.get(ReferralEvent, (event_id, referral.direction))


# Built once: every step of every referral reads its steps so.
_EVENTS_OF = (select(ReferralEvent)
              .where(col(ReferralEvent.referral_id) == bindparam("id"),
                     col(ReferralEvent.direction) == bindparam("direction"))
              .order_by(col(ReferralEvent.clock), col(ReferralEvent.id)))


def _local_party_in(institution_ids: list[str]) -> Any:
    """The sender's row for the sender, the recipient's row for the recipient."""
    return or_(
        and_(col(Referral.direction) == "outbound", col(Referral.sender_id).in_(institution_ids)),
        and_(col(Referral.direction) == "inbound",
             col(Referral.recipient_id).in_(institution_ids)),
    )
