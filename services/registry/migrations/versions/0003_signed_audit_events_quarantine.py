"""signed audit events: each entry keeps its JWS; refused events go to audit_quarantine

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:20:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shared.kit.db

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Entries made before this version stay unsigned (jws null); their leaves are unchanged.
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('jws', sa.Text(), nullable=True))
    op.create_table('audit_quarantine',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('received_at', shared.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('subject_country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('event_type', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('institution_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('kid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sha256')
    )
    with op.batch_alter_table('audit_quarantine', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_quarantine_reason'), ['reason'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_quarantine_received_at'), ['received_at'],
                              unique=False)


def downgrade() -> None:
    # Forward only: dropping the column would take the entries' signatures with it.
    raise NotImplementedError("registry migration 0003 cannot be undone")
