"""history names the person a gateway acted for

A country administrator keeps the directory from their gateway's console; the gateway calls
with its own token and names the person (shared/protocol/acting.py), and each change keeps who.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 12:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('actor_person_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('actor_person_name', sqlmodel.sql.sqltypes.AutoString(length=100),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.drop_column('actor_person_name')
        batch_op.drop_column('actor_person_id')
