"""Tracking (issue 12, target 4): N active Nova Poshta parcels in a fresh store, one tracking cycle, its time.

The Nova Poshta sandbox runs in this process and knows N parcels, each somewhere along one of its realistic paths,
at a step the store does not treat as final (not delivered, returned, lost or deleted), with the buyer's phone.
A fresh store (SQLite file or PostgreSQL database) holds N shipped orders, one parcel (TTN) each, never asked yet:
one order is written by the store's own upsert (connector/store/orders.py: upsert_pulled) and its orders,
order_lines and shipments rows are copied N-1 times with SQLAlchemy Core, which is setup, not measured.

Measured, each in a child process of its own (its own peak RSS, no GIL shared with the sandbox):
  - client-only, the baseline: the same numbers and phones sent straight with NovaPoshtaClient, 100 a request,
    nothing mapped, nothing stored;
  - adapter-only: the same through NovaPoshtaAdapter.track (the client and the mapping to reports), no store;
  - cycle 1: connector/sync/track.py's track_parcels with what connector/sync/cycle.py's track_for gives it (a
    Rozetka account's tracking rules, the default track_every of 30 minutes): every parcel due, ceil(N/100)
    requests expected;
  - cycle 2, right after: nothing is due yet, no request expected (a fresh process, as every run here: its time
    is mostly the due query's first compile and round trip, which a running daemon has behind it);
  - cycle 3, one track_every later (the job's clock moved on): every parcel due again, the carrier says nothing
    new: the routine cost of following N parcels.
Requests are counted in the sandbox's own request log. ÷ client is the run's seconds over the client-only seconds.

    .venv/bin/python bench/track.py                              # 10,000 parcels, SQLite and PostgreSQL
    .venv/bin/python bench/track.py --parcels 1000 --stores sqlite
    .venv/bin/python bench/track.py --parcels 1000 --profile     # + cProfile of cycles 1 and 3, ms per parcel

The store's due query reads at most 10,000 parcels a run (connector/store/shipments.py: due): above that, a cycle
asks about the first 10,000 and the rest wait for the next run. PostgreSQL: CONNECTOR_BENCH_PG_URL (default
postgresql://postgres@127.0.0.1:5432/postgres, trust auth); a database of its own is created per store and dropped.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Stores, machine, peak_mb  # noqa: E402

ACCOUNT = "bench"
PROFILE_LINES = 25


def track_every() -> timedelta:
    """The configuration's default interval, as the daemon would track."""
    from connector.config import ScheduleSettings
    return ScheduleSettings().track_every


# -- the parcels -----------------------------------------------------------------------------------------------------

def active_codes(path: tuple[int, ...]) -> list[int]:
    """The steps of a path at which the store still follows the parcel."""
    from connector.domain import SHIPMENT_TERMINAL
    from mappings import load
    vocabulary = load("novaposhta")
    return [code for code in path if vocabulary.shipment(code).status not in SHIPMENT_TERMINAL]


