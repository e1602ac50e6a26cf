"""The canonical store: SQLModel tables, Alembic migrations, and the few operations that write them."""

from connector.store.engine import Store

__all__ = ["Store"]
