"""Alembic environment: the engine comes from the caller (connector.store.migrate), never from a file."""

from alembic import context

from connector.store.tables import METADATA

engine = context.config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=METADATA,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copy
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
