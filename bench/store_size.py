"""Store size: bytes per order on SQLite and PostgreSQL, where they go, what retention frees, and a year of one
seller's orders against a budget.

One Rozetka sandbox (N orders, 20 a page) is imported into a fresh store per run, twice per database: with raw
payloads compressed as the connector stores them, and with compression switched off in this script only (the
baseline). Each run:
  1. imports the N orders (pull_account) → bytes per order, overall and per table, and the raw payloads' share;
  2. moves a sample of new orders --versions − 1 steps along Rozetka's main road (new → … → completed), re-pulling
     after each step → bytes per change (a new payload version, history, change feed, shipments);
  3. runs the real purge (connector.store.retention, the settings' windows) as of one `finished_orders` window and a
     day from now → what it frees.
The sandbox's orders are put back after each run, so every run stores the same orders and changes. Sizes are of the
compacted store (SQLite VACUUM, PostgreSQL VACUUM FULL), less the empty migrated store, so steps and runs compare
like with like; per table: SQLite's dbstat (else estimated from column lengths), PostgreSQL's
pg_total_relation_size (indexes and TOAST included).

The year's projection: --orders-per-day for 365 days, each order stored in --versions versions, the measured bytes
of a first import and of a change, retention keeping `raw_versions` payloads per order and dropping the payloads of
orders finished more than `finished_orders` ago (orders are taken to finish the day they arrive) → the store after a
year, against --budget-mb.

    .venv/bin/python bench/store_size.py                          # 20,000 orders, SQLite and PostgreSQL
    .venv/bin/python bench/store_size.py --orders 2000 --stores sqlite
    .venv/bin/python bench/store_size.py --orders-per-day 1000 --versions 12 --budget-mb 4096

PostgreSQL: CONNECTOR_BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres, trust auth); a database
of its own is created for each run and dropped after it.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Stores, machine  # noqa: E402

USER, PASSWORD = "bench@example.com", "bench"
MAIN_ROAD = (1, 26, 2, 61, 3, 4, 5, 6)  # Rozetka: new … completed; a TTN from 61 (handed to the carrier) on
PAYLOADS = "raw_payloads"
YEAR = 365


def _adapter(url: str):
    from adapters.rozetka.adapter import RozetkaAdapter
    from adapters.rozetka.client import RozetkaClient
    from mappings import load
    client = RozetkaClient(url, username=USER, password=PASSWORD)
    return RozetkaAdapter("bench", client, load("rozetka"), first_pull=timedelta(days=3650))


# -- sizes -----------------------------------------------------------------------------------------------------------

def compact(store) -> None:
    """Drop free pages and dead rows, so a size is what the rows take, whatever wrote them."""
    import sqlalchemy as sa
    if store.dialect == "sqlite":
        store.dispose()
        with closing(sqlite3.connect(store.engine.url.database, isolation_level=None)) as conn:
            conn.execute("VACUUM")
        return
    with store.engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        _settle(conn)
        conn.execute(sa.text("VACUUM FULL"))


def _settle(conn, patience: float = 60) -> None:
    """Wait for the other transactions on this database to end: a snapshot older than the last write (autovacuum's
    ANALYZE after a purge) keeps the rows it deleted alive through VACUUM FULL."""
    import sqlalchemy as sa
    others = sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                     "AND pid <> pg_backend_pid() AND backend_xmin IS NOT NULL")
    deadline = time.monotonic() + patience
    while conn.execute(others).scalar_one() and time.monotonic() < deadline:
        time.sleep(0.1)


def table_sizes(store) -> dict[str, int]:
    """Bytes per table, its indexes included."""
    import sqlalchemy as sa
    if store.dialect == "postgresql":
        with store.engine.connect() as conn:
            return dict(conn.execute(sa.text(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'")).all())
    store.dispose()
    with closing(sqlite3.connect(store.engine.url.database)) as conn:
        try:
            return dict(conn.execute(
                "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat d "
                "LEFT JOIN sqlite_master m ON m.name = d.name GROUP BY 1").fetchall())
        except sqlite3.OperationalError:  # an SQLite built without dbstat
            return _estimated_sqlite_sizes(conn, Path(store.engine.url.database).stat().st_size)


def _estimated_sqlite_sizes(conn: sqlite3.Connection, file_bytes: int) -> dict[str, int]:
    """The file shared out by each table's bytes of column values (indexes and page slack spread alike)."""
    used = {}
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        columns = [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]
        lengths = " + ".join(f'coalesce(length(CAST("{c}" AS BLOB)), 0)' for c in columns) or "0"
        used[table] = conn.execute(f'SELECT coalesce(sum({lengths}), 0) FROM "{table}"').fetchone()[0]
    total = sum(used.values()) or 1
    return {table: file_bytes * n // total for table, n in used.items()}


def measure(store) -> dict[str, int]:
    compact(store)
    return table_sizes(store)


def grown(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {t: after.get(t, 0) - before.get(t, 0) for t in after.keys() | before.keys()}


# -- one run ---------------------------------------------------------------------------------------------------------

@dataclass
class Run:
    orders: int
    imported: dict[str, int]  # bytes per table a first import added
    changes: int  # order changes stored
    changed: dict[str, int]  # bytes per table the changes added
    purged_orders: int
    purged_payloads: int
    freed: dict[str, int]  # bytes per table the purge freed

    def per_order(self, table: str | None = None) -> float:
        return _part(self.imported, table) / self.orders

    def per_change(self, table: str | None = None) -> float:
        return _part(self.changed, table) / max(self.changes, 1)


def _part(sizes: dict[str, int], table: str | None) -> int:
    return sum(sizes.values()) if table is None else sizes.get(table, 0)


@contextmanager
def uncompressed():
    """The baseline: every payload stored as text, as before compression (this process only)."""
    from connector.store import payloads
    threshold, payloads.COMPRESS_FROM = payloads.COMPRESS_FROM, sys.maxsize
    try:
        yield
    finally:
        payloads.COMPRESS_FROM = threshold


def run(sandbox, store_url: str, sample: list[int], steps: int, retention) -> Run:
    from connector.domain import utcnow
    from connector.store import Store
    from connector.store.migrate import upgrade
    from connector.store.retention import purge_all
    from connector.sync.pull import pull_account
    store = Store(store_url)
    upgrade(store)
    adapter = _adapter(sandbox.url)
    empty = measure(store)
    summary = pull_account(store, adapter)
    assert not summary.problems, summary.problems[:3]
    imported = measure(store)
    changes = 0
    for step in range(1, steps + 1):
        for order_id in sample:
            status = MAIN_ROAD[step]
            sandbox.set_status(order_id, status, ttn=f"20450{order_id % 10**9:09d}" if status == 61 else None)
        changes += pull_account(store, adapter).updated
    changed = measure(store)
    later = utcnow() + retention.finished_orders + timedelta(days=1)
    purged = purge_all(store, finished_after=retention.finished_orders, versions=retention.raw_versions, now=later)
    after = measure(store)
    store.dispose()
    return Run(summary.created, grown(imported, empty), changes, grown(changed, imported), purged.orders,
               purged.payloads, grown(changed, after))


@contextmanager
def restored(sandbox, ids: list[int]):
    """The sample's orders as they were before a run changed them."""
    saved = [sandbox.order(i) for i in ids]
    try:
        yield
    finally:
        for order in saved:
            sandbox.put_order(order)


# -- the year --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Year:
    """A seller's year, from one run's measured bytes: each order costs its first import and ``versions`` − 1
    changes; of its payloads the newest ``kept`` stay while it is in play, none once it finished more than
    ``window_days`` ago (orders are taken to finish the day they arrive). The orders, their lines, history and
    change feed stay for the books."""

    run: Run
    per_day: int
    versions: int

    def books(self) -> float:
        """Bytes a year's orders keep for good."""
        r = self.run
        per_order = (r.per_order() - r.per_order(PAYLOADS)) + (self.versions - 1) * (
            r.per_change() - r.per_change(PAYLOADS))
        return self.per_day * YEAR * per_order

    def payloads(self, kept: int, window_days: int) -> float:
        """Bytes of raw payloads a year's orders hold at the year's end."""
        r = self.run
        first, change = r.per_order(PAYLOADS), r.per_change(PAYLOADS)
        per_order = first + (self.versions - 1) * change if self.versions <= kept else kept * change
        return self.per_day * YEAR * per_order * min(window_days, YEAR) / YEAR

    def fitting(self, budget: float, kept: int, window_days: int) -> str:
        """The retention that keeps the year within ``budget``: fewer versions, or an earlier purge."""
        room = budget - self.books()
        if room < 0:
            return "the books alone (orders, lines, history, feed) exceed it"
        versions = [v for v in range(1, kept + 1) if self.payloads(v, window_days) <= room]
        days = [d for d in range(0, window_days + 1) if self.payloads(kept, d) <= room]
        ways = ([f"raw_versions {versions[-1]}"] if versions else []) + [f"finished_orders {days[-1]}d"]
        return "fits with " + " or ".join(ways)


# -- report ----------------------------------------------------------------------------------------------------------

def mb(n: float) -> str:
    return f"{n / 2**20:,.1f} MB"


def report(backend: str, packed: Run, plain: Run, args, retention) -> None:
    print(f"\n{backend}: {packed.orders:,} orders imported; bytes per order (compacted store, indexes included)")
    print(f"  {'table':<22}{'compressed':>12}{'share':>7}{'uncompressed':>14}{'share':>7}")
    tables = sorted(packed.imported, key=lambda t: -max(packed.imported[t], plain.imported.get(t, 0)))
    for table in tables:
        if packed.imported[table] or plain.imported.get(table):
            print(f"  {table:<22}{packed.per_order(table):>12,.0f}{packed.per_order(table) / packed.per_order():>7.0%}"
                  f"{plain.per_order(table):>14,.0f}{plain.per_order(table) / plain.per_order():>7.0%}")
    print(f"  {'total':<22}{packed.per_order():>12,.0f}{'':>7}{plain.per_order():>14,.0f}")
    print(f"  compressed ÷ uncompressed: {packed.per_order() / plain.per_order():.2f} per order, raw payloads "
          f"{packed.per_order(PAYLOADS) / plain.per_order(PAYLOADS):.2f}")
    print(f"  per change ({packed.changes:,} changes stored): {packed.per_change():,.0f} B, of which payload "
          f"{packed.per_change(PAYLOADS):,.0f} B (uncompressed {plain.per_change():,.0f} B, payload "
          f"{plain.per_change(PAYLOADS):,.0f} B; ratio {packed.per_change() / max(plain.per_change(), 1):.2f})")
    for name, r in (("compressed", packed), ("uncompressed", plain)):
        store = sum(r.imported.values()) + sum(r.changed.values())
        print(f"  purge as of {retention.finished_orders.days + 1} days from now ({name}): {r.purged_orders:,} "
              f"finished orders lose payloads and buyer data, {r.purged_payloads:,} payload rows → frees "
              f"{mb(sum(r.freed.values()))} of {mb(store)} ({sum(r.freed.values()) / store:.0%})")
    print(f"  a year at {args.orders_per_day:,} orders/day, {args.versions} versions each "
          f"(retention: {retention.raw_versions} versions, payloads dropped {retention.finished_orders.days} days "
          f"after finishing):")
    budget, kept, window = args.budget_mb * 2**20, retention.raw_versions, retention.finished_orders.days
    for name, r in (("compressed", packed), ("uncompressed", plain)):
        year = Year(r, args.orders_per_day, args.versions)
        total = year.books() + year.payloads(kept, window)
        # later years: the books grow; the payloads only by what a window longer than a year still holds
        further = year.books() + year.payloads(kept, max(window - YEAR, 0))
        verdict = (f"within the {args.budget_mb:,} MB budget" if total <= budget else
                   f"OVER the {args.budget_mb:,} MB budget: {year.fitting(budget, kept, window)}")
        print(f"    {name:<13} {mb(total):>11} after a year (books {mb(year.books())}, payloads "
              f"{mb(year.payloads(kept, window))}), {verdict}; each further year adds {mb(further)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20_000, help="orders in the sandbox (default 20000)")
    parser.add_argument("--page-size", type=int, default=20, help="orders per search page (default 20, as Rozetka)")
    parser.add_argument("--stores", default="sqlite,postgresql", help="comma list (default sqlite,postgresql)")
    parser.add_argument("--changed", type=int, default=1_000,
                        help="new orders moved along the main road to measure a change (default 1000)")
    parser.add_argument("--versions", type=int, default=6,
                        help="versions of each order over its life, for the projection (default 6); the measurement "
                             f"takes min(versions − 1, {len(MAIN_ROAD) - 1}) steps")
    parser.add_argument("--orders-per-day", type=int, default=300, help="the seller of the projection (default 300)")
    parser.add_argument("--budget-mb", type=int, default=2048, help="the store's budget after a year (default 2048)")
    args = parser.parse_args()
    from adapters.rozetka.sandbox import RozetkaSandbox
    from connector.config import RetentionSettings
    from connector.logs import configure
    configure("warning")
    retention = RetentionSettings()
    steps = min(args.versions - 1, len(MAIN_ROAD) - 1)
    seeded = time.perf_counter()
    with RozetkaSandbox(seed=1, orders=args.orders, page_size=args.page_size) as sandbox, \
            tempfile.TemporaryDirectory() as tmp:
        sandbox.add_seller(USER, PASSWORD)
        sample = [i for i in sandbox.order_ids() if sandbox.order(i)["status"] == MAIN_ROAD[0]][:args.changed]
        print(f"sandbox: {args.orders:,} orders at {args.page_size} a page, seeded in "
              f"{time.perf_counter() - seeded:.1f}s; {len(sample):,} new orders changed {steps} times; {machine()}")
        stores = Stores(tmp)
        try:
            for backend in args.stores.split(","):
                with restored(sandbox, sample):
                    packed = run(sandbox, stores.url(backend), sample, steps, retention)
                with restored(sandbox, sample), uncompressed():
                    plain = run(sandbox, stores.url(backend), sample, steps, retention)
                report(backend, packed, plain, args, retention)
        finally:
            stores.drop()


if __name__ == "__main__":
    main()
