"""statistics reports in parts: the parts received of a report not yet complete, and
their cells

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:05:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shared.kit.db

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('statistics_parts',
    sa.Column('institution_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('report_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('part', sa.Integer(), nullable=False),
    sa.Column('parts', sa.Integer(), nullable=False),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('computed_at', shared.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', shared.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('institution_id', 'report_id', 'part')
    )
    with op.batch_alter_table('statistics_parts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_statistics_parts_received_at'), ['received_at'],
                              unique=False)

    op.create_table('statistics_part_cells',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
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
    with op.batch_alter_table('statistics_part_cells', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_statistics_part_cells_institution_id'),
                              ['institution_id'], unique=False)
        batch_op.create_index('ix_statistics_part_cells_report',
                              ['institution_id', 'report_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('statistics_part_cells', schema=None) as batch_op:
        batch_op.drop_index('ix_statistics_part_cells_report')
        batch_op.drop_index(batch_op.f('ix_statistics_part_cells_institution_id'))
    op.drop_table('statistics_part_cells')
    with op.batch_alter_table('statistics_parts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_statistics_parts_received_at'))
    op.drop_table('statistics_parts')