def seed_parcels(sandbox, count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` parcels on paths drawn as the sandbox seeds its own, each at an active step. → (ttn, phone)."""
    from adapters.novaposhta.sandbox import PATH_WEIGHTS, PATHS
    rng = random.Random(seed)
    names, weights = list(PATH_WEIGHTS), list(PATH_WEIGHTS.values())
    codes = {name: active_codes(PATHS[name]) for name in names}
    parcels = []
    for _ in range(count):
        name = rng.choices(names, weights)[0]
        phone = f"38067{rng.randrange(10**7):07d}"
        parcels.append((sandbox.add_parcel(phone=phone, code=rng.choice(codes[name]), path=name), phone))
    return parcels


# -- the store -------------------------------------------------------------------------------------------------------

def template_order(ttn: str, phone: str):
    """A Rozetka order the marketplace says is on its way, as a pull maps it."""
    from decimal import Decimal

    from connector.domain import Buyer, MarketplaceStatus, Order, OrderKey, OrderLine, PaymentStatus, Shipment
    from mappings import load
    code = "4"  # Rozetka's "Доставляється"
    rule = load("rozetka").rule(code)
    created = datetime.now(UTC) - timedelta(days=2)
    return Order(key=OrderKey("rozetka", ACCOUNT, "0"), status=rule.status,
                 marketplace_status=MarketplaceStatus(code, rule.label), currency="UAH", total=Decimal("640.00"),
                 created_at=created, changed_at=created, payment_status=PaymentStatus.CASH_ON_DELIVERY,
                 buyer=Buyer("Bench Buyer", phone, "buyer@example.com"),
                 lines=[OrderLine("12106", "38221768", "Bench book", 1, Decimal("640.00"))],
                 shipments=[Shipment("novaposhta", ttn)])


def fill(store, parcels: list[tuple[str, str]]) -> None:
    """One order per parcel: the first through the store's upsert, the rest as copies of its rows."""
    import sqlalchemy as sa

    from connector.domain import RawPayload
    from connector.store.orders import upsert_pulled
    from connector.store.tables import OrderLineRow, OrderRow, ShipmentRow
    (ttn, phone), rest = parcels[0], parcels[1:]
    order = template_order(ttn, phone)
    with store.transaction() as session:
        upsert_pulled(session, order, RawPayload(json.dumps({"id": "0", "ttn": ttn})))
    orders, lines, shipments = OrderRow.__table__, OrderLineRow.__table__, ShipmentRow.__table__
    with store.engine.begin() as conn:
        [order_row] = conn.execute(sa.select(orders)).mappings().all()
        line_rows = conn.execute(sa.select(lines)).mappings().all()
        [shipment_row] = conn.execute(sa.select(shipments)).mappings().all()
        copies = [{**_without_id(order_row), "external_id": str(i), "buyer_phone": phone}
                  for i, (_, phone) in enumerate(rest, start=1)]
        if not copies:
            return
        conn.execute(sa.insert(orders), copies)
        ids = dict(conn.execute(sa.select(orders.c.external_id, orders.c.id)).all())
        conn.execute(sa.insert(lines), [{**_without_id(line), "order_id": ids[str(i)]}
                                        for i in range(1, len(parcels)) for line in line_rows])
        conn.execute(sa.insert(shipments), [{**_without_id(shipment_row), "order_id": ids[str(i)], "ttn": ttn}
                                            for i, (ttn, _) in enumerate(rest, start=1)])


def _without_id(row) -> dict:
    return {key: value for key, value in row.items() if key != "id"}


# -- one measured run, in a child process ---------------------------------------------------------------------------

def _client_only(sandbox_url: str, parcels: list[tuple[str, str]]) -> dict:
    from adapters.novaposhta.client import MAX_DOCUMENTS, NovaPoshtaClient
    from adapters.novaposhta.sandbox import DEFAULT_KEY
    client = NovaPoshtaClient(sandbox_url, DEFAULT_KEY)
    start = time.perf_counter()
    records = sum(len(client.status_documents(parcels[i:i + MAX_DOCUMENTS]).data)
                  for i in range(0, len(parcels), MAX_DOCUMENTS))
    return {"seconds": time.perf_counter() - start, "asked": records}


def _adapter_only(sandbox_url: str, parcels: list[tuple[str, str]]) -> dict:
    from adapters.base import Parcel
    adapter = _np_adapter(sandbox_url)
    start = time.perf_counter()
    reports = sum(len(adapter.track([Parcel(ttn, phone) for ttn, phone in parcels[i:i + adapter.batch_size]]))
                  for i in range(0, len(parcels), adapter.batch_size))
    return {"seconds": time.perf_counter() - start, "asked": reports}


def _np_adapter(sandbox_url: str):
    from adapters.base import CarrierLogin
    from adapters.novaposhta.adapter import build
    from adapters.novaposhta.sandbox import DEFAULT_KEY
    from mappings import load
    return build(CarrierLogin(sandbox_url, api_key=DEFAULT_KEY), load("novaposhta"))


def _cycle(sandbox_url: str, store_url: str, later: timedelta, profile: bool) -> dict:
    from connector.config import TrackingSettings
    from connector.store import Store
    from connector.sync.track import track_parcels
    store = Store(store_url)
    store.ping()  # the daemon's engine is already connected when its cycle starts
    carriers = {"novaposhta": _np_adapter(sandbox_url)}
    rules = TrackingSettings().rules("rozetka")
    clock = (lambda: datetime.now(UTC) + later)

    def cycle():
        return track_parcels(store, carriers, lambda _account: rules, every=track_every(), accounts=[ACCOUNT],
                             now=clock)

    start = time.perf_counter()
    summary = _profiled(cycle, _statements(store)) if profile else cycle()
    seconds = time.perf_counter() - start
    store.dispose()
    return {"seconds": seconds, "asked": sum(summary.asked.values()), "job_requests": sum(summary.requests.values()),
            "changed": summary.changed, "moved": len(summary.moved), "errors": summary.errors}


def _statements(store) -> list[int]:
    """A counter of the SQL statements the store sends from now on (a round trip each)."""
    import sqlalchemy as sa
    count = [0]
    sa.event.listen(store.engine, "before_cursor_execute", lambda *_: count.__setitem__(0, count[0] + 1))
    return count


def _profiled(fn, statements: list[int]):
    """Run ``fn`` under cProfile; the project's heaviest functions go to stderr for the parent to print, in ms per
    parcel asked (SQLAlchemy's own frames are left out: the project's caller says which use of it costs)."""
    import cProfile
    import pstats
    profiler = cProfile.Profile()
    summary = profiler.runcall(fn)
    asked = max(sum(summary.asked.values()), 1)
    per = 1000 / asked
    print(f"{statements[0]} SQL statements, {statements[0] / asked:.1f} per parcel", file=sys.stderr)
    mine = [(cumulative, own, calls, f"{Path(file).relative_to(ROOT)}:{line}({name})")
            for (file, line, name), (_, calls, own, cumulative, _) in pstats.Stats(profiler).stats.items()
            if file.startswith(str(ROOT)) and "/.venv/" not in file and not file.startswith(str(ROOT / "bench"))]
    print(f"{'cumulative ms/parcel':>21}{'own ms/parcel':>15}{'calls':>8}  function", file=sys.stderr)
    for cumulative, own, calls, where in sorted(mine, reverse=True)[:PROFILE_LINES]:
        print(f"{cumulative * per:>21.3f}{own * per:>15.3f}{calls:>8}  {where}", file=sys.stderr)
    return summary


def child(args: argparse.Namespace) -> dict:
    from connector.logs import configure
    configure("warning")
    parcels = [tuple(p) for p in json.loads(Path(args.parcels_file).read_text())]
    if args.child == "client":
        out = _client_only(args.sandbox, parcels)
    elif args.child == "adapter":
        out = _adapter_only(args.sandbox, parcels)
    elif args.child == "fill":
        from connector.store import Store
        from connector.store.migrate import upgrade
        store = Store(args.store)
        upgrade(store)
        start = time.perf_counter()
        fill(store, parcels)
        out = {"seconds": time.perf_counter() - start}
        store.dispose()
    else:
        out = _cycle(args.sandbox, args.store, timedelta(minutes=args.later), args.profile)
    return out | {"rss_mb": peak_mb()}


# -- the orchestra ---------------------------------------------------------------------------------------------------

class Runner:
    """Runs one child and counts the requests the sandbox logged while it ran."""

    def __init__(self, sandbox, parcels_file: str) -> None:
        self.sandbox, self.parcels_file = sandbox, parcels_file

    def __call__(self, kind: str, store_url: str = "", later: int = 0, profile: bool = False) -> dict:
        before = len(self.sandbox.requests)
        out = subprocess.run([sys.executable, __file__, "--child", kind, "--sandbox", self.sandbox.url,
                              "--store", store_url, "--parcels-file", self.parcels_file, "--later", str(later)]
                             + (["--profile"] if profile else []), capture_output=True, text=True, cwd=ROOT)
        if out.returncode:
            raise SystemExit(f"{kind} run failed:\n{out.stderr[-3000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        return result | {"requests": len(self.sandbox.requests) - before, "profile": out.stderr if profile else ""}


def run_store(runner: Runner, backend: str, url: str, profile: bool) -> list[tuple[str, dict]]:
    filled = runner("fill", url)
    print(f"{backend}: store filled in {filled['seconds']:.1f}s (setup, not measured)")
    late = int(track_every().total_seconds()) // 60 + 1
    rows = [("cycle 1: all due", runner("cycle", url, profile=profile)),
            ("cycle 2: right after", runner("cycle", url)),
            (f"cycle 3: +{late} min, nothing new", runner("cycle", url, later=late, profile=profile))]
    for name, r in rows:
        if r["profile"]:
            print(f"-- {backend}: {name}, under cProfile (slower than unprofiled)\n{r['profile']}")
    return rows


def report(rows: list[tuple[str, dict]], client: dict) -> None:
    print(f"{'run':<44}{'requests':>9}{'asked':>7}{'s':>8}{'parcels/s':>10}{'÷ client':>9}{'RSS MB':>8}"
          f"{'changed':>8}{'moved':>6}")
    for name, r in rows:
        rate = f"{r['asked'] / r['seconds']:.0f}" if r["asked"] else "-"
        print(f"{name:<44}{r['requests']:>9}{r['asked']:>7}{r['seconds']:>8.2f}{rate:>10}"
              f"{r['seconds'] / client['seconds']:>9.2f}{r['rss_mb']:>8.0f}{r.get('changed', '-'):>8}"
              f"{r.get('moved', '-'):>6}")
    for name, r in rows:
        if r.get("errors") or ("job_requests" in r and r["job_requests"] != r["requests"]):
            print(f"  {name}: the job counted {r['job_requests']} requests, errors {r['errors']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parcels", type=int, default=10_000, help="active parcels, one order each (default 10000)")
    parser.add_argument("--stores", default="sqlite,postgresql", help="comma list (default sqlite,postgresql)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the parcels' paths, steps and phones")
    parser.add_argument("--profile", action="store_true",
                        help="run cycles 1 and 3 under cProfile and print the project's heaviest functions in ms "
                             "per parcel (slows those cycles down: their times are then not comparable)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--sandbox", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--parcels-file", help=argparse.SUPPRESS)
    parser.add_argument("--later", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return

    from adapters.novaposhta.sandbox import NovaPoshtaSandbox
    from connector.logs import configure
    configure("warning")
    seeded = time.perf_counter()
    with NovaPoshtaSandbox(seed=args.seed) as sandbox, tempfile.TemporaryDirectory() as tmp:
        parcels = seed_parcels(sandbox, args.parcels, args.seed)
        parcels_file = Path(tmp) / "parcels.json"
        parcels_file.write_text(json.dumps(parcels))
        print(f"sandbox: {args.parcels} active Nova Poshta parcels, seeded in {time.perf_counter() - seeded:.1f}s; "
              f"{machine()}")
        runner, stores = Runner(sandbox, str(parcels_file)), Stores(tmp)
        try:
            client = runner("client")
            rows = [("client-only (baseline: no mapping, no store)", client),
                    ("adapter-only (client + mapping, no store)", runner("adapter"))]
            for backend in args.stores.split(","):
                rows += [(f"{backend}: {name}", r)
                         for name, r in run_store(runner, backend, stores.url(backend), args.profile)]
        finally:
            stores.drop()
    report(rows, client)


if __name__ == "__main__":
    main()
