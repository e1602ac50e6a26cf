"""What the benchmarks share: a fresh store per run (a temporary SQLite file or a PostgreSQL database of its own),
the size of a store on disk, a process's peak RSS, and the line that says which machine a figure came from."""

from __future__ import annotations

import os
import resource
import sys
import uuid
from pathlib import Path

PG_URL = os.environ.get("CONNECTOR_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def machine() -> str:
    return f"nproc {os.cpu_count()}, python {sys.version.split()[0]}"


def peak_mb() -> float:
    """Peak RSS of this process. Linux keeps ru_maxrss across exec, so a child forked from the parent (which holds the
    sandbox's orders) would report the parent's size: VmHWM, which exec resets, is read first."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def store_size(store) -> int:
    import sqlalchemy as sa
    if store.dialect == "sqlite":
        store.dispose()  # the last connection closed checkpoints the WAL into the file
        path = Path(store.engine.url.database)
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    with store.engine.connect() as conn:
        return conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one()


class Stores:
    """A fresh store for each run: a temporary SQLite file, or a PostgreSQL database created for it."""

    def __init__(self, tmp: str) -> None:
        self.tmp, self.made = tmp, []

    def url(self, backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{Path(self.tmp) / f'{uuid.uuid4().hex[:8]}.db'}"
        import sqlalchemy as sa

        from connector.store import Store
        name = f"connector_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(Store(PG_URL).url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        self.made.append(name)
        return sa.engine.make_url(Store(PG_URL).url).set(database=name).render_as_string(hide_password=False)

    def drop(self) -> None:
        import sqlalchemy as sa

        from connector.store import Store
        if not self.made:
            return
        admin = sa.create_engine(Store(PG_URL).url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in self.made:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
