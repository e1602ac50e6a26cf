"""Push latency and drain throughput (issue 12, target 3), on SQLite and on PostgreSQL, against the Rozetka sandbox.

Latency: the real daemon (connector/daemon.py) runs; every --spacing ms a seller command (accept) is recorded through
the command layer the CLI uses (connector/sync/intake.py `submit`, one transaction each). Each command's latency
is from its commit to the moment the sandbox receives its PUT /orders/{id}. The baseline is the push interval
(`schedule.push_every`): without the wake-up shortcut a command would wait half of it on average, so the script
prints p95 ÷ push_every. The daemon wakes differently on each store: PostgreSQL LISTENs on the commands trigger's
NOTIFY, SQLite looks at the newest command id once a second (Daemon._wake_on_commands).

Drain: --drain commands queued at once (accept, start processing, ship with a TTN: three status changes for each
order), then push_due called until nothing is due. Baseline, in the same process against the same sandbox: the very
requests the drain sent, replayed straight with the Rozetka client on fresh orders (no store, no planning). Every
command must end done with exactly one PUT each (none failed, none sent twice).

    .venv/bin/python bench/push.py                                     # 200 commands, 5,000 drained, both stores
    .venv/bin/python bench/push.py --commands 40 --drain 200 --stores sqlite
    .venv/bin/python bench/push.py --drain 1000 --profile 25           # where the drain's time goes (cProfile)

Everything (sandbox, daemon, the recording "CLI") runs in this one process, as threads sharing the GIL: the figures
include that contention. PostgreSQL: CONNECTOR_BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres,
trust auth); a database of its own is created for each store run and dropped after it.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import math
import os
import pstats
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from adapters.factory import build_adapter  # noqa: E402
from adapters.rozetka.client import RozetkaClient  # noqa: E402
from adapters.rozetka.sandbox import RozetkaSandbox  # noqa: E402
from bench.common import Stores, machine  # noqa: E402
from connector.config import Settings, parse_settings  # noqa: E402
from connector.daemon import COMMAND_POLL, Daemon  # noqa: E402
from connector.logs import configure  # noqa: E402
from connector.store import Store  # noqa: E402
from connector.store.migrate import upgrade  # noqa: E402
from connector.store.tables import CommandRow  # noqa: E402
from connector.sync import owner_id  # noqa: E402
from connector.sync.intake import submit  # noqa: E402
from connector.sync.pull import pull_account  # noqa: E402
from connector.sync.push import push_due  # noqa: E402

ACCOUNT = "rozetka-bench"
USER, PASSWORD = "bench@example.com", "bench"
# One order's seller day, each a single PUT on Rozetka: 1 → 26, 26 → 2, 2 → 61 with the TTN.
DAY = (("accept", {}), ("start_processing", {}), ("ship", {"ttn": "2045{n:010d}"}))
ORDER_PATH = re.compile(r"/orders/(\d+)")
PACKAGES = tuple(f"{ROOT / name}{os.sep}" for name in ("connector", "adapters"))  # what a profile shows


class TimedSandbox(RozetkaSandbox):
    """The Rozetka sandbox, noting when each order's first PUT arrived (the sandbox itself keeps no times)."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.first_put: dict[str, float] = {}  # path → time.perf_counter() when its first PUT was received

    def record(self, request) -> None:
        if request.method == "PUT":
            self.first_put.setdefault(request.path, time.perf_counter())
        super().record(request)


# -- set-up ----------------------------------------------------------------------------------------------------------

def settings_for(sandbox: RozetkaSandbox, store_url: str, secret: Path) -> Settings:
    return parse_settings({
        "store": {"url": store_url},
        "accounts": [{"name": ACCOUNT, "marketplace": "rozetka", "base_url": sandbox.url, "username": USER,
                      "password_file": str(secret)}],
        "daemon": {"health_port": None},
    })


def queue(store: Store, commands: list[tuple[str, str, dict]]) -> list[int]:
    """(order ref, kind, payload) → command ids, through the CLI's `submit`; a transaction per hundred (set-up)."""
    ids = []
    for start in range(0, len(commands), 100):
        with store.transaction() as session:
            for ref, kind, payload in commands[start:start + 100]:
                ids.append(submit(session, ref, kind, payload, requested_by="bench")[1].row.id)
    return ids


def states(store: Store, ids: list[int]) -> Counter:
    found: Counter = Counter()
    with store.reading() as session:
        for start in range(0, len(ids), 1000):  # bounded IN lists
            rows = session.execute(sa.select(CommandRow.state, sa.func.count())
                                   .where(CommandRow.id.in_(ids[start:start + 1000]))
                                   .group_by(CommandRow.state)).all()
            found.update(dict(rows))
    return found


def puts_per_order(requests: list[tuple], orders: list[int]) -> Counter:
    wanted = {f"/orders/{order}" for order in orders}
    return Counter(path for method, path, *_ in requests if method == "PUT" and path in wanted)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# -- 1. latency: the daemon running, commands arriving one by one -----------------------------------------------------

