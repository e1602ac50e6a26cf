"""The same migrations build the same schema on SQLite and PostgreSQL, and it matches the models."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from connector.store import Store
from connector.store.migrate import alembic_config, current_revision, head_revision, upgrade
from connector.store.tables import METADATA


def test_migrated_schema_matches_the_models(store):
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), METADATA)
    assert diff == [], f"{store.dialect}: migrations and models differ: {diff}"
    assert current_revision(store) == head_revision()


def _shape(store: Store) -> dict:
    """A dialect-neutral description: tables, columns (generic type, nullability), unique sets, indexes, FKs."""
    insp = sa.inspect(store.engine)
    shape = {}
    for table in sorted(t for t in insp.get_table_names() if t != "alembic_version"):
        shape[table] = {
            "columns": {c["name"]: (c["type"]._type_affinity.__name__, c["nullable"])
                        for c in insp.get_columns(table)},
            "pk": tuple(insp.get_pk_constraint(table)["constrained_columns"]),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in insp.get_indexes(table)
                              if not i.get("duplicates_constraint")),  # PostgreSQL lists UNIQUE twice
            "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"]) for f in insp.get_foreign_keys(table)),
        }
    return shape


def test_sqlite_and_postgresql_get_the_same_schema(tmp_path, pg_store):
    lite = Store(f"sqlite:///{tmp_path / 'a.db'}")
    upgrade(lite)
    assert _shape(lite) == _shape(pg_store)


def test_upgrade_is_repeatable_and_downgrade_returns_to_empty(tmp_path):
    lite = Store(f"sqlite:///{tmp_path / 'b.db'}")
    assert upgrade(lite) == (None, head_revision())
    assert upgrade(lite) == (head_revision(), head_revision())
    command.downgrade(alembic_config(lite), "base")
    assert [t for t in sa.inspect(lite.engine).get_table_names() if t != "alembic_version"] == []
