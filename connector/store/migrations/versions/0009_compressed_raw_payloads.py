"""raw_payloads.body_z: a raw payload's body zlib-compressed (connector/store/payloads.py).

Only a nullable column is added, so on both databases the upgrade rewrites no row: rows written before it keep
their text in ``body`` and read as they are. ``body`` stays NOT NULL (empty when the body is in ``body_z``) because
changing its nullability would make SQLite copy the whole table, the largest in the store.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

import zlib

from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table('raw_payloads') as batch_op:
        batch_op.add_column(sa.Column('body_z', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    _decompress_into_body()
    with op.batch_alter_table('raw_payloads') as batch_op:
        batch_op.drop_column('body_z')


def _decompress_into_body() -> None:
    """Put every compressed body back as text first: the older schema has nowhere else to keep it."""
    table = sa.table('raw_payloads', sa.column('id', sa.Integer), sa.column('body', sa.Text),
                     sa.column('body_z', sa.LargeBinary))
    conn = op.get_bind()
    while rows := conn.execute(sa.select(table.c.id, table.c.body_z).where(table.c.body_z.is_not(None))
                               .order_by(table.c.id).limit(BATCH)).all():
        conn.execute(table.update().where(table.c.id == sa.bindparam('row_id')),
                     [{'row_id': row.id, 'body': zlib.decompress(row.body_z).decode(), 'body_z': None}
                      for row in rows])
