"""Soak: the real daemon for N minutes with 5 accounts while orders keep arriving and moving. Is its memory flat?

The daemon (connector/daemon.py's Daemon, its settings parsed as the tests build them, no health server) runs in a
child process, so the RSS sampled is its own: VmRSS from /proc/<pid>/status every --every seconds, with the store's
order count and the commands pushed so far. This process plays the world around it, as `connector demo` does:

- five accounts, each on a sandbox of its own: two Rozetka, two Prom.ua, one Chopni, each seeded with a few orders;
- a new order arrives at each account every --arrive-every seconds;
- the seller queues commands from what the store shows, as `connector order …` does: accept (Chopni: start
  processing) new orders, ship accepted ones with a tracking number registered at the carrier's sandbox, complete
  Prom orders the carrier delivered (Chopni's are completed by the daemon's own tracking rules);
- Rozetka moves shipped orders a step along the carrier's road each second (connector/demo.py's CARRIER_ROAD), and
  the Nova Poshta, Ukrposhta and Econt sandboxes move every parcel a step every few seconds (adapters/sandbox.py
  keep_moving).

So every pull, push and tracking run has work. The intervals are short: pull every --pull-every seconds, push every
second, track every 5 s. A production daemon pulls every 2 minutes, so 10 minutes here hold about 10 hours of its
pulls. The first sample is taken once the daemon has pulled every account once: it is the baseline of the ratio.

    .venv/bin/python bench/soak.py                    # 10 minutes
    .venv/bin/python bench/soak.py --minutes 60       # the issue's figure
    .venv/bin/python bench/soak.py --store postgresql # CONNECTOR_BENCH_PG_URL, a database of its own
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.common import Stores, machine  # noqa: E402

# The world's imports (sandboxes, the demo's roads) stay inside its functions: the daemon's child process, which
# runs this file too, then holds only what `connector run` holds.

ACCOUNTS = (("rozetka-1", "rozetka"), ("rozetka-2", "rozetka"), ("promua-1", "promua"), ("promua-2", "promua"),
            ("chopni-1", "chopni"))
SEEDED = 10  # orders each sandbox holds when the soak starts
LOGIN = "soak@example.com"
SECRET_ENV = "CONNECTOR_SOAK_SECRET"  # every account's and carrier's secret, for the child to read; never printed
KEY_ENV = "CONNECTOR_SOAK_CARRIER_KEY"  # Nova Poshta's API key and Ukrposhta's bearer token
PUSH_EVERY, TRACK_EVERY, PARCEL_STEP, TICK = 1, 5, 3, 1.0  # seconds
UNFINISHED = ("pending", "in_progress")
# canonical status → the seller's command, per marketplace (ship is the only one with a payload)
SELLER = {
    "rozetka": {"new": "accept", "accepted": "ship", "processing": "ship"},
    "promua": {"new": "accept", "accepted": "ship", "delivered": "complete"},
    "chopni": {"new": "start_processing", "processing": "ship"},
}
ROZETKA_BEFORE_SHIPPING = (1, 26)  # new, being processed: a shipped order is not on the road yet


# -- the daemon, in the child process --------------------------------------------------------------------------------

def run_daemon(config: str) -> None:
    from connector.config import parse_settings
    from connector.daemon import Daemon
    from connector.logs import configure
    from connector.store import Store
    settings = parse_settings(json.loads(Path(config).read_text()))
    configure(settings.log.level, settings.log.format)
    Daemon(settings, Store(settings.store.url)).run_forever()  # SIGTERM: finishes what is in hand, exits 0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


# -- the world around it ---------------------------------------------------------------------------------------------

class World:
    """The sandboxes, and the buyers, seller, marketplaces and carriers that keep their orders moving."""

    def __init__(self, secret: str, key: str) -> None:
        from adapters.econt.sandbox import EcontSandbox
        from adapters.novaposhta.sandbox import NovaPoshtaSandbox
        from adapters.sandbox import keep_moving
        from adapters.ukrposhta.sandbox import UkrposhtaSandbox
        self.secret = secret
        self.markets: dict[str, Any] = {}
        for seed, (account, marketplace) in enumerate(ACCOUNTS, start=1):
            self.markets[account] = self._sandbox(marketplace, seed).start()
        self.carriers = {"novaposhta": NovaPoshtaSandbox(seed=1, api_keys=(key,)).start(),
                         "ukrposhta": UkrposhtaSandbox(seed=1, tokens=(key,)).start(),
                         "econt": EcontSandbox(seed=1).start()}
        self.carriers["econt"].add_login(LOGIN, secret)
        for name, carrier in self.carriers.items():
            keep_moving(carrier, PARCEL_STEP, f"soak-{name}")
        self.on_road: set[tuple[str, str]] = set()  # Rozetka orders the seller shipped: (account, external id)
        self.arrived = self.shipped = 0

    def _sandbox(self, marketplace: str, seed: int) -> Any:
        if marketplace == "rozetka":
            from adapters.rozetka.sandbox import RozetkaSandbox
            sandbox = RozetkaSandbox(seed=seed, orders=SEEDED)
            sandbox.add_seller(LOGIN, self.secret)
        elif marketplace == "promua":
            from adapters.promua.sandbox import PromSandbox
            sandbox = PromSandbox(seed=seed, orders=SEEDED)
            sandbox.add_token(self.secret)
        else:
            from adapters.chopni.sandbox import ChopniSandbox
            sandbox = ChopniSandbox(seed=seed, orders=SEEDED)
            sandbox.add_seller(LOGIN, self.secret)
        return sandbox

    def close(self) -> None:
        for sandbox in [*self.markets.values(), *self.carriers.values()]:
            sandbox.stop()

    def config(self, store_url: str, pull_every: float) -> dict:
        """The daemon's settings, as a configuration file would hold them."""
        def account(name: str, marketplace: str) -> dict:
            sandbox = self.markets[name]
            if marketplace == "rozetka":
                return {"base_url": sandbox.url, "username": LOGIN, "password_env": SECRET_ENV}
            if marketplace == "promua":  # the config's ceiling: the sandbox is local
                return {"base_url": sandbox.base_url, "token_env": SECRET_ENV, "requests_per_second": 50}
            return {"base_url": sandbox.url, "email": LOGIN, "password_env": SECRET_ENV, "requests_per_second": 50}
        return {
            "store": {"url": store_url},
            "accounts": [{"name": name, "marketplace": marketplace, **account(name, marketplace)}
                         for name, marketplace in ACCOUNTS],
            "carriers": {
                "novaposhta": {"base_url": self.carriers["novaposhta"].url, "api_key_env": KEY_ENV},
                "ukrposhta": {"base_url": self.carriers["ukrposhta"].url + "/status-tracking/0.0.1/",
                              "api_key_env": KEY_ENV},
                "econt": {"base_url": self.carriers["econt"].base_url, "username": LOGIN,
                          "password_env": SECRET_ENV},
            },
            "schedule": {"pull_every": f"{pull_every:g}s", "push_every": f"{PUSH_EVERY}s",
                         "track_every": f"{TRACK_EVERY}s"},
            "daemon": {"health_port": None},
            "log": {"level": "warning", "format": "json"},
        }

    def arrive(self) -> None:
        """One new order at every account."""
        for account, marketplace in ACCOUNTS:
            sandbox = self.markets[account]
            if marketplace == "rozetka":
                sandbox.add_order(1)
            elif marketplace == "promua":
                sandbox.add_order("pending")
            else:
                sandbox.add_order(vendor_status="Pending", marketplace_status="PROCESSED")  # paid
            self.arrived += 1

    def move_rozetka(self) -> None:
        """Rozetka's side of a parcel's road: a step a tick, from handed over to received."""
        from connector.demo import CARRIER_ROAD
        for account, external_id in list(self.on_road):
            sandbox = self.markets[account]
            status = int(sandbox.order(external_id)["status"])
            if status in CARRIER_ROAD:
                sandbox.set_status(external_id, CARRIER_ROAD[status])
            elif status not in ROZETKA_BEFORE_SHIPPING:
                self.on_road.discard((account, external_id))

    def sell(self, store: Any) -> None:
        """The seller's commands for what the store shows, queued as `connector order …` queues them."""
        from connector.domain import build_command
        from connector.store.commands import enqueue
        from connector.store.tables import CommandRow, OrderRow
        busy = sa.exists().where(CommandRow.order_id == OrderRow.id, CommandRow.state.in_(UNFINISHED))
        wanted = sa.or_(*(sa.and_(OrderRow.marketplace == m, OrderRow.status.in_(list(steps)))
                          for m, steps in SELLER.items()))
        with store.reading() as session:  # a look first: the write lock only when there is something to queue
            waiting = session.execute(sa.select(OrderRow.id).where(wanted, ~busy)).scalars().all()
        if not waiting:
            return
        with store.transaction() as session:  # looked at again: the daemon may have moved them meanwhile
            again = sa.select(OrderRow).where(OrderRow.id.in_(waiting), wanted, ~busy)
            for order in session.execute(again).scalars():
                kind = SELLER[order.marketplace][order.status]
                payload = self._shipment(order) if kind == "ship" else {}
                if enqueue(session, order, build_command(kind, payload), requested_by="soak").created \
                        and kind == "ship":
                    self._hand_over(order, payload)

    def _shipment(self, order: Any) -> dict:
        """A tracking number of the carrier the order goes with (a Prom order names its own), the same for the same
        order."""
        digest = int(hashlib.sha256(f"{order.account}:{order.external_id}".encode()).hexdigest(), 16)
        if order.marketplace == "chopni":
            return {"ttn": f"105{digest % 10**10:010d}", "carrier": "econt"}
        if order.marketplace == "promua" and self.markets[order.account].order(order.external_id)[
                "delivery_provider_data"]["provider"] == "ukrposhta":
            return {"ttn": f"05{digest % 10**11:011d}", "carrier": "ukrposhta"}
        return {"ttn": f"2045{digest % 10**10:010d}", "carrier": "novaposhta"}

    def _hand_over(self, order: Any, shipment: dict) -> None:
        first_step = {"novaposhta": {"code": 1, "path": "branch"}, "ukrposhta": {"code": 10601, "path": "branch"},
                      "econt": {}}
        self.carriers[shipment["carrier"]].add_parcel(shipment["ttn"], **first_step[shipment["carrier"]])
        if order.marketplace == "rozetka":
            self.on_road.add((order.account, order.external_id))
        self.shipped += 1


