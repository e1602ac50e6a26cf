"""Shared fixtures. Store tests run once on SQLite and once on the real PostgreSQL.

PostgreSQL comes from CONNECTOR_TEST_PG_URL (default: the local server, trust auth). Each test session (each xdist
worker) gets a database of its own, migrated once; each test starts from empty tables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from connector.store import Store
from connector.store.migrate import upgrade
from connector.store.tables import METADATA

PG_URL = os.environ.get("CONNECTOR_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")


def _admin_engine() -> sa.Engine:
    return sa.create_engine(Store(PG_URL).url, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this session; dropped at the end."""
    name = f"connector_test_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_URL} ({exc.orig}). Start it: "
                    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start", pytrace=False)
    url = sa.engine.make_url(Store(PG_URL).url).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_store(pg_database: str) -> Iterator[Store]:
    store = Store(pg_database)
    upgrade(store)
    yield store
    store.dispose()


def empty(store: Store) -> None:
    with store.engine.begin() as conn:
        for table in reversed(METADATA.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def sqlite_store(tmp_path) -> Iterator[Store]:
    """A migrated SQLite store, for the tests whose subject is the daemon or the CLI rather than the backend."""
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(store)
    yield store
    store.dispose()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    """A migrated, empty store: SQLite in a temporary file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'store.db'}")
        upgrade(s)
        yield s
        s.dispose()
    else:
        s = request.getfixturevalue("pg_store")
        empty(s)
        yield s
