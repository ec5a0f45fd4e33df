"""national coverage as a search tag

What covers a whole country (an institution without areas, a focal point whose institution
has none) is tagged with the country's code as its area, so that "covers this area" is one
indexed condition; the `national` columns are no longer needed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 11:14:27.774153
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NATIONAL_TAGS = """
INSERT INTO search_tags (owner, owner_id, kind, value)
SELECT '{owner}', e.id, 'area', e.country FROM {table} e
WHERE NOT EXISTS (SELECT 1 FROM search_tags t
                  WHERE t.owner = '{owner}' AND t.owner_id = e.id AND t.kind = 'area')
"""


def upgrade() -> None:
    with op.batch_alter_table('focal_points', schema=None) as batch_op:
        batch_op.drop_column('national')

    with op.batch_alter_table('institutions', schema=None) as batch_op:
        batch_op.drop_column('national')

    op.execute(NATIONAL_TAGS.format(owner="institution", table="institutions"))
    op.execute(NATIONAL_TAGS.format(owner="focal_point", table="focal_points"))


def downgrade() -> None:
    with op.batch_alter_table('institutions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('national', sa.BOOLEAN(), server_default=sa.true(), nullable=False))

    with op.batch_alter_table('focal_points', schema=None) as batch_op:
        batch_op.add_column(sa.Column('national', sa.BOOLEAN(), server_default=sa.true(), nullable=False))

    op.execute("DELETE FROM search_tags WHERE kind = 'area' AND length(value) = 2")
