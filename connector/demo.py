"""`connector demo`: the whole product on one machine, for real, with no credentials and no configuration.

What runs is the product itself: the bundled Rozetka sandbox (a faithful fake of the Seller API) on
127.0.0.1, a temporary YAML configuration naming the account ``rozetka-demo``, a real store migrated with
Alembic (SQLite in the temporary directory unless told otherwise), and the real daemon
(:class:`connector.daemon.Daemon`) in this process, pulling and pushing on its own schedule.

The demo only plays the people around the connector, one step per cycle, deterministic for a given seed:

- buyers place orders (``RozetkaSandbox.add_order``) and now and then cancel one before the seller gets to it
  (45);
- the seller reads the store (what ``connector orders`` shows) and writes commands into the outbox exactly as
  ``connector order accept/ship/cancel/message`` does (``enqueue``, ``requested_by="demo"``): accept new
  orders, ship accepted ones with a TTN and tell the buyer, and sometimes give up on a buyer nobody can reach
  (18);
- the carrier moves shipped parcels on at Rozetka: 61 → 3 → 4 → 5 → 6.

Everything between those moves (the pulls, the canonical statuses, the pushes, the history) is the daemon's
work.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
import yaml
from sqlmodel import select

from adapters.rozetka.sandbox import STATUSES, RozetkaSandbox
from connector.config import Settings, load_settings
from connector.daemon import Daemon
from connector.domain import build_command
from connector.errors import ConfigError, StoreError
from connector.store import Store
from connector.store.accounts import states
from connector.store.commands import enqueue
from connector.store.migrate import upgrade
from connector.store.queries import list_orders
from connector.store.tables import CommandRow, OrderRow, StatusHistoryRow

ACCOUNT = "rozetka-demo"
USERNAME = "demo@example.com"
PASSWORD_ENV = "CONNECTOR_DEMO_ROZETKA_PASSWORD"  # the sandbox seller's password; never printed
CONFIG_NAME = "demo.yaml"

OPENING = (1, 1, 26, 2, 61, 4)  # the orders waiting when the day starts: Rozetka status ids
CARRIER_ROAD = {61: 3, 3: 4, 4: 5, 5: 6}  # one step per cycle: handover planned → … → parcel received
BUYER_CANCELS_EVERY = 10  # at cycle 2, 12, 22…: an order arrives and its buyer cancels it the next cycle
UNREACHABLE_FIRST, UNREACHABLE_EVERY = 4, 10  # from cycle 4, every 10: the seller cannot reach one buyer
ARRIVAL_CHANCE = 0.4  # per cycle, besides the first cycle's certain arrival
UNFINISHED = ("pending", "in_progress")
TERMINAL = ("done", "failed", "cancelled")


def gloss(status: int | str) -> str:
    """Rozetka's status in English, for the demo's own narration."""
    entry = STATUSES.get(int(status))
    return entry[1].lower() if entry else f"status {status}"


@dataclass(frozen=True)
class Options:
    cycles: int | None = None  # None: until interrupted
    store_url: str | None = None  # None: a SQLite file in the working directory
    speed: float = 2.0  # seconds per cycle; the daemon's intervals follow it
    seed: int = 1
    workdir: Path | None = None  # None: a fresh temporary directory, kept afterwards for the commands to try

    @property
    def pull_every(self) -> float:
        return self.speed

    @property
    def push_every(self) -> float:
        return self.speed / 2


@dataclass(frozen=True)
class Row:
    """One order as the table shows it, all of it read from the store."""

    external_id: str
    status: str
    marketplace_status: str
    marketplace_label: str
    ttn: str
    pending: tuple[str, ...]  # kinds of the order's unfinished commands, oldest first
    last_change: str  # the newest history row: "new→accepted by seller"
    needs_review: bool


@dataclass(frozen=True)
class Snapshot:
    cycle: int
    rows: list[Row]
    commands: Counter  # the demo's commands by state

    @property
    def by_status(self) -> Counter:
        return Counter(r.status for r in self.rows)

    @property
    def pending(self) -> int:
        return sum(self.commands[s] for s in UNFINISHED)


@dataclass
class Summary:
    cycles: int
    elapsed: float
    interrupted: bool
    snapshot: Snapshot
    by_kind: Counter
    failures: list[str]  # "command 7 (ship) for 903700112: failed: why"
    out_of_sync: list[str]  # "903700112: store 61, Rozetka 3"
    config_path: Path
    workdir: Path
    store_url: str

    @property
    def queued(self) -> int:
        return sum(self.snapshot.commands.values())

    @property
    def ok(self) -> bool:
        """Every command the demo queued ended done."""
        return self.snapshot.commands["done"] == self.queued

    def try_next(self) -> list[str]:
        config = self.config_path
        done = [r for r in self.snapshot.rows if r.status == "completed"] or self.snapshot.rows
        lines = [f"connector -c {config} orders"]
        if done:
            lines.append(f"connector -c {config} order show {ACCOUNT}:{done[0].external_id}")
        lines += [f"connector -c {config} outbox", f"connector -c {config} orders --json",
                  f"connector -c {config} db status"]
        return lines


@dataclass
class _Script:
    """What the demo remembers of its own moves; the rest it reads from the store and the sandbox."""

    queued: dict[str, set[str]] = field(default_factory=dict)  # external id → kinds the seller queued
    hands_off: set[str] = field(default_factory=set)  # their buyer cancels: the seller never touches them
    buyer_cancels: dict[str, int] = field(default_factory=dict)  # external id → the cycle its buyer cancels
    next_unreachable: int = UNREACHABLE_FIRST


class Demo:
    """The sandbox, the config, the store and the daemon, and the scripted day played against them.

    ``with Demo(options) as demo:`` starts everything and waits for the daemon's first pull; leaving stops it
    all.
    """

    def __init__(self, options: Options) -> None:
        self.options = options
        self.cycle = 0
        self.started_at = time.monotonic()
        self.sandbox: RozetkaSandbox | None = None
        self.store: Store | None = None
        self.daemon: Daemon | None = None
        self.settings: Settings | None = None
        self.workdir = options.workdir
        self.config_path: Path | None = None
        self._rng = random.Random(options.seed)  # the script's own draws, independent of timing
        self._script = _Script()
        self._saved_env: str | None = None
        self._env_set = False
        self._scheduler_log_level: int | None = None

    # -- setting up -----------------------------------------------------------------------------------------

    def __enter__(self) -> Demo:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        o = self.options
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="connector-demo-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        store_url = o.store_url or f"sqlite:///{self.workdir / 'demo.db'}"

        # The store first: a store that already holds demo orders is refused before anything starts.
        self.store = Store(store_url)
        upgrade(self.store)
        with self.store.transaction() as session:
            held = session.exec(select(sa.func.count()).select_from(OrderRow)
                                .where(OrderRow.account == ACCOUNT)).one()
        if held:
            raise ConfigError(f"the store at {self.store.safe_url} already holds {held} order(s) of account "
                              f"{ACCOUNT} from an earlier demo",
                              hint="leave out --store (each run gets a fresh SQLite file) or give it an "
                                   "empty database")

        # The marketplace: the sandbox with a seller login and the orders waiting at the start of the day.
        self._saved_env, self._env_set = os.environ.get(PASSWORD_ENV), True
        password = secrets.token_urlsafe(18)
        os.environ[PASSWORD_ENV] = password
        self.sandbox = RozetkaSandbox(seed=o.seed)
        self.sandbox.add_seller(USERNAME, password, fio="Demo Seller")
        opening = list(OPENING)
        self._rng.shuffle(opening)
        for status in opening:
            self.sandbox.add_order(status)
        self.sandbox.start()

        # The configuration, as a real file a user can copy.
        self.config_path = self.workdir / CONFIG_NAME
        self.config_path.write_text(self._config_text(store_url), encoding="utf-8")
        self.settings = load_settings(str(self.config_path))

        # APScheduler reports through stdlib logging, outside the connector's structlog pipeline: each
        # command's wake-up that lands while a push is running prints "skipped: maximum number of running
        # instances" raw on stderr, across the live table. The demo quiets that logger below errors while it
        # runs.
        scheduler_log = logging.getLogger("apscheduler")
        self._scheduler_log_level = scheduler_log.level
        scheduler_log.setLevel(max(logging.ERROR, scheduler_log.getEffectiveLevel()))
        self.daemon = Daemon(self.settings, self.store)
        self.daemon.start()
        self._wait_for_first_pull(timeout=max(30.0, 5 * o.pull_every))
        self.started_at = time.monotonic()

    def _config_text(self, store_url: str) -> str:
        o = self.options
        data = {
            "store": {"url": store_url},
            "accounts": [{"name": ACCOUNT, "marketplace": "rozetka", "base_url": self.sandbox.url,
                          "username": USERNAME, "password_env": PASSWORD_ENV}],
            "schedule": {"pull_every": f"{o.pull_every:g}s", "push_every": f"{o.push_every:g}s"},
            "daemon": {"health_port": 0},
            "log": {"level": "warning"},
        }
        header = ("# Written by `connector demo`: the account points at the bundled Rozetka sandbox, which\n"
                  "# lives only while the demo runs. Its password is in $" + PASSWORD_ENV + "\n"
                  "# (set by the demo, never written here). The store stays: read it with\n"
                  "# `connector -c THIS_FILE orders`.\n")
        return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    def _wait_for_first_pull(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self.store.transaction() as session:
                state = states(session).get(ACCOUNT)
            if state is not None and state.last_pull_ok_at is not None:
                return
            if state is not None and state.failures:
                raise StoreError(f"the daemon's first pull of {ACCOUNT} failed: {state.last_error}",
                                 hint="run again with --log-level info to see why")
            if time.monotonic() > deadline:
                raise StoreError(f"the daemon did not pull {ACCOUNT} within {timeout:.0f} s",
                                 hint="run again with --log-level info to see why")
            time.sleep(0.05)

    def close(self) -> None:
        daemon, sandbox, store = self.daemon, self.sandbox, self.store
        self.daemon = self.sandbox = None
        try:
            if daemon is not None:
                daemon.shutdown(wait=True)  # the page or push in hand finishes against the live sandbox
        finally:
            if sandbox is not None:
                sandbox.stop()
            if store is not None:
                store.dispose()
            if self._scheduler_log_level is not None:
                logging.getLogger("apscheduler").setLevel(self._scheduler_log_level)
                self._scheduler_log_level = None
            if self._env_set:
                if self._saved_env is None:
                    os.environ.pop(PASSWORD_ENV, None)
                else:
                    os.environ[PASSWORD_ENV] = self._saved_env
                self._env_set = False

    @property
    def health_url(self) -> str | None:
        return self.daemon.health_url if self.daemon else None

    # -- the scripted day ----------------------------------------------------------------------------------

    def step(self) -> list[str]:
        """One cycle of the day: the carrier, the buyers, then the seller. Returns what happened, in words."""
        self.cycle += 1
        n, sandbox, script = self.cycle, self.sandbox, self._script
        events: list[str] = []
        busy = self._busy()

        # The carrier moves every parcel one step on (not one whose seller command is still being pushed).
        for order_id in sandbox.order_ids():
            status = int(sandbox.order(order_id)["status"])
            onward = CARRIER_ROAD.get(status)
            if onward and str(order_id) not in busy:
                sandbox.set_status(order_id, onward)
                events.append(f"carrier: {order_id} {status}→{onward} ({gloss(onward)})")

        # Buyers: cancellations that were due, then new orders.
        for external_id, when in list(script.buyer_cancels.items()):
            if when <= n:
                del script.buyer_cancels[external_id]
                if int(sandbox.order(external_id)["status"]) == 1:
                    sandbox.set_status(external_id, 45)
                    events.append(f"buyer cancels {external_id} (45)")
        arrivals = 1 if n == 1 or self._rng.random() < ARRIVAL_CHANCE else 0
        for _ in range(arrivals):
            events.append(f"new order {sandbox.add_order(1)}")
        if n % BUYER_CANCELS_EVERY == 2:
            fickle = str(sandbox.add_order(1))
            script.hands_off.add(fickle)
            script.buyer_cancels[fickle] = n + 1
            events.append(f"new order {fickle}")

        # The seller works from the store, as a person would from `connector orders`.
        events += self._seller(busy)
        return events

    def _seller(self, busy: set[str]) -> list[str]:
        script, events = self._script, []
        unreachable_due = self.cycle >= script.next_unreachable
        with self.store.transaction() as session:
            summaries = sorted(list_orders(session, account=ACCOUNT, limit=10_000), key=lambda s: s.order.id)
            for summary in summaries:
                order = summary.order
                ext = order.external_id
                if ext in busy or ext in script.hands_off:
                    continue
                done = script.queued.setdefault(ext, set())
                commands: list[tuple[str, dict]] = []
                if order.status == "new" and "accept" not in done:
                    commands = [("accept", {})]
                    events.append(f"seller accepts {ext}")
                elif order.status in ("accepted", "processing") and not done & {"ship", "cancel"}:
                    if unreachable_due:
                        unreachable_due = False
                        script.next_unreachable = self.cycle + UNREACHABLE_EVERY
                        commands = [("cancel", {"reason": "buyer_unreachable",
                                                "comment": "Три дзвінки без відповіді"})]
                        events.append(f"seller cancels {ext}: buyer unreachable")
                    else:
                        ttn = self.ttn_for(ext)
                        commands = [("ship", {"ttn": ttn, "carrier": "novaposhta"}),
                                    ("message_buyer", {"text": f"Ваше замовлення №{ext} відправлено Новою "
                                                               f"Поштою, ТТН {ttn}. Дякуємо за покупку!"})]
                        events.append(f"seller ships {ext} with TTN {ttn}")
                for kind, payload in commands:
                    # exactly what `connector order KIND` writes, with the demo as the requester
                    enqueue(session, order, build_command(kind, payload), requested_by="demo")
                    done.add(kind)
        return events

    def ttn_for(self, external_id: str) -> str:
        """A Nova Poshta-shaped TTN (14 digits), the same for the same seed and order."""
        digest = hashlib.sha256(f"{self.options.seed}:{external_id}".encode()).hexdigest()
        return f"2045{int(digest, 16) % 10**10:010d}"

    def _busy(self) -> set[str]:
        """Orders with a demo command not yet finished."""
        with self.store.transaction() as session:
            rows = session.exec(select(OrderRow.external_id)
                                .join(CommandRow, CommandRow.order_id == OrderRow.id)
                                .where(OrderRow.account == ACCOUNT, CommandRow.state.in_(UNFINISHED))).all()
        return set(rows)

    def play(self, cycles: int | None, on_tick: Callable[[Snapshot, list[str], bool], None],
             tick: float = 0.5) -> None:
        """Run ``cycles`` cycles (None: until KeyboardInterrupt, which propagates). ``on_tick(snapshot,
        events, cycle_over)`` is called a few times a cycle while the daemon works, and once at each cycle's
        end."""
        while cycles is None or self.cycle < cycles:
            events = self.step()
            deadline = time.monotonic() + self.options.speed
            while (left := deadline - time.monotonic()) > 0:
                time.sleep(min(tick, left))
                if deadline - time.monotonic() > 0:
                    on_tick(self.snapshot(), events, False)
            on_tick(self.snapshot(), events, True)

    # -- reading the result ----------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        with self.store.transaction() as session:
            summaries = sorted(list_orders(session, account=ACCOUNT, limit=10_000), key=lambda s: s.order.id)
            ids = [s.order.id for s in summaries]
            commands = session.exec(select(CommandRow).where(CommandRow.order_id.in_(ids))
                                    .order_by(CommandRow.id)).all() if ids else []
            newest = (select(sa.func.max(StatusHistoryRow.id)).where(StatusHistoryRow.order_id.in_(ids))
                      .group_by(StatusHistoryRow.order_id))
            history = {h.order_id: h for h in session.exec(
                select(StatusHistoryRow).where(StatusHistoryRow.id.in_(newest)))} if ids else {}
        pending: dict[int, list[str]] = {}
        states_: Counter = Counter()
        for c in commands:
            if c.state in UNFINISHED:
                pending.setdefault(c.order_id, []).append(c.kind)
            if c.requested_by == "demo":
                states_[c.state] += 1
        rows = []
        for s in summaries:
            o, h = s.order, history.get(s.order.id)
            last = ""
            if h is not None:
                moved = f"{h.from_status}→{h.to_status}" if h.from_status and h.from_status != h.to_status \
                    else h.to_status
                last = f"{moved} by {h.actor}"
            rows.append(Row(o.external_id, o.status, o.marketplace_status, o.marketplace_status_label,
                            s.shipment.ttn if s.shipment else "", tuple(pending.get(o.id, ())), last,
                            o.needs_review))
        return Snapshot(self.cycle, rows, states_)

    def out_of_sync(self) -> list[str]:
        """Orders whose Rozetka status in the store differs from the sandbox's truth."""
        stored = {r.external_id: r.marketplace_status for r in self.snapshot().rows}
        found = []
        for order_id in self.sandbox.order_ids():
            truth = str(self.sandbox.order(order_id)["status"])
            have = stored.get(str(order_id))
            if have != truth:
                found.append(f"{order_id}: store {have or 'missing'}, Rozetka {truth}")
        return found

    def settle(self, timeout: float | None = None) -> bool:
        """Let the daemon finish: every demo command pushed and the store caught up with the sandbox."""
        timeout = timeout if timeout is not None else max(5.0, 3 * self.options.pull_every + 2)
        deadline = time.monotonic() + timeout
        while True:
            if not self._busy() and not self.out_of_sync():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)

    def summary(self, *, interrupted: bool = False) -> Summary:
        snapshot = self.snapshot()
        failures: list[str] = []
        by_kind: Counter = Counter()
        with self.store.transaction() as session:
            rows = session.exec(select(CommandRow, OrderRow)
                                .join(OrderRow, OrderRow.id == CommandRow.order_id)
                                .where(CommandRow.requested_by == "demo", OrderRow.account == ACCOUNT)
                                .order_by(CommandRow.id)).all()
        for command, order in rows:
            by_kind[command.kind] += 1
            if command.state != "done":
                why = f"{command.last_error} {command.hint}".strip() or "not pushed before the demo ended"
                failures.append(f"command {command.id} ({command.kind}) for {order.external_id}: "
                                f"{command.state}: {why}")
        return Summary(self.cycle, time.monotonic() - self.started_at, interrupted, snapshot, by_kind,
                       failures, self.out_of_sync() if self.sandbox else [], self.config_path, self.workdir,
                       self.store.safe_url)

