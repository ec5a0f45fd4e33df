"""alerts: when each desk confirmed the notice that closed an alert

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 23:10:00

Alerts closed before this change have no confirmation recorded, and none will come: their
targets are left without it (counted as still active after located, which is what the
issuer can tell of them).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.kit.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert_targets") as batch:
        batch.add_column(sa.Column("closed_received_at", shared.kit.db.UTCDateTime(timezone=True),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_targets") as batch:
        batch.drop_column("closed_received_at")
