"""Quarantine: records that cannot become an order are kept whole with the reason instead of failing their page.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'quarantine',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('marketplace', sa.String(length=32), nullable=False),
        sa.Column('account', sa.String(length=64), nullable=False),
        sa.Column('external_id', sa.Text(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('content_type', sa.String(length=64), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('times_seen', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('account', 'sha256', name='uq_quarantine_body'),
    )
    op.create_index('ix_quarantine_account', 'quarantine', ['account'])


def downgrade() -> None:
    op.drop_index('ix_quarantine_account', table_name='quarantine')
    op.drop_table('quarantine')
