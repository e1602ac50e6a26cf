"""Pull throughput: N orders from the Rozetka sandbox into a fresh SQLite store.

Prints the time of a first pull (every order new), an incremental pull (from the cursor: nothing changed), a full
re-pull without the cursor (every order read again, all unchanged: must write nothing), and a baseline run in the
same process: the same pages fetched and mapped without storing. The ratios say what the store
costs on top of the network and the mapping.

    .venv/bin/python bench/pull.py [--orders 2000] [--page-size 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from adapters.rozetka.adapter import RozetkaAdapter
from adapters.rozetka.client import RozetkaClient
from adapters.rozetka.sandbox import RozetkaSandbox
from connector.logs import configure
from connector.store import Store
from connector.store.migrate import upgrade
from connector.store.tables import SyncCursorRow
from connector.sync.pull import pull_account
from mappings import load


def adapter(sandbox: RozetkaSandbox) -> RozetkaAdapter:
    client = RozetkaClient(sandbox.url, username="bench@example.com", password="bench")
    return RozetkaAdapter("bench", client, load("rozetka"), first_pull=timedelta(days=3650))


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=2000, help="orders in the sandbox (default 2000)")
    parser.add_argument("--page-size", type=int, default=100, help="orders per search page (default 100)")
    args = parser.parse_args()
    configure("warning")
    with RozetkaSandbox(seed=1, orders=args.orders, page_size=args.page_size) as sandbox, \
            tempfile.TemporaryDirectory() as tmp:
        sandbox.add_seller("bench@example.com", "bench")
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(store)
        baseline, pages = timed(lambda: list(adapter(sandbox).pull(None)))
        first, summary = timed(lambda: pull_account(store, adapter(sandbox)))
        repeat, again = timed(lambda: pull_account(store, adapter(sandbox)))
        with store.transaction() as session:
            session.execute(sa.delete(SyncCursorRow))
        full, unchanged = timed(lambda: pull_account(store, adapter(sandbox)))
    n = sum(len(p.orders) for p in pages)
    print(f"orders: {n}  pages: {len(pages)}  page size: {args.page_size}")
    print(f"{'run':<34}{'seconds':>9}{'orders/s':>11}{'× baseline':>12}")
    for name, seconds in (("baseline: fetch + map, no store", baseline), ("first pull (all new)", first),
                          ("incremental pull (from the cursor)", repeat),
                          ("full re-pull (all unchanged)", full)):
        print(f"{name:<34}{seconds:>9.2f}{n / seconds:>11.0f}{seconds / baseline:>12.2f}")
    print(f"first pull created {summary.created}; incremental pull read {again.unchanged + again.updated}; "
          f"full re-pull: {unchanged.unchanged} unchanged, {unchanged.created + unchanged.updated} written")


if __name__ == "__main__":
    main()
