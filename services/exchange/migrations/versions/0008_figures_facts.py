"""figures: the facts of referrals sent, quarantine tallies, when an alert was located

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 19:50:00

Back-fills the facts of the referrals already sent, from their records and steps, where the
outbox still names both countries (the referral's message and an audit event).
"""
import json
from collections import defaultdict
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
    closed_or_unknown_facts,
    rejection_reason,
    tallied,
    where_counted,
)

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STRING = sqlmodel.sql.sqltypes.AutoString
MOMENT = shared.kit.db.UTCDateTime(timezone=True)
DURATIONS = ('seconds_to_delivered', 'seconds_to_accepted', 'seconds_to_closed')


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
        for name in DURATIONS:
            batch_op.create_index(f'ix_referral_facts_{name}',
                                  ['origin', 'destination', 'month', name, 'institution_id'])
    op.create_table('referral_tally',
    sa.Column('institution_id', STRING(length=64), nullable=False),
    sa.Column('origin', STRING(length=2), nullable=False),
    sa.Column('destination', STRING(length=2), nullable=False),
    sa.Column('month', STRING(length=7), nullable=False),
    sa.Column('dimension', STRING(length=20), nullable=False),
    sa.Column('value', STRING(length=40), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('institution_id', 'origin', 'destination', 'month', 'dimension',
                            'value')
    )
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
    moments = ('sent_at', 'delivered_at', 'accepted_at', 'closed_at')
    facts_table = sa.table('referral_facts', *[sa.column(name) for name in (
        'referral_id', 'institution_id', 'origin', 'destination', 'month', 'age_band', 'sex',
        'accompaniment', 'needs', 'urgency', 'purpose', 'detection_area', 'state', 'outcome',
        'reason', *DURATIONS)], *[sa.column(name, MOMENT) for name in moments])
    counts: dict[tuple[tuple[str, str, str, str], tuple[str, str]], int] = defaultdict(int)
    for row in rows:
        record = row.record if isinstance(row.record, dict) else json.loads(row.record)
        steps = {action: (_moment(at), reason) for action, at, reason in conn.execute(sa.text(
            "SELECT action, at, reason FROM referral_events WHERE referral_id = :id AND "
            "direction = 'outbound' ORDER BY clock DESC, id DESC"), {"id": row.id}).all()}
        sent_at = _moment(row.created_at)
        delivered_at = _moment(row.delivered_at) if row.delivered_at else None
        accepted_at = steps.get("accept", (None, None))[0] \
            if row.status in ACCEPTED_STATES else None
        closed_at = steps.get("close", (None, None))[0] if row.status == "closed" else None
        rejected = steps.get("reject") if row.status == "rejected" else None
        facts = closed_or_unknown_facts(
            row.id, row.sender_id, row.purpose, record, sent_at, origin,
            str(row.subject).split(".")[2], row.status)
        facts.outcome = "accepted" if accepted_at else ANSWERED_BY_STATE.get(row.status, PENDING)
        facts.reason = _reason(rejected)
        facts.delivered_at, facts.accepted_at, facts.closed_at = (
            delivered_at, accepted_at, closed_at)
        facts.seconds_to_delivered = _seconds(sent_at, delivered_at)
        facts.seconds_to_accepted = _seconds(sent_at, accepted_at)
        facts.seconds_to_closed = _seconds(sent_at, closed_at)
        conn.execute(facts_table.insert().values(**facts.model_dump()))
        for pair in tallied(facts):
            counts[(where_counted(facts), pair)] += 1
    tally = sa.table('referral_tally', *[sa.column(name) for name in (
        'institution_id', 'origin', 'destination', 'month', 'dimension', 'value', 'count')])
    for (counted, (dimension, value)), n in counts.items():
        institution_id, origin_, destination, month = counted
        conn.execute(tally.insert().values(
            institution_id=institution_id, origin=origin_, destination=destination,
            month=month, dimension=dimension, value=value, count=n))


def _reason(rejected: tuple[datetime, str | None] | None) -> str | None:
    return rejection_reason(rejected[1]) if rejected else None


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_column('located_at')
    op.drop_table('quarantine_tally')
    op.drop_table('referral_tally')
    with op.batch_alter_table('referral_facts', schema=None) as batch_op:
        for name in DURATIONS:
            batch_op.drop_index(f'ix_referral_facts_{name}')
    op.drop_table('referral_facts')
