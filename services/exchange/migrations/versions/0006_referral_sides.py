"""referral sides: a referral between two hosted institutions has a row per side

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:30:00.000000

The key of `referrals` becomes (id, direction), and each step in `referral_events` names
the side's row it belongs to, so both sides' rows and steps fit in one database.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK = "referral_events_referral_id_fkey"
# SQLite keeps the first schema's constraints unnamed; batch mode finds them by these names.
NAMES = {"fk": "%(table_name)s_%(column_0_name)s_fkey", "pk": "%(table_name)s_pkey"}


def upgrade() -> None:
    with op.batch_alter_table('referral_events', naming_convention=NAMES) as batch_op:
        batch_op.add_column(sa.Column(
            'direction', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))
        batch_op.drop_constraint(FK, type_='foreignkey')
    op.execute("UPDATE referral_events SET direction = (SELECT referrals.direction "
               "FROM referrals WHERE referrals.id = referral_events.referral_id)")
    with op.batch_alter_table('referrals', naming_convention=NAMES) as batch_op:
        batch_op.drop_constraint('referrals_pkey', type_='primary')
        batch_op.create_primary_key('referrals_pkey', ['id', 'direction'])
    with op.batch_alter_table('referral_events', naming_convention=NAMES) as batch_op:
        batch_op.alter_column('direction', existing_type=sqlmodel.sql.sqltypes.AutoString(
            length=8), nullable=False, server_default=None)
        batch_op.drop_constraint('referral_events_pkey', type_='primary')
        batch_op.create_primary_key('referral_events_pkey', ['id', 'direction'])
        batch_op.create_foreign_key(FK, 'referrals', ['referral_id', 'direction'],
                                    ['id', 'direction'])


def downgrade() -> None:
    # Only possible while no referral has both sides here.
    with op.batch_alter_table('referral_events', naming_convention=NAMES) as batch_op:
        batch_op.drop_constraint(FK, type_='foreignkey')
        batch_op.drop_constraint('referral_events_pkey', type_='primary')
        batch_op.create_primary_key('referral_events_pkey', ['id'])
    with op.batch_alter_table('referrals', naming_convention=NAMES) as batch_op:
        batch_op.drop_constraint('referrals_pkey', type_='primary')
        batch_op.create_primary_key('referrals_pkey', ['id'])
    with op.batch_alter_table('referral_events', naming_convention=NAMES) as batch_op:
        batch_op.drop_column('direction')
        batch_op.create_foreign_key(FK, 'referrals', ['referral_id'], ['id'])
