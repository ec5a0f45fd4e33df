"""figures: the facts of referrals sent, quarantine tallies, when an alert was located

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 19:50:00

Back-fills the facts of the referrals already sent, from their records and steps, where the
outbox still names both countries (the referral's message and an audit event).
"""
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shared.kit.db
from services.exchange.figures.facts import (
    ACCEPTED_STATES,
    ANSWERED_BY_STATE,
    PENDING,
    age_at,
    detection_area,
    month_of,
    needs_of,
    rejection_reason,
)
from shared.protocol.figures import UNKNOWN, age_band

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STRING = sqlmodel.sql.sqltypes.AutoString
MOMENT = shared.kit.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('referral_facts',
    sa.Column('referral_id', STRING(length=64), nullable=False),
    sa.Column('institution_id', STRING(length=64), nullable=False),
    sa.Column('origin', STRING(length=2), nullable=False),
    sa.Column('destination', STRING(length=2), nullable=False),
    sa.Column('month', STRING(length=7), nullable=False),
    sa.Column('age_band', STRING(length=8), nullable=False),
    sa.Column('sex', STRING(length=8), nullable=False),
    sa.Column('accompaniment', STRING(length=16), nullable=False),
    sa.Column('needs', sa.Integer(), nullable=False),
    sa.Column('urgency', STRING(length=12), nullable=False),
    sa.Column('purpose', STRING(length=40), nullable=False),
    sa.Column('detection_area', STRING(length=16), nullable=False),
    sa.Column('state', STRING(length=20), nullable=False),
    sa.Column('outcome', STRING(length=16), nullable=False),
    sa.Column('reason', STRING(length=40), nullable=True),
    sa.Column('sent_at', MOMENT, nullable=False),
    sa.Column('delivered_at', MOMENT, nullable=True),
    sa.Column('accepted_at', MOMENT, nullable=True),
    sa.Column('closed_at', MOMENT, nullable=True),
    sa.Column('seconds_to_delivered', sa.Integer(), nullable=True),
    sa.Column('seconds_to_accepted', sa.Integer(), nullable=True),
    sa.Column('seconds_to_closed', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('referral_id')
    )
    with op.batch_alter_table('referral_facts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referral_facts_institution_id'), ['institution_id'],
                              unique=False)
    op.create_table('quarantine_tally',
    sa.Column('institution_id', STRING(length=64), nullable=False),
    sa.Column('month', STRING(length=7), nullable=False),
    sa.Column('reason', STRING(length=40), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('institution_id', 'month', 'reason')
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('located_at', MOMENT, nullable=True))
    op.execute("UPDATE alerts SET located_at = updated_at "
               "WHERE status = 'located' AND direction = 'outbound'")
    _backfill_referral_facts()


def _moment(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _seconds(since: datetime, moment: datetime | None) -> int | None:
    return None if moment is None else max(0, int((moment - since).total_seconds()))


def _backfill_referral_facts() -> None:
    conn = op.get_bind()
    audit = conn.execute(sa.text("SELECT subject FROM outbox WHERE subject LIKE 'enlace.audit.%' "
                                 "LIMIT 1")).scalar()
    if audit is None:
        return  # nothing says which country this gateway is
    origin = str(audit).split(".")[2]
    rows = conn.execute(sa.text(
        "SELECT r.id, r.sender_id, r.status, r.purpose, r.record, r.created_at, "
        "r.delivered_at, o.subject FROM referrals r JOIN outbox o ON o.referral_id = r.id "
        "WHERE r.direction = 'outbound'")).all()
    facts = sa.table('referral_facts', *[sa.column(name) for name in (
        'referral_id', 'institution_id', 'origin', 'destination', 'month', 'age_band', 'sex',
        'accompaniment', 'needs', 'urgency', 'purpose', 'detection_area', 'state', 'outcome',
        'reason', 'sent_at', 'delivered_at', 'accepted_at', 'closed_at', 'seconds_to_delivered',
        'seconds_to_accepted', 'seconds_to_closed')])
    for row in rows:
        record = row.record if isinstance(row.record, dict) else json.loads(row.record)
        steps = {action: (_moment(at), reason) for action, at, reason in conn.execute(sa.text(
            "SELECT action, at, reason FROM referral_events WHERE referral_id = :id AND "
            "direction = 'outbound' ORDER BY clock DESC, id DESC"), {"id": row.id}).all()}
        sent_at = _moment(row.created_at)
        delivered_at = _moment(row.delivered_at) if row.delivered_at else None
        accepted_at = steps.get("accept", (None, None))[0] if row.status in ACCEPTED_STATES else None
        closed_at = steps.get("close", (None, None))[0] if row.status == "closed" else None
        child, protection = record.get("child") or {}, record.get("protection") or {}
        rejected = steps.get("reject") if row.status == "rejected" else None
        conn.execute(facts.insert().values(
            referral_id=row.id, institution_id=row.sender_id, origin=origin,
            destination=str(row.subject).split(".")[2], month=month_of(sent_at),
            age_band=age_band(age_at(child, sent_at)), sex=str(child.get("sex") or UNKNOWN),
            accompaniment=str((record.get("accompaniment") or {}).get("status") or UNKNOWN),
            needs=needs_of(protection), urgency=str(protection.get("urgency") or UNKNOWN),
            purpose=row.purpose or UNKNOWN, detection_area=detection_area(record.get("detection")),
            state=row.status,
            outcome="accepted" if accepted_at else ANSWERED_BY_STATE.get(row.status, PENDING),
            reason=rejection_reason(rejected[1]) if rejected else None,
            sent_at=sent_at, delivered_at=delivered_at, accepted_at=accepted_at,
            closed_at=closed_at, seconds_to_delivered=_seconds(sent_at, delivered_at),
            seconds_to_accepted=_seconds(sent_at, accepted_at),
            seconds_to_closed=_seconds(sent_at, closed_at)))


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_column('located_at')
    op.drop_table('quarantine_tally')
    with op.batch_alter_table('referral_facts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referral_facts_institution_id'))
    op.drop_table('referral_facts')