# -- sampling --------------------------------------------------------------------------------------------------------

@dataclass
class Sample:
    seconds: float
    rss_mb: float
    orders: int
    commands_done: int
    commands_failed: int


def sample(store: Any, pid: int, seconds: float) -> Sample:
    from connector.store.tables import CommandRow, OrderRow
    with store.reading() as session:
        orders = session.execute(sa.select(sa.func.count()).select_from(OrderRow)).scalar_one()
        states = dict(session.execute(sa.select(CommandRow.state, sa.func.count()).group_by(CommandRow.state)).all())
    return Sample(seconds, rss_mb(pid), orders, states.get("done", 0), states.get("failed", 0))


def failures(store: Any) -> Counter:
    """The failed commands by marketplace, kind and the first line of their error: a soak should have none."""
    from connector.store.tables import CommandRow, OrderRow
    with store.reading() as session:
        rows = session.execute(sa.select(OrderRow.marketplace, CommandRow.kind, CommandRow.last_error)
                               .join(OrderRow, OrderRow.id == CommandRow.order_id)
                               .where(CommandRow.state == "failed")).all()
    return Counter((m, k, e.splitlines()[0][:160] if e else "") for m, k, e in rows)


def shipments(store: Any) -> Counter:
    """The parcels by the status their carrier's reports gave them: tracking ran."""
    from connector.store.tables import ShipmentRow
    with store.reading() as session:
        return Counter(dict(session.execute(sa.select(ShipmentRow.status, sa.func.count())
                                            .group_by(ShipmentRow.status)).all()))


