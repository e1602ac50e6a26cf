"""Account run state (pull leases, pauses, health), push results, and a wake-up notice for new commands.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# PostgreSQL only: every new command (from the CLI or an ERP's INSERT) wakes the daemons' push loop at once.
NOTIFY_FUNCTION = """
CREATE OR REPLACE FUNCTION connector_command_inserted() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('connector_commands', NEW.id::text);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql
"""
NOTIFY_TRIGGER = """
CREATE TRIGGER connector_command_inserted AFTER INSERT ON commands
FOR EACH ROW EXECUTE FUNCTION connector_command_inserted()
"""


def upgrade() -> None:
    op.create_table('account_state',
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('lease_owner', sa.String(length=128), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paused_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paused_reason', sa.Text(), nullable=False),
    sa.Column('last_pull_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_pull_ok_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('account')
    )
    with op.batch_alter_table('commands') as batch_op:
        batch_op.add_column(sa.Column('result', sa.Text(), nullable=False, server_default=''))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(NOTIFY_FUNCTION)
        op.execute(NOTIFY_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS connector_command_inserted ON commands")
        op.execute("DROP FUNCTION IF EXISTS connector_command_inserted()")
    with op.batch_alter_table('commands') as batch_op:
        batch_op.drop_column('result')
    op.drop_table('account_state')
