"""Chopni scan cost: requests per pull against a sandbox with N orders, most of them long finished.

Prints the requests of a first scan, an idle routine scan (nothing changed), a routine scan after one order changed,
and a full sweep, against a baseline run in the same process: the naive scan that lists everything and opens every
order page.

    .venv/bin/python bench/chopni_scan.py [--orders 300] [--page-size 50]
"""

from __future__ import annotations

import argparse
import json
from datetime import timedelta

from adapters.chopni.adapter import ChopniAdapter
from adapters.chopni.client import ChopniClient
from adapters.chopni.sandbox import ChopniSandbox
from connector.domain import utcnow
from connector.logs import configure
from mappings import load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=300, help="orders in the sandbox (default 300)")
    parser.add_argument("--page-size", type=int, default=50, help="rows per list page (default 50)")
    args = parser.parse_args()
    configure("warning")
    with ChopniSandbox(seed=5, orders=args.orders) as sandbox:
        sandbox.add_seller("bench@example.com", "bench")
        # most orders are old and finished: move the clock on two months for the scans
        later = utcnow() + timedelta(days=60)
        client = ChopniClient(sandbox.url, email="bench@example.com", password="bench", requests_per_second=0)
        adapter = ChopniAdapter("bench", client, load("chopni"), page_size=args.page_size, clock=lambda: later)
        in_play = [i for i in sandbox.order_ids()
                   if sandbox.order(i)["vendor_status"] not in ("COMPLETE", "refunded", "Cancelled", "Failed")]

        def scan(cursor):
            mark = len(sandbox.requests)
            pages = list(adapter.pull(cursor))
            requests = sandbox.requests[mark:]
            lists = sum(1 for r in requests if r[1] == "seller/account-order/getTableData")
            opened = sum(1 for r in requests if r[1] == "seller/account-order/viewOrder")
            return pages[-1].cursor, lists, opened

        cursor, *first = scan(None)
        cursor, *idle = scan(cursor)
        sandbox.set_vendor_status(in_play[0], "SHIPPED", "Tracking: Econt 1057000001")
        cursor, *one = scan(cursor)
        state = json.loads(cursor)
        state["swept_at"] = (later - timedelta(days=1)).isoformat()
        _, *sweep = scan(json.dumps(state))
    naive = (-(-args.orders // args.page_size), args.orders)
    print(f"orders: {args.orders}  still in play: {len(in_play)}  page size: {args.page_size}")
    print(f"{'scan':<36}{'list pages':>11}{'order pages':>13}{'× baseline':>12}")
    for name, (lists, opened) in (("baseline: list all, open every order", naive), ("first scan", first),
                                  ("idle routine scan", idle), ("routine scan, one order changed", one),
                                  ("full sweep", sweep)):
        print(f"{name:<36}{lists:>11}{opened:>13}{(lists + opened) / sum(naive):>12.3f}")


if __name__ == "__main__":
    main()