def log_events(log: Path) -> Counter:
    """The daemon's log lines (JSON, warning level and up) by level and event."""
    events: Counter = Counter()
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            entry = {"level": "not JSON", "event": line[:120]}
        # the scheduler's own lines name the moment of the next run: one kind of line, whatever the moment
        events[entry.get("level", "?"), re.sub(r"\d+", "N", str(entry.get("event", "")))[:120]] += 1
    return events


def slope_per_10_minutes(samples: list[Sample]) -> float | None:
    """Least squares of RSS over time, the first sample left out (it is the baseline, taken after the first pulls)."""
    later = samples[1:]
    if len(later) < 2:
        return None
    mean_t = sum(s.seconds for s in later) / len(later)
    mean_m = sum(s.rss_mb for s in later) / len(later)
    spread = sum((s.seconds - mean_t) ** 2 for s in later)
    return sum((s.seconds - mean_t) * (s.rss_mb - mean_m) for s in later) / spread * 600


def wait_for_first_pulls(store: Any, daemon: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    from connector.store.accounts import states
    deadline = time.monotonic() + timeout
    while True:
        check_alive(daemon, log)
        with store.reading() as session:
            pulled = {name for name, state in states(session).items() if state.last_pull_ok_at is not None}
        if pulled >= {name for name, _ in ACCOUNTS}:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"the daemon did not pull every account within {timeout:.0f}s:\n{tail(log)}")
        time.sleep(0.2)


def check_alive(daemon: subprocess.Popen, log: Path) -> None:
    if daemon.poll() is not None:
        raise SystemExit(f"the daemon exited with {daemon.returncode}:\n{tail(log)}")


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


