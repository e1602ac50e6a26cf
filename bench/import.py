"""First import: N orders from a marketplace's sandbox into a fresh store, on SQLite and on PostgreSQL.

Rozetka by default (20 orders a page, as its API pages); ``--marketplace promua`` reads Prom.ua's list at
``limit=100`` (what every client uses; reference §2.1), ``--marketplace chopni`` Chopni's orders table at 50 rows a
list page (what the adapter sends as ``iDisplayLength``; the panel's own browser page is 10 rows) and then one order
page per order: a Chopni import is bound by its requests, about one per order, and a production account spaces them
(``requests_per_second``, 2 by default), so the script also prints each run's requests and the time that spacing
alone would take. Here the clients do not space their requests: the figures are the code's.

Every figure comes with its baselines, measured in the same run against the same sandbox:
  - fetch-only: the same pages read and mapped by the adapter, nothing stored (what "the speed of the wire" is);
  - naive: one transaction per order (the same upsert), no prefetching, over the first --naive orders.
The sandbox runs in this process; each measured run is a child process of its own, so its peak RSS
(VmHWM, else resource.getrusage) is its own and it does not share a GIL with the sandbox. Bytes per order: the SQLite file
(with its WAL, after a checkpoint), and PostgreSQL's pg_database_size, each less the empty migrated store.

    .venv/bin/python bench/import.py                    # 20,000 orders
    .venv/bin/python bench/import.py --orders 100000    # the issue's figure (several minutes)
    .venv/bin/python bench/import.py --stores sqlite    # SQLite only
    .venv/bin/python bench/import.py --marketplace chopni --orders 2000

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

USER, PASSWORD, TOKEN = "bench@example.com", "bench", "bench-token"
# Orders per page as each marketplace's real list pages them (see the docstring).
PAGE_SIZE = {"rozetka": 20, "promua": 100, "chopni": 50}
SPACED = ("promua", "chopni")  # their clients space requests as the account's requests_per_second says; Rozetka's not


def _adapter(marketplace: str, url: str, page_size: int):
    from mappings import load
    vocabulary = load(marketplace)
    if marketplace == "promua":
        from adapters.promua.adapter import PromAdapter
        from adapters.promua.client import PromClient
        client = PromClient(url, token=TOKEN, requests_per_second=0)
        return PromAdapter("bench", client, vocabulary, first_pull=timedelta(days=3650), page_size=page_size)
    if marketplace == "chopni":
        from adapters.chopni.adapter import ChopniAdapter
        from adapters.chopni.client import ChopniClient
        client = ChopniClient(url, email=USER, password=PASSWORD, requests_per_second=0)
        return ChopniAdapter("bench", client, vocabulary, page_size=page_size)  # a first scan reads every order
    from adapters.rozetka.adapter import RozetkaAdapter
    from adapters.rozetka.client import RozetkaClient
    client = RozetkaClient(url, username=USER, password=PASSWORD)
    return RozetkaAdapter("bench", client, vocabulary, first_pull=timedelta(days=3650))


def sandbox_for(marketplace: str, orders: int, page_size: int):
    """The marketplace's sandbox with N seeded orders and the bench seller's login, and the URL its adapter takes."""
    if marketplace == "promua":
        from adapters.promua.sandbox import PromSandbox
        sandbox = PromSandbox(seed=1, orders=orders)
        sandbox.add_token(TOKEN)
        return sandbox, lambda: sandbox.base_url
    if marketplace == "chopni":
        from adapters.chopni.sandbox import ChopniSandbox
        sandbox = ChopniSandbox(seed=1, orders=orders, page_size_cap=None)  # stock MultiMerch caps no page
        sandbox.add_seller(USER, PASSWORD)  # the seeded orders are the first seller's
        return sandbox, lambda: sandbox.url
    from adapters.rozetka.sandbox import RozetkaSandbox
    sandbox = RozetkaSandbox(seed=1, orders=orders, page_size=page_size)
    sandbox.add_seller(USER, PASSWORD)
    return sandbox, lambda: sandbox.url


# -- one measured run, in a child process ---------------------------------------------------------------------------

def child(kind: str, marketplace: str, page_size: int, sandbox_url: str, store_url: str, limit: int) -> dict:
    import sqlalchemy as sa

    from connector.logs import configure
    from connector.store import Store
    from connector.store.migrate import upgrade
    configure("warning")
    adapter = _adapter(marketplace, sandbox_url, page_size)
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
        # an unmapped status is stored, flagged (Prom's sandbox seeds custom statuses the mapping leaves unmapped)
        assert not (summary.unparsed or summary.quarantined), (summary.unparsed + summary.quarantined)[:3]
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

def run(kind: str, marketplace: str, page_size: int, sandbox, sandbox_url: str, store_url: str = "",
        limit: int = 0) -> dict:
    mark = len(sandbox.requests)
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--marketplace", marketplace,
                          "--page-size", str(page_size), "--sandbox", sandbox_url, "--store", store_url,
                          "--limit", str(limit)], capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise SystemExit(f"{kind} run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1]) | {"requests": len(sandbox.requests) - mark}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20_000, help="orders in the sandbox (default 20000)")
    parser.add_argument("--marketplace", choices=sorted(PAGE_SIZE), default="rozetka",
                        help="whose sandbox and adapter (default rozetka)")
    parser.add_argument("--page-size", type=int, help="orders per list page (default as the real list pages: "
                        + ", ".join(f"{m} {n}" for m, n in PAGE_SIZE.items()) + ")")
    parser.add_argument("--naive", type=int, default=2_000, help="orders the naive baseline imports (default 2000)")
    parser.add_argument("--stores", default="sqlite,postgresql", help="comma list (default sqlite,postgresql)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--sandbox", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    page_size = args.page_size or PAGE_SIZE[args.marketplace]
    if args.child:
        print(json.dumps(child(args.child, args.marketplace, page_size, args.sandbox, args.store, args.limit)))
        return

    from connector.logs import configure
    configure("warning")
    seeded = time.perf_counter()
    sandbox, url = sandbox_for(args.marketplace, args.orders, page_size)
    with sandbox, tempfile.TemporaryDirectory() as tmp:
        print(f"sandbox: {args.orders} {args.marketplace} orders at {page_size} a page, seeded in "
              f"{time.perf_counter() - seeded:.1f}s; {machine()}")
        stores = Stores(tmp)

        def measure(kind: str, store_url: str = "", limit: int = 0) -> dict:
            return run(kind, args.marketplace, page_size, sandbox, url(), store_url, limit)
        try:
            fetch = measure("fetch")
            rows = [("fetch-only (read + map, no store)", fetch, None)]
            for backend in args.stores.split(","):
                imported = measure("import", stores.url(backend))
                naive = measure("naive", stores.url(backend), args.naive)
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
    print_requests(args.marketplace, rows)


def print_requests(marketplace: str, rows: list) -> None:
    """What each run asked the sandbox, and for a client that spaces its requests, the floor that spacing sets."""
    print("requests to the sandbox: " + "; ".join(
        f"{name.split(' (')[0]} {r['requests']} ({r['requests'] / max(r['orders'], 1):.2f} per order)"
        for name, r, _ in rows))
    if marketplace in SPACED:
        from connector.config import AccountSettings
        per_second = AccountSettings.model_fields["requests_per_second"].default  # a production account's
        fetch = rows[0][1]
        floor = fetch["requests"] / per_second
        print(f"at a production account's {per_second:g} requests/s, the fetch-only run's requests alone "
              f"take {floor:.0f}s: at most {fetch['orders'] / floor:.1f} orders/s, "
              f"{floor / fetch['seconds']:.0f}× the fetch-only time measured here without spacing")


if __name__ == "__main__":
    main()
