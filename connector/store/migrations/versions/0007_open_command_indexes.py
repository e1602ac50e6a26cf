"""Partial indexes of the open commands: the lease query's plan no longer depends on table statistics.

With stale statistics PostgreSQL planned the lease query as a scan of every command ever written (1.6 s a lease
on a large outbox); these indexes hold only pending and in-progress rows, which is all the query reads.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

OPEN = sa.text("state IN ('pending', 'in_progress')")


def upgrade() -> None:
    op.create_index('ix_commands_open', 'commands', ['id'], postgresql_where=OPEN, sqlite_where=OPEN)
    op.create_index('ix_commands_open_order', 'commands', ['order_id', 'id'], postgresql_where=OPEN,
                    sqlite_where=OPEN)


def downgrade() -> None:
    op.drop_index('ix_commands_open_order', table_name='commands')
    op.drop_index('ix_commands_open', table_name='commands')
