"""Parcel tracking: when each shipment is asked about next and why not, its carrier timeline, the return deadline.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('shipments') as batch_op:
        batch_op.add_column(sa.Column('next_check_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('not_tracked', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('storage_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_shipments_next_check_at', ['next_check_at'])
    with op.batch_alter_table('orders') as batch_op:
        batch_op.add_column(sa.Column('return_deadline', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'shipment_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('shipment_id', sa.Integer(), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('code', sa.String(length=32), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=32), nullable=False),
        sa.Column('place', sa.String(length=255), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('shipment_id', 'fingerprint', name='uq_shipment_events_once'),
    )
    op.create_index('ix_shipment_events_shipment_id', 'shipment_events', ['shipment_id'])


def downgrade() -> None:
    op.drop_index('ix_shipment_events_shipment_id', table_name='shipment_events')
    op.drop_table('shipment_events')
    with op.batch_alter_table('orders') as batch_op:
        batch_op.drop_column('return_deadline')
    with op.batch_alter_table('shipments') as batch_op:
        batch_op.drop_index('ix_shipments_next_check_at')
        batch_op.drop_column('storage_until')
        batch_op.drop_column('delivered_at')
        batch_op.drop_column('not_tracked')
        batch_op.drop_column('next_check_at')
