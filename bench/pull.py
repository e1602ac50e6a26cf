"""Pull throughput and the idle cycle: N orders from the Rozetka and the Prom.ua sandbox into a fresh SQLite store.

For each marketplace, prints the time of a first pull (every order new), an incremental pull (from the cursor:
nothing changed at the sandbox, i.e. the daemon's idle cycle), a full re-pull without the cursor (every order read
again, all unchanged: must write nothing), and a baseline run in the same process: the same pages fetched and mapped
without storing. The ratios say what the store costs on top of the network and the mapping.

The idle pull runs with the first pull's adapter, as the daemon keeps its adapters (and their login) between runs.
Of it, the script also prints what the sandbox received (its request log) and what the store wrote: rows added per
table, orders whose version or synced_at moved, which columns of the account's state and cursor rows changed, and
every INSERT/UPDATE/DELETE the store executed, by table.

    .venv/bin/python bench/pull.py [--orders 2000] [--page-size 100] [--marketplaces rozetka,promua]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.common import machine  # noqa: E402
from connector.logs import configure  # noqa: E402
from connector.store import Store  # noqa: E402
from connector.store.migrate import upgrade  # noqa: E402
from connector.store.tables import METADATA, AccountStateRow, OrderRow, SyncCursorRow  # noqa: E402
from connector.sync.pull import pull_account  # noqa: E402
from mappings import load  # noqa: E402

USER, PASSWORD, TOKEN = "bench@example.com", "bench", "bench-token"
WRITE = re.compile(r'^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?(?:\s+SET\s+(.*?)\s+WHERE)?',
                   re.IGNORECASE | re.DOTALL)
SET_COLUMN = re.compile(r'"?(\w+)"?\s*=')


# -- the two marketplaces with an incremental pull -------------------------------------------------------------------

def rozetka(orders: int, page_size: int) -> tuple[Any, Any]:
    """The sandbox (page size is the sandbox's: Rozetka's API pages by 20) and a factory of adapters for it."""
    from adapters.rozetka.adapter import RozetkaAdapter
    from adapters.rozetka.client import RozetkaClient
    from adapters.rozetka.sandbox import RozetkaSandbox
    sandbox = RozetkaSandbox(seed=1, orders=orders, page_size=page_size)
    sandbox.add_seller(USER, PASSWORD)

    def adapter() -> RozetkaAdapter:
        client = RozetkaClient(sandbox.url, username=USER, password=PASSWORD)
        return RozetkaAdapter("bench", client, load("rozetka"), first_pull=timedelta(days=3650))
    return sandbox, adapter


def promua(orders: int, page_size: int) -> tuple[Any, Any]:
    """The sandbox and a factory of adapters for it (page size is the adapter's ``limit``: 100, as every client)."""
    from adapters.promua.adapter import PromAdapter
    from adapters.promua.client import PromClient
    from adapters.promua.sandbox import PromSandbox
    sandbox = PromSandbox(seed=1, orders=orders)
    sandbox.add_token(TOKEN)

    def adapter() -> PromAdapter:
        client = PromClient(sandbox.base_url, token=TOKEN, requests_per_second=0)  # measure the code, not spacing
        return PromAdapter("bench", client, load("promua"), first_pull=timedelta(days=3650), page_size=page_size)
    return sandbox, adapter


MARKETPLACES = {"rozetka": rozetka, "promua": promua}


# -- what the store wrote ----------------------------------------------------------------------------------------------

@contextmanager
def counting_writes(store: Store):
    """Every INSERT/UPDATE/DELETE that touched a row while the block ran, by (statement, table, the columns an
    UPDATE sets: which tells a lease renewal from a run recorded), and the write transactions (SQLite's BEGIN
    IMMEDIATE, which takes the file's write lock even when nothing is then written)."""
    seen: Counter = Counter()

    def after(_conn, cursor, statement, _params, _context, _many) -> None:
        if statement.lstrip().upper().startswith("BEGIN IMMEDIATE"):
            seen["write transactions", "", ""] += 1
        elif (found := WRITE.match(statement)) and cursor.rowcount:
            kind, table, assignments = found.groups()
            columns = ", ".join(SET_COLUMN.findall(assignments or ""))
            seen[kind.split()[0].upper(), table, f" SET {columns}" if columns else ""] += 1

    sa.event.listen(store.engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        sa.event.remove(store.engine, "after_cursor_execute", after)


@dataclass
class Snapshot:
    counts: dict[str, int]  # table → rows
    orders: dict[int, tuple]  # order id → (version, synced_at)
    state: dict[str, dict[tuple, dict]]  # account_state and sync_cursors: table → primary key → the row

    @classmethod
    def of(cls, store: Store) -> Snapshot:
        with store.reading() as session:
            counts = {t.name: session.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                      for t in METADATA.sorted_tables}
            orders = {i: (v, s) for i, v, s in session.execute(
                sa.select(OrderRow.id, OrderRow.version, OrderRow.synced_at))}
            state = {}
            for model in (AccountStateRow, SyncCursorRow):
                table = model.__table__
                state[table.name] = {tuple(r[c.name] for c in table.primary_key): dict(r)
                                     for r in session.execute(sa.select(table)).mappings()}
        return cls(counts, orders, state)


def write_report(before: Snapshot, after: Snapshot, writes: Counter) -> list[str]:
    added = {t: after.counts[t] - before.counts[t] for t in after.counts if after.counts[t] != before.counts[t]}
    moved = sum(1 for i, seen in before.orders.items() if after.orders.get(i) != seen)
    lines = [f"row counts changed: {', '.join(f'{t} {n:+d}' for t, n in added.items()) or 'none'}; "
             f"orders whose version or synced_at moved: {moved} of {len(before.orders)}"]
    for table, rows in after.state.items():
        for key, row in rows.items():
            old = before.state[table].get(key)
            changed = sorted(c for c in row if old is None or row[c] != old[c])
            lines.append(f"{table} {'/'.join(map(str, key))}: "
                         + ("new row" if old is None else f"changed {', '.join(changed)}" if changed else "unchanged"))
    statements = [f"{kind} {table}{columns} ×{n}" for (kind, table, columns), n in sorted(writes.items()) if table]
    lines.append(f"statements that wrote: {'; '.join(statements) or 'none'}; "
                 f"write transactions: {writes['write transactions', '', '']}")
    return lines


# -- one marketplace -------------------------------------------------------------------------------------------------

def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def requests_seen(sandbox: Any, mark: int) -> str:
    by_route = Counter(f"{method} {path}" for method, path, *_ in sandbox.requests[mark:])
    listed = ", ".join(f"{route} ×{n}" for route, n in sorted(by_route.items()))
    return f"{sum(by_route.values())}" + (f" ({listed})" if listed else "")


def bench(name: str, orders: int, page_size: int, tmp: str) -> None:
    sandbox, adapter = MARKETPLACES[name](orders, page_size)
    with sandbox:
        store = Store(f"sqlite:///{Path(tmp) / f'{name}.db'}")
        upgrade(store)
        baseline, pages = timed(lambda: list(adapter().pull(None)))
        kept = adapter()  # the daemon's adapter lives on between pulls, and so does its login
        first, summary = timed(lambda: pull_account(store, kept))
        before, mark = Snapshot.of(store), len(sandbox.requests)
        with counting_writes(store) as writes:
            repeat, again = timed(lambda: pull_account(store, kept))
        after, idle_requests = Snapshot.of(store), requests_seen(sandbox, mark)
        with store.transaction() as session:
            session.execute(sa.delete(SyncCursorRow))
        full, unchanged = timed(lambda: pull_account(store, adapter()))
        store.dispose()
    n = sum(len(p.orders) for p in pages)
    print(f"{name} — orders: {n}  pages: {len(pages)}  page size: {page_size}")
    print(f"{'run':<34}{'seconds':>9}{'orders/s':>11}{'× baseline':>12}")
    for label, seconds in (("baseline: fetch + map, no store", baseline), ("first pull (all new)", first),
                           ("incremental pull (from the cursor)", repeat),
                           ("full re-pull (all unchanged)", full)):
        print(f"{label:<34}{seconds:>9.2f}{n / seconds:>11.0f}{seconds / baseline:>12.2f}")
    unmapped = f" ({len(summary.unmapped)} with a status the mapping leaves unmapped)" if summary.unmapped else ""
    print(f"first pull created {summary.created}{unmapped}; incremental pull read {again.unchanged + again.updated}; "
          f"full re-pull: {unchanged.unchanged} unchanged, {unchanged.created + unchanged.updated} written")
    print(f"idle pull (the incremental one: nothing changed at the sandbox): requests the sandbox received: "
          f"{idle_requests}; pages {again.pages}, orders re-read {again.unchanged}, written "
          f"{again.created + again.updated}")
    for line in write_report(before, after, writes):
        print(f"  {line}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=2000, help="orders in each sandbox (default 2000)")
    parser.add_argument("--page-size", type=int, default=100,
                        help="orders per page: Rozetka's sandbox page, Prom's limit (default 100)")
    parser.add_argument("--marketplaces", default="rozetka,promua",
                        help=f"comma list of {', '.join(MARKETPLACES)} (default: both)")
    args = parser.parse_args()
    names = args.marketplaces.split(",")
    if unknown := [n for n in names if n not in MARKETPLACES]:
        parser.error(f"--marketplaces: unknown {', '.join(unknown)}; one of {', '.join(MARKETPLACES)}")
    configure("error")  # Prom's sandbox seeds custom statuses the mapping leaves unmapped: counted, not logged
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            bench(name, args.orders, args.page_size, tmp)


if __name__ == "__main__":
    main()
