"""bounded quarantine: raw kept as bytes (a prefix, with size and SHA-256), quota per sender

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:30:00.000000
"""
import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shared.kit.db

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What 0005 keeps of a raw message quarantined before it (the setting's default).
KEPT_BYTES = 4096


def upgrade() -> None:
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verified_sender', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('raw_bytes', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('raw_size', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('raw_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_quarantine_verified_sender'), ['verified_sender'], unique=False)

    # Rows quarantined so far held the raw message as text (already stripped of what no
    # database can store): keep it as its UTF-8 bytes.
    bind = op.get_bind()
    quarantine = sa.table('quarantine', sa.column('id', sa.Integer()), sa.column('raw', sa.Text()),
                          sa.column('raw_bytes', sa.LargeBinary()), sa.column('raw_size', sa.Integer()),
                          sa.column('raw_sha256', sa.String()))
    for row_id, raw in bind.execute(sa.select(quarantine.c.id, quarantine.c.raw)).all():
        data = (raw or '').encode()
        bind.execute(quarantine.update().where(quarantine.c.id == row_id).values(
            raw_bytes=data[:KEPT_BYTES], raw_size=len(data),
            raw_sha256=hashlib.sha256(data).hexdigest()))

    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.drop_column('raw')
        batch_op.alter_column('raw_bytes', new_column_name='raw', existing_type=sa.LargeBinary(), nullable=False)
        batch_op.alter_column('raw_size', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('raw_sha256', existing_type=sa.String(length=64), nullable=False)

    op.create_table('quarantine_quota',
    sa.Column('sender', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kept', sa.Integer(), nullable=False),
    sa.Column('over', sa.Integer(), nullable=False),
    sa.Column('last_over_reason', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('last_over_at', shared.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('sender')
    )
    # What was quarantined so far came from senders not proven (the column is new).
    kept = bind.execute(sa.text('SELECT count(*) FROM quarantine')).scalar_one()
    if kept:
        bind.execute(sa.text("INSERT INTO quarantine_quota (sender, kept, over) "
                             "VALUES ('', :kept, 0)"), {'kept': kept})


def downgrade() -> None:
    op.drop_table('quarantine_quota')
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.add_column(sa.Column('raw_text', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    bind = op.get_bind()
    quarantine = sa.table('quarantine', sa.column('id', sa.Integer()), sa.column('raw', sa.LargeBinary()),
                          sa.column('raw_text', sa.Text()))
    for row_id, raw in bind.execute(sa.select(quarantine.c.id, quarantine.c.raw)).all():
        text = bytes(raw).decode('utf-8', errors='replace').replace('\x00', '\ufffd')
        bind.execute(quarantine.update().where(quarantine.c.id == row_id).values(raw_text=text))
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarantine_verified_sender'))
        batch_op.drop_column('raw_sha256')
        batch_op.drop_column('raw_size')
        batch_op.drop_column('raw')
        batch_op.drop_column('verified_sender')
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.alter_column('raw_text', new_column_name='raw', existing_type=sa.String(), nullable=False)
