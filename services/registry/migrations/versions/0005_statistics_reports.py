"""regional figures: each institution's statistics report in force, its cells, and the
reports refused

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 20:05:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shared.kit.db

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('statistics_reports',
    sa.Column('institution_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('report_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('computed_at', shared.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', shared.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cells', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('institution_id')
    )
    with op.batch_alter_table('statistics_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_statistics_reports_country'), ['country'],
                              unique=False)

    op.create_table('statistics_cells',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('indicator', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('breakdown', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('breakdown_value', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('origin', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('destination', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('target', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('month', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('median_seconds', sa.Integer(), nullable=True),
    sa.Column('p90_seconds', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('statistics_cells', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_statistics_cells_institution_id'),
                              ['institution_id'], unique=False)
        batch_op.create_index('ix_statistics_cells_indicator', ['indicator', 'breakdown'],
                              unique=False)

    op.create_table('statistics_refusals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('received_at', shared.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('subject_country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('institution_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sha256')
    )
    with op.batch_alter_table('statistics_refusals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_statistics_refusals_reason'), ['reason'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_statistics_refusals_received_at'),
                              ['received_at'], unique=False)


def downgrade() -> None:
    op.drop_table('statistics_refusals')
    op.drop_table('statistics_cells')
    op.drop_table('statistics_reports')
