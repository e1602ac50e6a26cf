"""First import: N Rozetka orders at 20 per page from the sandbox into a fresh store, on SQLite and on PostgreSQL.

Every figure comes with its baselines, measured in the same run against the same sandbox:
  - fetch-only: the same pages read and mapped by the adapter, nothing stored (what "the speed of the wire" is);
  - naive: one transaction per order (the same upsert), no prefetching, over the first --naive orders.
The sandbox runs in this process; each measured run is a child process of its own, so its peak RSS
(VmHWM, else resource.getrusage) is its own and it does not share a GIL with the sandbox. Bytes per order: the SQLite file
(with its WAL, after a checkpoint), and PostgreSQL's pg_database_size, each less the empty migrated store.

    .venv/bin/python bench/import.py                    # 20,000 orders
    .venv/bin/python bench/import.py --orders 100000    # the issue's figure (several minutes)
    .venv/bin/python bench/import.py --stores sqlite    # SQLite only

PostgreSQL: CONNECTOR_BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres, trust auth); a database
of its own is created for each run and dropped after it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Stores, machine, peak_mb, store_size  # noqa: E402

USER, PASSWORD = "bench@example.com", "bench"


def _adapter(url: str):
    from adapters.rozetka.adapter import RozetkaAdapter
    from adapters.rozetka.client import RozetkaClient
    from mappings import load
    client = RozetkaClient(url, username=USER, password=PASSWORD)
    return RozetkaAdapter("bench", client, load("rozetka"), first_pull=timedelta(days=3650))


# -- one measured run, in a child process ---------------------------------------------------------------------------

def child(kind: str, sandbox_url: str, store_url: str, limit: int) -> dict:
    import sqlalchemy as sa

    from connector.logs import configure
    from connector.store import Store
    from connector.store.migrate import upgrade
    configure("warning")
    adapter = _adapter(sandbox_url)
    if kind == "fetch":
        start = time.perf_counter()
        orders = sum(len(page.orders) for page in adapter.pull(None))
        return {"orders": orders, "seconds": time.perf_counter() - start, "rss_mb": peak_mb()}
    store = Store(store_url)
    upgrade(store)
    empty = store_size(store)
    start = time.perf_counter()
    if kind == "import":
        from connector.sync.pull import pull_account
        summary = pull_account(store, adapter)
        orders = summary.created
        assert not summary.problems, summary.problems[:3]
    else:  # naive: every order in a transaction of its own, no read-ahead
        from connector.store.orders import upsert_pulled
        orders = 0
        for page in adapter.pull(None):
            for pulled in page.orders:
                with store.transaction() as session:
                    upsert_pulled(session, pulled.order, pulled.raw)
                orders += 1
                if orders >= limit:
                    break
            if orders >= limit:
                break
    seconds = time.perf_counter() - start
    with store.transaction() as session:
        from connector.store.tables import OrderRow
        stored = session.execute(sa.select(sa.func.count()).select_from(OrderRow)).scalar_one()
    assert stored == orders, (stored, orders)
    size = store_size(store) - empty
    store.dispose()
    return {"orders": orders, "seconds": seconds, "rss_mb": peak_mb(), "bytes_per_order": size / max(orders, 1)}


# -- the orchestra ---------------------------------------------------------------------------------------------------

def run(kind: str, sandbox_url: str, store_url: str = "", limit: int = 0) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--sandbox", sandbox_url, "--store", store_url,
                          "--limit", str(limit)], capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise SystemExit(f"{kind} run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20_000, help="orders in the sandbox (default 20000)")
    parser.add_argument("--page-size", type=int, default=20, help="orders per search page (default 20, as Rozetka)")
    parser.add_argument("--naive", type=int, default=2_000, help="orders the naive baseline imports (default 2000)")
    parser.add_argument("--stores", default="sqlite,postgresql", help="comma list (default sqlite,postgresql)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--sandbox", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.sandbox, args.store, args.limit)))
        return

    from adapters.rozetka.sandbox import RozetkaSandbox
    from connector.logs import configure
    configure("warning")
    seeded = time.perf_counter()
    with RozetkaSandbox(seed=1, orders=args.orders, page_size=args.page_size) as sandbox, \
            tempfile.TemporaryDirectory() as tmp:
        sandbox.add_seller(USER, PASSWORD)
        print(f"sandbox: {args.orders} orders at {args.page_size} a page, seeded in "
              f"{time.perf_counter() - seeded:.1f}s; {machine()}")
        stores = Stores(tmp)
        try:
            fetch = run("fetch", sandbox.url)
            rows = [("fetch-only (read + map, no store)", fetch, None)]
            for backend in args.stores.split(","):
                imported = run("import", sandbox.url, stores.url(backend))
                naive = run("naive", sandbox.url, stores.url(backend), args.naive)
                rows += [(f"{backend}: first import", imported, naive),
                         (f"{backend}: naive, 1 tx per order", naive, None)]
        finally:
            stores.drop()
    fetch_rate = fetch["orders"] / fetch["seconds"]
    print(f"{'run':<36}{'orders':>8}{'s':>8}{'orders/s':>10}{'÷ fetch':>9}{'× naive':>9}{'RSS MB':>8}{'B/order':>9}")
    for name, r, naive in rows:
        rate = r["orders"] / r["seconds"]
        vs_naive = f"{rate / (naive['orders'] / naive['seconds']):.1f}" if naive else "-"
        size = f"{r['bytes_per_order']:.0f}" if "bytes_per_order" in r else "-"
        print(f"{name:<36}{r['orders']:>8}{r['seconds']:>8.1f}{rate:>10.0f}{rate / fetch_rate:>9.2f}"
              f"{vs_naive:>9}{r['rss_mb']:>8.0f}{size:>9}")


if __name__ == "__main__":
    main()
