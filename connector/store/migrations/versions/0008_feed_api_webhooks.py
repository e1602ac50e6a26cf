"""The change feed (order_events and its counter), API keys, and outbound webhook deliveries.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

OPEN = sa.text("state IN ('pending', 'in_progress')")


def upgrade() -> None:
    op.create_table(
        'order_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=True),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('marketplace', sa.String(length=32), nullable=False),
        sa.Column('account', sa.String(length=64), nullable=False),
        sa.Column('external_id', sa.String(length=64), nullable=False),
        sa.Column('data', sa.Text(), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('seq'),
    )
    op.create_index('ix_order_events_kind', 'order_events', ['kind'])
    op.create_index('ix_order_events_order_id', 'order_events', ['order_id'])
    counter = op.create_table(
        'feed_counter',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('value', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.bulk_insert(counter, [{'name': 'order_events', 'value': 0}])
    op.create_table(
        'api_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('key_sha256', sa.String(length=64), nullable=False),
        sa.Column('prefix', sa.String(length=16), nullable=False),
        sa.Column('scope', sa.String(length=8), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
        sa.UniqueConstraint('key_sha256'),
    )
    op.create_table(
        'webhook_cursors',
        sa.Column('subscription', sa.String(length=64), nullable=False),
        sa.Column('position', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('subscription'),
    )
    op.create_table(
        'webhook_deliveries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subscription', sa.String(length=64), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('locked_by', sa.String(length=128), nullable=False),
        sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_status', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('subscription', 'seq', name='uq_webhook_deliveries_once'),
    )
    op.create_index('ix_webhook_deliveries_state', 'webhook_deliveries', ['state'])
    op.create_index('ix_webhook_deliveries_open', 'webhook_deliveries', ['next_attempt_at'],
                    postgresql_where=OPEN, sqlite_where=OPEN)


def downgrade() -> None:
    op.drop_index('ix_webhook_deliveries_open', table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_state', table_name='webhook_deliveries')
    op.drop_table('webhook_deliveries')
    op.drop_table('webhook_cursors')
    op.drop_table('api_keys')
    op.drop_table('feed_counter')
    op.drop_index('ix_order_events_order_id', table_name='order_events')
    op.drop_index('ix_order_events_kind', table_name='order_events')
    op.drop_table('order_events')