def measure_latency(sandbox: TimedSandbox, settings: Settings, orders: list[int], spacing: float,
                    warmup: float) -> dict:
    url = settings.store.url
    daemon = Daemon(settings, Store(url))
    cli = Store(url)  # the CLI's own engine, as a separate `connector order accept` would have
    committed: dict[str, float] = {}
    ids: list[int] = []
    daemon.start()
    try:
        time.sleep(warmup)  # the start-up pull, push and tracking run at once: not what is measured
        began = time.perf_counter()
        for i, order in enumerate(orders):
            pause = began + i * spacing - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            with cli.transaction() as session:
                ids.append(submit(session, f"{ACCOUNT}:{order}", "accept", {}, requested_by="bench")[1].row.id)
            committed[f"/orders/{order}"] = time.perf_counter()
        recorded = time.perf_counter() - began
        deadline = time.perf_counter() + settings.schedule.push_every.total_seconds() + 60
        while time.perf_counter() < deadline and not all(p in sandbox.first_put for p in committed):
            time.sleep(0.05)
    finally:
        daemon.shutdown(wait=True)  # the push in hand finishes and records its outcome
    outcome = states(cli, ids)
    cli.dispose()
    daemon.store.dispose()
    latencies = [sandbox.first_put[p] - t for p, t in committed.items() if p in sandbox.first_put]
    return {"latencies": latencies, "sent": len(committed), "rate": len(committed) / recorded,
            "states": outcome, "puts": puts_per_order(list(sandbox.requests), orders)}


# -- 2. drain: thousands queued, pushed until nothing is due ----------------------------------------------------------