def play(world: World, store: Any, daemon: subprocess.Popen, log: Path, minutes: float, every: float,
         arrive_every: float) -> list[Sample]:
    total = minutes * 60
    moments = [k * every for k in range(int(total // every) + 1)]
    if moments[-1] < total:
        moments.append(total)
    start = time.monotonic()
    next_arrival, samples = 0.0, []
    for at in moments:
        while (now := time.monotonic() - start) < at:
            if now >= next_arrival:
                world.arrive()
                next_arrival += arrive_every
            world.move_rozetka()
            world.sell(store)
            time.sleep(max(0.0, min(TICK, at - (time.monotonic() - start))))
        check_alive(daemon, log)
        samples.append(sample(store, daemon.pid, time.monotonic() - start))
        s = samples[-1]
        print(f"{s.seconds / 60:>7.1f}{s.rss_mb:>9.1f}{s.orders:>8}{s.commands_done:>15}{s.commands_failed:>8}",
              flush=True)
    return samples


def stop(daemon: subprocess.Popen) -> None:
    if daemon.poll() is None:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


@dataclass
class Outcome:
    samples: list[Sample]
    failed: Counter  # (marketplace, kind, error) → commands
    parcels: Counter  # shipment status → parcels
    logged: Counter  # (level, event) → the daemon's log lines, warning and up
    arrived: int
    shipped: int


def soak(args: argparse.Namespace) -> Outcome:
    os.environ[SECRET_ENV], os.environ[KEY_ENV] = secrets.token_urlsafe(12), secrets.token_hex(16)
    world = World(os.environ[SECRET_ENV], os.environ[KEY_ENV])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            stores = Stores(tmp)
            try:
                return measure(world, stores.url(args.store), Path(tmp), args)
            finally:
                stores.drop()  # after the daemon stopped: a PostgreSQL database is dropped WITH (FORCE)
    finally:
        world.close()


def measure(world: World, store_url: str, tmp: Path, args: argparse.Namespace) -> Outcome:
    from connector.store import Store
    from connector.store.migrate import upgrade
    store = Store(store_url)
    upgrade(store)
    config, log = tmp / "soak.json", tmp / "daemon.log"
    config.write_text(json.dumps(world.config(store.url, args.pull_every)))
    with log.open("wb") as stderr:
        daemon = subprocess.Popen([sys.executable, __file__, "--daemon", str(config)], cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        print(f"{machine()}; store {args.store}; 5 accounts ({', '.join(n for n, _ in ACCOUNTS)}); pull every "
              f"{args.pull_every:g}s, push every {PUSH_EVERY}s, track every {TRACK_EVERY}s; an order at each "
              f"account every {args.arrive_every:g}s; {args.minutes:g} minutes")
        wait_for_first_pulls(store, daemon, log)
        print(f"{'minute':>7}{'RSS MB':>9}{'orders':>8}{'commands done':>15}{'failed':>8}")
        samples = play(world, store, daemon, log, args.minutes, args.every, args.arrive_every)
        return Outcome(samples, failures(store), shipments(store), log_events(log), world.arrived, world.shipped)
    finally:
        stop(daemon)
        store.dispose()


def report(outcome: Outcome) -> None:
    first, last = outcome.samples[0], outcome.samples[-1]
    slope = slope_per_10_minutes(outcome.samples)
    print("RSS slope after the first sample: "
          + (f"{slope:+.2f} MB per 10 minutes" if slope is not None else "n/a (fewer than 3 samples)")
          + f"; last ÷ first: {last.rss_mb / first.rss_mb:.3f} ({last.rss_mb:.1f} MB ÷ {first.rss_mb:.1f} MB)")
    print(f"work: {outcome.arrived} orders arrived, {outcome.shipped} shipped; the store grew from {first.orders} "
          f"to {last.orders} orders; {last.commands_done} commands pushed, {last.commands_failed} failed")
    for (marketplace, kind, error), n in outcome.failed.most_common():
        print(f"  failed: {n} × {marketplace} {kind}: {error}")
    print(f"parcels by status: {', '.join(f'{k} {n}' for k, n in outcome.parcels.most_common()) or 'none'}")
    print("the daemon logged (warning and up):" + ("" if outcome.logged else " nothing"))
    for (level, event), n in outcome.logged.most_common():
        print(f"  {n} × {level}: {event}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10, help="how long the soak runs (default 10; the issue's "
                        "figure is 60)")
    parser.add_argument("--every", type=float, default=30, help="seconds between samples (default 30)")
    parser.add_argument("--pull-every", type=float, default=2, help="the daemon's pull interval in seconds "
                        "(default 2; push every 1 s and track every 5 s whatever it is)")
    parser.add_argument("--arrive-every", type=float, default=5, help="seconds between new orders at each "
                        "account (default 5)")
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite",
                        help="a temporary SQLite file (default) or a fresh PostgreSQL database at "
                             "CONNECTOR_BENCH_PG_URL")
    parser.add_argument("--daemon", help=argparse.SUPPRESS)  # the child: run the daemon of this configuration
    args = parser.parse_args()
    if args.daemon:
        run_daemon(args.daemon)
        return

    from connector.logs import configure
    configure("error")
    report(soak(args))


if __name__ == "__main__":
    main()
