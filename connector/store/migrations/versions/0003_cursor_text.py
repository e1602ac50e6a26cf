"""Cursors become text: Chopni's cursor carries what its last scan saw, not just a timestamp.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sync_cursors') as batch_op:
        batch_op.alter_column('value', type_=sa.Text(), existing_type=sa.String(length=255), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('sync_cursors') as batch_op:
        batch_op.alter_column('value', type_=sa.String(length=255), existing_type=sa.Text(), existing_nullable=False)