def measure_drain(store: Store, adapter, sandbox: TimedSandbox, orders: list[int], count: int,
                  profile: int) -> dict:
    """``count`` commands over ``orders`` (the steps of DAY in turn) queued, then pushed until none is due."""
    commands = [(orders[j // len(DAY)], *DAY[j % len(DAY)]) for j in range(count)]
    started = time.perf_counter()
    ids = queue(store, [(f"{ACCOUNT}:{order}", kind, {k: v.format(n=j) for k, v in payload.items()})
                        for j, (order, kind, payload) in enumerate(commands)])
    queued = time.perf_counter() - started
    first_request = len(sandbox.requests)
    profiler = cProfile.Profile() if profile else None
    owner = owner_id()
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    while push_due(store, {ACCOUNT: adapter}, owner).pushed:
        pass
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - started
    sent = list(sandbox.requests)[first_request:]
    return {"commands": count, "seconds": seconds, "queued_s": queued, "states": states(store, ids),
            "sent": sent, "orders": orders, "puts": puts_per_order(sent, orders),
            "expected_puts": Counter(f"/orders/{order}" for order, *_ in commands), "profile": profiler}


def client_only(sandbox: TimedSandbox, sent: list[tuple], drained: list[int]) -> float:
    """The drain's requests again, straight from the client on fresh orders at the same status: seconds taken."""
    fresh = {old: sandbox.add_order(1) for old in drained}
    client = RozetkaClient(sandbox.url, username=USER, password=PASSWORD)
    client.login()  # the drain's adapter was logged in before its clock started too
    replay = [(method, ORDER_PATH.sub(lambda m: f"/orders/{fresh.get(int(m[1]), m[1])}", path), query, body)
              for method, path, query, body in sent if path != "/sites"]
    started = time.perf_counter()
    for method, path, query, body in replay:
        client.call(method, path, params=query or None, json=body)
    seconds = time.perf_counter() - started
    client.close()
    return seconds


def print_profile(profiler: cProfile.Profile, commands: int, top: int) -> None:
    """The project's functions by cumulative time, in ms per drained command (the sandbox's threads not included)."""
    rows = []
    for (path, line, name), (_, calls, _, cumulative, _) in pstats.Stats(profiler).stats.items():
        if path.startswith(PACKAGES):
            rows.append((cumulative, calls, f"{Path(path).relative_to(ROOT)}:{line} {name}"))
    print("  profile, project functions by cumulative time (ms per command, calls per command):")
    for cumulative, calls, where in sorted(rows, reverse=True)[:top]:
        print(f"    {cumulative * 1000 / commands:8.2f} ms  {calls / commands:6.1f}×  {where}")


# -- one store ------------------------------------------------------------------------------------------------------

def run_store(backend: str, stores: Stores, tmp: str, args: argparse.Namespace) -> dict:
    url = stores.url(backend)
    drain_orders = math.ceil(args.drain / len(DAY))
    seeded = time.perf_counter()
    with TimedSandbox(seed=1, orders=0) as sandbox:
        sandbox.add_seller(USER, PASSWORD)
        latency_orders = [sandbox.add_order(1) for _ in range(args.commands)]
        drained = [sandbox.add_order(1) for _ in range(drain_orders)]
        secret = Path(tmp) / f"{backend}.secret"
        secret.write_text(PASSWORD)
        secret.chmod(0o600)
        settings = settings_for(sandbox, url, secret)
        store = Store(url)
        upgrade(store)
        adapter = build_adapter(settings.account(ACCOUNT))
        summary = pull_account(store, adapter)
        assert summary.created == args.commands + drain_orders, summary
        print(f"{backend}: {summary.created} new orders pulled in {time.perf_counter() - seeded:.1f}s (set-up)")
        latency = measure_latency(sandbox, settings, latency_orders, args.spacing / 1000, args.warmup)
        drain = measure_drain(store, adapter, sandbox, drained, args.drain, args.profile)
        drain["client_s"] = client_only(sandbox, drain["sent"], drain["orders"])
        adapter.close()
        store.dispose()
    return {"backend": backend, "push_every": settings.schedule.push_every.total_seconds(),
            "latency": latency, "drain": drain}


# -- the report ------------------------------------------------------------------------------------------------------

def report_latency(r: dict) -> None:
    lat, every = r["latency"], r["push_every"]
    wake = "LISTEN/NOTIFY" if r["backend"] == "postgresql" else f"a poll of the newest command id every {COMMAND_POLL} s"
    ms = [v * 1000 for v in lat["latencies"]]
    once = all(n == 1 for n in lat["puts"].values()) and len(lat["puts"]) == lat["sent"]
    drain_rate = r["drain"]["states"]["done"] / r["drain"]["seconds"]
    print(f"  latency (daemon running, woken by {wake}): {len(ms)} of {lat['sent']} commands received")
    print(f"    recorded at {lat['rate']:.1f}/s; the drain below pushes {drain_rate:.1f}/s (a higher rate than that "
          "queues, and the latency grows with it)")
    if ms:
        p95 = percentile(ms, 0.95)
        print(f"    p50 {percentile(ms, 0.50):.0f} ms   p95 {p95:.0f} ms   max {max(ms):.0f} ms   "
              f"p95 ÷ push_every ({every:.0f} s) = {p95 / 1000 / every:.3f}   "
              f"(without the wake-up: {every / 2 * 1000:.0f} ms on average)")
    print(f"    outcome: {dict(lat['states'])}; one PUT per command: {'yes' if once else 'NO: ' + str(lat['puts'])}")


def report_drain(r: dict, profile: int) -> None:
    d = r["drain"]
    n = d["commands"]
    rate, client_rate = d["states"]["done"] / d["seconds"], n / d["client_s"]
    methods = Counter(method for method, *_ in d["sent"])
    per = "  ".join(f"{m} {c / n:.2f}" for m, c in sorted(methods.items()))
    twice = {p: c for p, c in d["puts"].items() if c != d["expected_puts"][p]}
    missing = set(d["expected_puts"]) - set(d["puts"])
    print(f"  drain: {n} commands over {len(d['orders'])} orders (queued in {d['queued_s']:.1f}s, set-up)")
    print(f"    pushed in {d['seconds']:.2f} s = {rate:.0f} commands done/s ({d['seconds'] * 1000 / n:.1f} ms each); "
          f"requests per command: {per}")
    print(f"    client-only, the same {len(d['sent'])} requests: {d['client_s']:.2f} s = {client_rate:.0f} "
          f"commands/s;  drain ÷ client-only = {rate / client_rate:.2f}")
    verdict = "yes" if not twice and not missing else f"NO: {len(twice)} orders off, {len(missing)} without a PUT"
    print(f"    outcome: {dict(d['states'])}; one PUT per command: {verdict}")
    if d["profile"]:
        print_profile(d["profile"], n, profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=200, help="commands recorded while the daemon runs, one "
                        "order each (default 200; the target asks for at least 200)")
    parser.add_argument("--spacing", type=float, default=50, help="milliseconds between two recorded commands "
                        "(default 50)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds the daemon runs before the first "
                        "command (default 2: its start-up jobs are done by then)")
    parser.add_argument("--drain", type=int, default=5_000, help="commands queued at once and drained "
                        "(default 5000; three per order)")
    parser.add_argument("--stores", default="sqlite,postgresql", help="comma list (default sqlite,postgresql)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="profile the drain (cProfile, which slows "
                        "it down) and print its N costliest project functions")
    args = parser.parse_args()
    configure("warning")
    # APScheduler warns each time the interval push finds the woken push still running: expected here, and noise
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    print(machine())
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        stores = Stores(tmp)
        try:
            for backend in args.stores.split(","):
                results.append(run_store(backend.strip(), stores, tmp, args))
        finally:
            stores.drop()
    for r in results:
        print(f"{r['backend']}:")
        report_latency(r)
        report_drain(r, args.profile)


if __name__ == "__main__":
    main()
