"""The queries of missing-child alerts and their targets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import col, select

from services.exchange.alerts.models import Alert, AlertTarget
from shared.kit.db import Repository
from shared.kit.pagination import keyset


class AlertRepository(Repository):

    def targets(self, alert_id: str) -> list[AlertTarget]:
        query = select(AlertTarget).where(AlertTarget.alert_id == alert_id)
        return list(self.session.exec(query.order_by(col(AlertTarget.country))))

    def target(self, alert_id: str, recipient_id: str) -> AlertTarget | None:
        return self.session.exec(select(AlertTarget).where(
            AlertTarget.alert_id == alert_id, AlertTarget.recipient_id == recipient_id)).first()

    def visible(self, alert_id: str, institution_id: str) -> Alert | None:
        """The alert as the institution holds it (as its issuer or one of its recipients)."""
        query = select(Alert).where(Alert.id == alert_id).where(_held_by(institution_id))
        return self.session.exec(query).first()

    def visible_page(self, institution_id: str, direction: str | None, limit: int,
                     after: tuple[datetime, str] | None) -> list[Alert]:
        """Newest first; `after`: the (created_at, id) of the previous page's last alert."""
        query = select(Alert).where(_held_by(institution_id))
        if direction:
            query = query.where(Alert.direction == direction)
        order = (col(Alert.created_at), col(Alert.id))
        after_last = keyset(order, after, descending=True)
        if after_last is not None:
            query = query.where(after_last)
        return list(self.session.exec(query.order_by(*(c.desc() for c in order)).limit(limit)))

    def received(self, alert_id: str, recipient_id: str) -> Alert | None:
        """The recipient's copy of an alert another gateway issued."""
        query = select(Alert).where(Alert.id == alert_id,
                                    Alert.recipient_id == recipient_id,
                                    Alert.direction == "inbound")
        return self.session.exec(query).first()

    def issued(self, alert_id: str) -> Alert | None:
        """The issuer's copy of an alert."""
        return self.session.exec(select(Alert).where(Alert.id == alert_id,
                                                     Alert.direction == "outbound")).first()

    def overdue_targets(self, deadline: datetime) -> list[tuple[AlertTarget, Alert]]:
        """Targets of active alerts issued before `deadline`, neither acknowledged nor
        escalated yet."""
        rows = self.session.exec(
            select(AlertTarget, Alert)
            .join(Alert, and_(col(Alert.id) == col(AlertTarget.alert_id),
                              col(Alert.direction) == "outbound"))
            .where(col(AlertTarget.acknowledged_at).is_(None),
                   col(AlertTarget.escalated_at).is_(None),
                   col(Alert.status) == "active", col(Alert.created_at) < deadline)
        ).all()
        return [(target, alert) for target, alert in rows]


def _held_by(institution_id: str) -> Any:
    return or_(
        and_(col(Alert.issuer_id) == institution_id, col(Alert.direction) == "outbound"),
        and_(col(Alert.recipient_id) == institution_id, col(Alert.direction) == "inbound"),
    )
