"""`connector demo`: the whole product on one machine, for real, with no credentials and no configuration.

What runs is the product itself: the bundled Rozetka, Chopni and Prom.ua sandboxes (faithful fakes of Rozetka's
Seller API, of Chopni's seller panel and of Prom's public API) on 127.0.0.1, a temporary YAML configuration naming
the accounts ``rozetka-demo``, ``chopni-demo`` and ``promua-demo``, a real store migrated with Alembic (SQLite in the
temporary directory unless told otherwise), and the real daemon (:class:`connector.daemon.Daemon`) in this process,
pulling and pushing every account on its own schedule.

The demo only plays the people around the connector, one step per cycle, deterministic for a given seed.

At Rozetka:

- buyers place orders (``RozetkaSandbox.add_order``) and now and then cancel one before the seller gets to it
  (45);
- the seller reads the store (what ``connector orders`` shows) and writes commands into the outbox exactly as
  ``connector order accept/ship/cancel/message`` does (``enqueue``, ``requested_by="demo"``): accept new
  orders, ship accepted ones with a TTN and tell the buyer, and sometimes give up on a buyer nobody can reach
  (18);
- the carrier moves shipped parcels on at Rozetka: 61 → 3 → 4 → 5 → 6, and the same parcels at the Nova Poshta
  sandbox (created, in transit, in the city, at the branch, received), where the daemon's tracking job follows
  them by TTN.

At Chopni, by its seller manual (no acceptance step; PROCESSING → SHIPPED with the tracking number → COMPLETE):

- the panel holds a few older orders (``ChopniSandbox(orders=…)``), buyers place new ones (Pending) now and then,
  and Chopni confirms the payment of an unpaid one by hand (``set_marketplace_status``);
- the seller starts processing paid new orders (``start_processing``), ships processing ones with an Econt
  tracking number (``ship``), tells one buyer in a clean message (no contact data: Chopni refuses those) and
  exchanges one completed order (``exchange``);
- Econt (and Speedy, for the older orders) move the parcels on, a step a cycle; when one is delivered the tracking
  job makes its order ``delivered`` and queues COMPLETE, as the manual asks "upon receiving": the carrier, not the
  seller, completes the order.

Chopni e-mails the buyer for every history row written, so the e-mails its sandbox sent must equal the status
changes the daemon's pushes report: the proof that nothing was sent twice.

At Prom.ua (``promua-demo``, its sandbox speaking Prom's public API with a Bearer token):

- buyers place orders (pending, or already paid through Prom's own payment);
- the seller accepts new orders (``received``), ships accepted ones with a Nova Poshta TTN (attached to the order
  with ``save_declaration_id``, and registered at the Nova Poshta sandbox like the Rozetka ones), and completes an
  order once the carrier has delivered it (Prom never closes an order by itself);
- Nova Poshta moves the parcel on a step a cycle (created, in the city, at the branch, received) and Prom shows the carrier's progress (``unified_status``); the tracking job follows the TTN and makes
  the order ``delivered``. The sandbox's write log must hold each step once.

Everything between those moves (the pulls, the canonical statuses, the pushes, the history) is the daemon's
work.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
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

from adapters.chopni.mapper import tracking
from adapters.chopni.sandbox import ChopniSandbox
from adapters.econt.sandbox import EcontSandbox
from adapters.novaposhta.sandbox import NovaPoshtaSandbox
from adapters.promua.sandbox import PromSandbox
from adapters.rozetka.sandbox import STATUSES, RozetkaSandbox
from adapters.speedy.sandbox import SpeedySandbox
from connector.config import Settings, load_settings
from connector.daemon import Daemon
from connector.domain import build_command
from connector.errors import ConfigError, StoreError
from connector.store import Store
from connector.store.accounts import states
from connector.store.commands import enqueue
from connector.store.migrate import upgrade
from connector.store.queries import list_orders
from connector.store.tables import CommandRow, OrderRow, ShipmentRow, StatusHistoryRow

ACCOUNT = "rozetka-demo"
USERNAME = "demo@example.com"
PASSWORD_ENV = "CONNECTOR_DEMO_ROZETKA_PASSWORD"  # the sandbox seller's password; never printed
CHOPNI_ACCOUNT = "chopni-demo"
CHOPNI_EMAIL = "demo-shop@example.com"
CHOPNI_PASSWORD_ENV = "CONNECTOR_DEMO_CHOPNI_PASSWORD"  # the Chopni sandbox seller's password; never printed
CHOPNI_REQUESTS_PER_SECOND = 50  # the config's ceiling: the sandbox is local, and the demo must stay quick
PROMUA_ACCOUNT = "promua-demo"
PROMUA_SHOP = "Demo Toys"
PROMUA_TOKEN_ENV = "CONNECTOR_DEMO_PROMUA_TOKEN"  # the Prom sandbox's API token; never printed
PROMUA_REQUESTS_PER_SECOND = 50  # the config's ceiling: the sandbox is local, and the demo must stay quick
CONFIG_NAME = "demo.yaml"
NOVAPOSHTA_KEY_ENV = "CONNECTOR_DEMO_NOVAPOSHTA_KEY"
CARRIER_LOGIN = "demo-shop"  # Econt's and Speedy's user name
ECONT_PASSWORD_ENV = "CONNECTOR_DEMO_ECONT_PASSWORD"
SPEEDY_PASSWORD_ENV = "CONNECTOR_DEMO_SPEEDY_PASSWORD"
SECRET_ENVS = (NOVAPOSHTA_KEY_ENV, ECONT_PASSWORD_ENV, SPEEDY_PASSWORD_ENV)

OPENING = (1, 1, 26, 2, 61, 4)  # the orders waiting when the day starts: Rozetka status ids
CARRIER_ROAD = {61: 3, 3: 4, 4: 5, 5: 6}  # one step per cycle: handover planned → … → parcel received
# The same parcel at Nova Poshta: created, in the city, heading to the buyer's city, at the branch, received.
NOVAPOSHTA_CODE = {61: 1, 3: 4, 4: 5, 5: 7, 6: 9}
BUYER_CANCELS_EVERY = 10  # at cycle 2, 12, 22…: an order arrives and its buyer cancels it the next cycle
UNREACHABLE_FIRST, UNREACHABLE_EVERY = 4, 10  # from cycle 4, every 10: the seller cannot reach one buyer
ARRIVAL_CHANCE = 0.4  # per cycle, besides the first cycle's certain arrival

CHOPNI_SEEDED = 5  # older orders the Chopni panel holds when the day starts (the sandbox's own mix)
CHOPNI_ARRIVAL_CHANCE = 0.35  # per cycle, besides the first cycle's certain arrival
CHOPNI_PAYMENT_FROM = 2  # from this cycle Chopni confirms one unpaid order's payment a cycle
CHOPNI_EXCHANGE_FROM = 4  # from this cycle the seller exchanges the goods of one completed order (once)
EXCHANGE_NOTE = "for another size, at the buyer's request"

PROMUA_OPENING = ("received", "pending", "paid")  # the Prom orders waiting when the day starts
PROMUA_ARRIVAL_CHANCE = 0.35  # per cycle, besides the first cycle's certain arrival
# A Prom parcel at Nova Poshta, one step a cycle: created → in the city → at the branch → received; and how Prom
# shows that progress on the order (delivery_provider_data.unified_status).
PROMUA_NP_ROAD = {1: 4, 4: 7, 7: 9}
PROMUA_UNIFIED = {4: "on_the_way", 7: "in_warehouse", 9: "delivered"}

UNFINISHED = ("pending", "in_progress")
TERMINAL = ("done", "failed", "cancelled")
# A history row a Chopni push wrote, as its result names it: "SHIPPED: Tracking: Econt 1051234567".
PUSHED_STATUS = re.compile(r"^[A-Z]+: ")


def gloss(status: int | str) -> str:
    """Rozetka's status in English, for the demo's own narration."""
    entry = STATUSES.get(int(status))
    return entry[1].lower() if entry else f"status {status}"


@dataclass(frozen=True)
class Account:
    """One of the demo's two accounts."""

    name: str
    marketplace: str
    title: str  # the marketplace as people write it
    login: str
    password_env: str
    secret: str = "password"  # what the variable in password_env holds


ROZETKA = Account(ACCOUNT, "rozetka", "Rozetka", USERNAME, PASSWORD_ENV)
CHOPNI = Account(CHOPNI_ACCOUNT, "chopni", "Chopni", CHOPNI_EMAIL, CHOPNI_PASSWORD_ENV)
PROMUA = Account(PROMUA_ACCOUNT, "promua", "Prom.ua", PROMUA_SHOP, PROMUA_TOKEN_ENV, secret="API token")
ACCOUNTS = (ROZETKA, CHOPNI, PROMUA)
TITLES = {a.name: a.title for a in ACCOUNTS}


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

    account: str
    external_id: str
    status: str
    marketplace_status: str
    marketplace_label: str
    ttn: str
    pending: tuple[str, ...]  # kinds of the order's unfinished commands, oldest first
    last_change: str  # the newest history row: "new→accepted by seller"
    needs_review: bool

    @property
    def marketplace(self) -> str:
        """The account's marketplace as people write it: Rozetka, Chopni."""
        return TITLES.get(self.account, self.account)

    @property
    def marketplace_text(self) -> str:
        """The marketplace's own status: Rozetka's id and label ("6 Посилку отримано"), Chopni's label, which
        starts with the status name ("COMPLETE · marketplace: PROCESSED")."""
        label = self.marketplace_label
        if label.startswith(self.marketplace_status):
            return label
        return f"{self.marketplace_status} {label}".strip()

    @property
    def marketplace_short(self) -> str:
        """The same for a narrow column: "COMPLETE · PROCESSED"."""
        return self.marketplace_text.replace(" · marketplace: ", " · ")


@dataclass(frozen=True)
class Snapshot:
    cycle: int
    rows: list[Row]  # both accounts, by the time the buyer placed the order
    commands: Counter  # the demo's commands by state
    commands_by_account: dict[str, Counter] = field(default_factory=dict)

    @property
    def by_status(self) -> Counter:
        return Counter(r.status for r in self.rows)

    @property
    def pending(self) -> int:
        return sum(self.commands[s] for s in UNFINISHED)

    def rows_of(self, account: str) -> list[Row]:
        return [r for r in self.rows if r.account == account]

    def by_status_of(self, account: str) -> Counter:
        return Counter(r.status for r in self.rows if r.account == account)


@dataclass(frozen=True)
class AccountSummary:
    account: Account
    orders: int
    by_status: Counter
    commands: Counter  # the demo's commands by state
    by_kind: Counter
    out_of_sync: list[str]  # "903700112: store 61, Rozetka 3"

    @property
    def queued(self) -> int:
        return sum(self.commands.values())


@dataclass
class Summary:
    cycles: int
    elapsed: float
    interrupted: bool
    snapshot: Snapshot
    by_kind: Counter
    failures: list[str]  # "command 7 (ship) for rozetka-demo:903700112: failed: why"
    out_of_sync: list[str]  # "903700112: store 61, Rozetka 3"
    config_path: Path
    workdir: Path
    store_url: str
    accounts: list[AccountSummary] = field(default_factory=list)
    emails_sent: int | None = None  # e-mails Chopni sent to buyers; None: the sandbox was gone
    promua_steps_once: bool | None = None  # every write Prom applied was a different step; None: sandbox gone
    pushed_changes: int = 0  # history rows (status changes) the daemon's Chopni pushes report
    completed_by_carrier: list[str] = field(default_factory=list)  # "chopni-demo:7: COMPLETE after Econt delivered"
    parcels: Counter = field(default_factory=Counter)  # shipment status → parcels

    @property
    def queued(self) -> int:
        return sum(self.snapshot.commands.values())

    @property
    def ok(self) -> bool:
        """Every command the demo queued ended done, and so did every command the carriers' reports queued."""
        return self.snapshot.commands["done"] == self.queued and not self.failures

    @property
    def nothing_sent_twice(self) -> bool:
        return self.emails_sent is not None and self.emails_sent == self.pushed_changes

    def try_next(self) -> list[str]:
        config = self.config_path
        lines = [f"connector -c {config} orders"]
        for account in ACCOUNTS:
            rows = self.snapshot.rows_of(account.name)
            done = [r for r in rows if r.status == "completed"] or rows
            if done:
                lines.append(f"connector -c {config} order show {account.name}:{done[0].external_id}")
        lines += [f"connector -c {config} outbox", f"connector -c {config} orders --json",
                  f"connector -c {config} db status",
                  f"connector -c {config} ui"]
        return lines


@dataclass
class _Script:
    """What the demo remembers of its own moves; the rest it reads from the store and the sandboxes."""

    queued: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (account, id) → kinds queued
    hands_off: set[str] = field(default_factory=set)  # their buyer cancels: the seller never touches them
    buyer_cancels: dict[str, int] = field(default_factory=dict)  # external id → the cycle its buyer cancels
    next_unreachable: int = UNREACHABLE_FIRST
    waiting_payment: set[str] = field(default_factory=set)  # Chopni ids the seller said it waits on
    messaged: bool = False  # the one Chopni buyer the seller writes to
    exchanged: bool = False  # the one Chopni order whose goods are exchanged
    promua_parcels: dict[str, int] = field(default_factory=dict)  # Nova Poshta TTN → the Prom order it carries


class Demo:
    """The sandboxes, the config, the store and the daemon, and the scripted day played against them.

    ``with Demo(options) as demo:`` starts everything and waits for the daemon's first pull of each account;
    leaving stops it all.
    """

    def __init__(self, options: Options) -> None:
        self.options = options
        self.cycle = 0
        self.started_at = time.monotonic()
        self.sandbox: RozetkaSandbox | None = None
        self.chopni: ChopniSandbox | None = None
        self.promua: PromSandbox | None = None
        self.novaposhta: NovaPoshtaSandbox | None = None
        self.econt: EcontSandbox | None = None
        self.speedy: SpeedySandbox | None = None
        self.store: Store | None = None
        self.daemon: Daemon | None = None
        self.settings: Settings | None = None
        self.workdir = options.workdir
        self.config_path: Path | None = None
        self._rng = random.Random(options.seed)  # the script's own draws, independent of timing
        self._chopni_rng = random.Random(f"chopni:{options.seed}")  # Chopni's: the Rozetka day stays as it was
        self._promua_rng = random.Random(f"promua:{options.seed}")  # Prom's: the other two days stay as they were
        self._script = _Script()
        self._saved_env: dict[str, str | None] = {}
        self._emails_at_close: int | None = None

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
        names = [a.name for a in ACCOUNTS]
        with self.store.transaction() as session:
            held = session.exec(select(sa.func.count()).select_from(OrderRow)
                                .where(OrderRow.account.in_(names))).one()
        if held:
            raise ConfigError(f"the store at {self.store.safe_url} already holds {held} order(s) of account "
                              f"{' or '.join(names)} from an earlier demo",
                              hint="leave out --store (each run gets a fresh SQLite file) or give it an "
                                   "empty database")

        # The passwords: fresh ones, in the environment only, given back when the demo ends.
        passwords = {}
        for account in ACCOUNTS:
            self._saved_env[account.password_env] = os.environ.get(account.password_env)
            passwords[account.name] = secrets.token_urlsafe(18)
            os.environ[account.password_env] = passwords[account.name]

        # Rozetka: the sandbox with a seller login and the orders waiting at the start of the day.
        self.sandbox = RozetkaSandbox(seed=o.seed)
        self.sandbox.add_seller(USERNAME, passwords[ACCOUNT], fio="Demo Seller")
        opening = list(OPENING)
        self._rng.shuffle(opening)
        for status in opening:
            self.sandbox.add_order(status)
        self.sandbox.start()

        # Chopni: the panel with a seller login and the orders of the past weeks, in the sandbox's own mix.
        self.chopni = ChopniSandbox(seed=o.seed, orders=CHOPNI_SEEDED)
        self.chopni.add_seller(CHOPNI_EMAIL, passwords[CHOPNI_ACCOUNT], nickname="Demo Shop")
        self.chopni.start()

        # Prom.ua: the sandbox with the seller's API token and a few orders waiting.
        self.promua = PromSandbox(seed=o.seed)
        self.promua.add_token(passwords[PROMUA_ACCOUNT])
        for status in PROMUA_OPENING:  # one accepted yesterday, waiting to be shipped; two new
            self.promua.add_order(status, prepaid=status == "paid")
        self.promua.start()

        # The carriers, with fresh secrets of their own; the older Chopni parcels are already on their way.
        for env in SECRET_ENVS:
            self._saved_env[env] = os.environ.get(env)
        os.environ[NOVAPOSHTA_KEY_ENV] = key = secrets.token_hex(16)
        os.environ[ECONT_PASSWORD_ENV] = os.environ[SPEEDY_PASSWORD_ENV] = carrier_password = secrets.token_urlsafe(12)
        self.novaposhta = NovaPoshtaSandbox(seed=o.seed, api_keys=(key,)).start()
        self.econt = EcontSandbox(seed=o.seed).start()
        self.speedy = SpeedySandbox(seed=o.seed).start()
        for carrier in (self.econt, self.speedy):
            carrier.add_login(CARRIER_LOGIN, carrier_password)
        for order_id in self.sandbox.order_ids():
            order = self.sandbox.order(order_id)
            if order.get("ttn") and int(order["status"]) in NOVAPOSHTA_CODE:
                self.novaposhta.add_parcel(str(order["ttn"]), code=NOVAPOSHTA_CODE[int(order["status"])])
        for order_id in self.chopni.order_ids():
            for _, comment, status in self.chopni.order(order_id)["history"]:
                found = tracking(comment) if status == "SHIPPED" else None
                if found and found[0] == "econt":
                    self.econt.add_parcel(found[1], steps=2)
                elif found and found[0] == "speedy":
                    self.speedy.add_parcel(found[1], steps=2)

        # The configuration, as a real file a user can copy.
        self.config_path = self.workdir / CONFIG_NAME
        self.config_path.write_text(self._config_text(store_url), encoding="utf-8")
        self.settings = load_settings(str(self.config_path))

        self.daemon = Daemon(self.settings, self.store)
        self.daemon.start()
        self._wait_for_first_pull(timeout=max(30.0, 5 * o.pull_every))
        self.started_at = time.monotonic()

    def _config_text(self, store_url: str) -> str:
        o = self.options
        data = {
            "store": {"url": store_url},
            "accounts": [
                {"name": ACCOUNT, "marketplace": "rozetka", "base_url": self.sandbox.url,
                 "username": USERNAME, "password_env": PASSWORD_ENV},
                {"name": CHOPNI_ACCOUNT, "marketplace": "chopni", "base_url": self.chopni.url,
                 "email": CHOPNI_EMAIL, "password_env": CHOPNI_PASSWORD_ENV,
                 "requests_per_second": CHOPNI_REQUESTS_PER_SECOND},
                {"name": PROMUA_ACCOUNT, "marketplace": "promua", "base_url": self.promua.base_url,
                 "token_env": PROMUA_TOKEN_ENV, "requests_per_second": PROMUA_REQUESTS_PER_SECOND},
            ],
            "carriers": {
                "novaposhta": {"base_url": self.novaposhta.url, "api_key_env": NOVAPOSHTA_KEY_ENV},
                "econt": {"base_url": self.econt.base_url, "username": CARRIER_LOGIN,
                          "password_env": ECONT_PASSWORD_ENV},
                "speedy": {"base_url": self.speedy.base_url, "username": CARRIER_LOGIN,
                           "password_env": SPEEDY_PASSWORD_ENV},
            },
            "schedule": {"pull_every": f"{o.pull_every:g}s", "push_every": f"{o.push_every:g}s",
                         "track_every": f"{o.pull_every:g}s"},
            "daemon": {"health_port": 0},
            "log": {"level": "warning"},
        }
        header = ("# Written by `connector demo`: the accounts and carriers point at the bundled sandboxes, which\n"
                  "# live only while the demo runs. Their secrets are in $" + PASSWORD_ENV + ",\n"
                  "# $" + CHOPNI_PASSWORD_ENV + ", $" + PROMUA_TOKEN_ENV + " and the $CONNECTOR_DEMO_*\n"
                  "# carrier variables (set by the\n"
                  "# demo, never written here). The store stays: read it with `connector -c THIS_FILE orders`.\n")
        return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    def _wait_for_first_pull(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = [a.name for a in ACCOUNTS]
        while waiting:
            with self.store.transaction() as session:
                account_states = states(session)
            for name in list(waiting):
                state = account_states.get(name)
                if state is not None and state.last_pull_ok_at is not None:
                    waiting.remove(name)
                elif state is not None and state.failures:
                    raise StoreError(f"the daemon's first pull of {name} failed: {state.last_error}",
                                     hint="run again with --log-level info to see why")
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise StoreError(f"the daemon did not pull {' and '.join(waiting)} within {timeout:.0f} s",
                                 hint="run again with --log-level info to see why")
            time.sleep(0.05)

    def close(self) -> None:
        daemon, sandbox, chopni, store = self.daemon, self.sandbox, self.chopni, self.store
        # the carriers' sandboxes, and Prom's, which stops the same way
        carriers = [c for c in (self.novaposhta, self.econt, self.speedy, self.promua) if c is not None]
        self.daemon = self.sandbox = self.chopni = self.novaposhta = self.econt = self.speedy = None
        self.promua = None
        try:
            if daemon is not None:
                daemon.shutdown(wait=True)  # the page or push in hand finishes against the live sandboxes
        finally:
            if chopni is not None:
                self._emails_at_close = len(chopni.emails_sent)
                chopni.stop()

            if sandbox is not None:
                sandbox.stop()
            for carrier in carriers:
                carrier.stop()
            if store is not None:
                store.dispose()
            for name, saved in self._saved_env.items():
                if saved is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = saved
            self._saved_env = {}

    @property
    def health_url(self) -> str | None:
        return self.daemon.health_url if self.daemon else None

    # -- the scripted day ----------------------------------------------------------------------------------

    def step(self) -> list[str]:
        """One cycle of the day: carriers, buyers and Chopni, then the seller. Returns what happened, in words,
        each line naming its marketplace."""
        self.cycle += 1
        busy = self._busy()
        events = [f"Rozetka: {e}" for e in self._rozetka_world(busy[ACCOUNT])]
        events += [f"Chopni: {e}" for e in self._chopni_world()]
        events += [f"Prom.ua: {e}" for e in self._promua_world()]
        # The seller works from the store, as a person would from `connector orders`.
        events += [f"Rozetka: {e}" for e in self._rozetka_seller(busy[ACCOUNT])]
        events += [f"Chopni: {e}" for e in self._chopni_seller(busy[CHOPNI_ACCOUNT])]
        events += [f"Prom.ua: {e}" for e in self._promua_seller(busy[PROMUA_ACCOUNT])]
        return events

    def _rozetka_world(self, busy: set[str]) -> list[str]:
        n, sandbox, script = self.cycle, self.sandbox, self._script
        events: list[str] = []
        # The carrier moves every parcel one step on (not one whose seller command is still being pushed).
        for order_id in sandbox.order_ids():
            status = int(sandbox.order(order_id)["status"])
            onward = CARRIER_ROAD.get(status)
            if onward and str(order_id) not in busy:
                sandbox.set_status(order_id, onward)
                events.append(f"carrier moves {order_id} {status}→{onward} ({gloss(onward)})")
                ttn = str(sandbox.order(order_id).get("ttn") or "")
                if ttn in self.novaposhta.numbers():
                    self.novaposhta.advance(ttn, NOVAPOSHTA_CODE[onward])

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
        return events

    def _chopni_world(self) -> list[str]:
        """Chopni's side: its payment desk confirms one unpaid order a cycle, and buyers place orders."""
        n, chopni, rng = self.cycle, self.chopni, self._chopni_rng
        events: list[str] = []
        if n >= CHOPNI_PAYMENT_FROM:
            for order_id in chopni.order_ids():
                order = chopni.order(order_id)
                if order["vendor_status"] == "Pending" and order["marketplace_status"] == "Pending":
                    chopni.set_marketplace_status(order_id, "Payment Confirmed")
                    events.append(f"payment of {order_id} confirmed")
                    break
        for carrier, numbers in ((self.econt, self.econt.numbers()), (self.speedy, self.speedy.parcel_ids())):
            for number in numbers:
                if carrier.move(number) is not None:
                    events.append(f"{'Econt' if carrier is self.econt else 'Speedy'} moves parcel {number}")
        if n == 1 or rng.random() < CHOPNI_ARRIVAL_CHANCE:
            paid = rng.choice(("PROCESSED", "PROCESSED", "COD"))
            events.append(f"new order {self.chopni.add_order(vendor_status='Pending', marketplace_status=paid)}")
        return events

    def _rozetka_seller(self, busy: set[str]) -> list[str]:
        script, events = self._script, []
        unreachable_due = self.cycle >= script.next_unreachable
        with self.store.transaction() as session:
            summaries = sorted(list_orders(session, account=ACCOUNT, limit=10_000), key=lambda s: s.order.id)
            for summary in summaries:
                order = summary.order
                ext = order.external_id
                if ext in busy or ext in script.hands_off:
                    continue
                done = script.queued.setdefault((ACCOUNT, ext), set())
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
                        events.append(f"seller cancels {ext} (buyer unreachable)")
                    else:
                        ttn = self.ttn_for(ext)
                        self.novaposhta.add_parcel(ttn, code=NOVAPOSHTA_CODE[61])
                        commands = [("ship", {"ttn": ttn, "carrier": "novaposhta"}),
                                    ("message_buyer", {"text": f"Ваше замовлення №{ext} відправлено Новою "
                                                               f"Поштою, ТТН {ttn}. Дякуємо за покупку!"})]
                        events.append(f"seller ships {ext} with TTN {ttn}")
                for kind, payload in commands:
                    # exactly what `connector order KIND` writes, with the demo as the requester
                    enqueue(session, order, build_command(kind, payload), requested_by="demo")
                    done.add(kind)
        return events

    def _chopni_seller(self, busy: set[str]) -> list[str]:
        """The Chopni seller, by the manual: PROCESSING, then SHIPPED with the tracking number; COMPLETE comes from
        the carrier's delivery (the tracking rules); exchanges after that. There is no acceptance step."""
        script, events, n = self._script, [], self.cycle
        with self.store.transaction() as session:
            summaries = sorted(list_orders(session, account=CHOPNI_ACCOUNT, limit=10_000),
                               key=lambda s: s.order.id)
            for summary in summaries:
                order = summary.order
                ext = order.external_id
                if ext in busy:
                    continue
                done = script.queued.setdefault((CHOPNI_ACCOUNT, ext), set())
                commands: list[tuple[str, dict]] = []
                if order.status == "new" and "start_processing" not in done:
                    if order.payment_status == "unpaid":  # the seller waits for Chopni to confirm the payment
                        if ext not in script.waiting_payment:
                            script.waiting_payment.add(ext)
                            events.append(f"seller waits for the payment of {ext}")
                    else:
                        commands = [("start_processing", {})]
                        events.append(f"seller starts processing {ext}")
                elif order.status == "processing" and "ship" not in done:
                    ttn = self.econt_ttn_for(ext)
                    self.econt.add_parcel(ttn)
                    commands = [("ship", {"ttn": ttn, "carrier": "econt"})]
                    events.append(f"seller ships {ext} with Econt {ttn}")
                    if not script.messaged:
                        script.messaged = True
                        commands.append(("message_buyer", {"text": f"Hello! Your order #{ext} is on its way "
                                                                   f"with Econt, tracking number {ttn}. Thank "
                                                                   f"you for shopping with us!"}))
                        events.append(f"seller writes to the buyer of {ext}")
                elif order.status == "completed" and not script.exchanged and n >= CHOPNI_EXCHANGE_FROM:
                    script.exchanged = True
                    commands = [("exchange", {"note": EXCHANGE_NOTE})]
                    events.append(f"seller exchanges the goods of {ext}")
                for kind, payload in commands:
                    enqueue(session, order, build_command(kind, payload), requested_by="demo")
                    done.add(kind)
        return events

    def _promua_world(self) -> list[str]:
        """Prom's side: Nova Poshta moves each parcel a step (Prom shows it as unified_status), buyers order."""
        events: list[str] = []
        for ttn, order_id in self._script.promua_parcels.items():
            code = self.novaposhta.code(ttn)
            onward = PROMUA_NP_ROAD.get(code)
            if onward is None:
                continue
            self.novaposhta.advance(ttn, onward)
            self.promua.set_unified_status(order_id, PROMUA_UNIFIED[onward])
            events.append(f"Nova Poshta moves parcel {ttn} ({PROMUA_UNIFIED[onward]})")
        if self.cycle == 1 or self._promua_rng.random() < PROMUA_ARRIVAL_CHANCE:
            prepaid = self._promua_rng.random() < 0.4
            order_id = self.promua.add_order("pending", prepaid=prepaid)
            if prepaid:  # paid through Prom's own payment within the minute
                self.promua.set_status(order_id, "paid")
            events.append(f"new order {order_id}" + (" (paid with Prom-Oplata)" if prepaid else ""))
        return events

    def _promua_seller(self, busy: set[str]) -> list[str]:
        """The Prom seller: accept new orders, ship accepted ones with a Nova Poshta TTN, complete what the carrier
        delivered (Prom never closes an order by itself)."""
        script, events = self._script, []
        with self.store.transaction() as session:
            summaries = sorted(list_orders(session, account=PROMUA_ACCOUNT, limit=10_000), key=lambda s: s.order.id)
            for summary in summaries:
                order = summary.order
                ext = order.external_id
                if ext in busy:
                    continue
                done = script.queued.setdefault((PROMUA_ACCOUNT, ext), set())
                commands: list[tuple[str, dict]] = []
                if order.status == "new" and "accept" not in done:
                    commands = [("accept", {})]
                    events.append(f"seller accepts {ext}")
                elif order.status == "accepted" and "ship" not in done:
                    ttn = self.ttn_for(f"promua:{ext}")
                    self.novaposhta.add_parcel(ttn, code=1)
                    script.promua_parcels[ttn] = int(ext)
                    commands = [("ship", {"ttn": ttn, "carrier": "novaposhta"})]
                    events.append(f"seller ships {ext} with Nova Poshta TTN {ttn}")
                elif order.status == "delivered" and "complete" not in done:
                    commands = [("complete", {})]
                    events.append(f"seller completes {ext}: the buyer has the parcel")
                for kind, payload in commands:
                    enqueue(session, order, build_command(kind, payload), requested_by="demo")
                    done.add(kind)
        return events

    def ttn_for(self, external_id: str) -> str:
        """A Nova Poshta-shaped TTN (14 digits), the same for the same seed and order."""
        digest = hashlib.sha256(f"{self.options.seed}:{external_id}".encode()).hexdigest()
        return f"2045{int(digest, 16) % 10**10:010d}"

    def econt_ttn_for(self, external_id: str) -> str:
        """An Econt-shaped shipment number (13 digits), the same for the same seed and order."""
        digest = hashlib.sha256(f"{self.options.seed}:chopni:{external_id}".encode()).hexdigest()
        return f"105{int(digest, 16) % 10**10:010d}"

    def _busy(self) -> dict[str, set[str]]:
        """Per account, the orders with a demo command not yet finished."""
        busy: dict[str, set[str]] = {a.name: set() for a in ACCOUNTS}
        with self.store.transaction() as session:
            rows = session.exec(select(OrderRow.account, OrderRow.external_id)
                                .join(CommandRow, CommandRow.order_id == OrderRow.id)
                                .where(OrderRow.account.in_(list(busy)),
                                       CommandRow.state.in_(UNFINISHED))).all()
        for account, external_id in rows:
            busy[account].add(external_id)
        return busy

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
        names = [a.name for a in ACCOUNTS]
        with self.store.transaction() as session:
            # A timeline of both marketplaces: the oldest order on top, the newest arrival at the bottom.
            summaries = sorted((s for name in names for s in list_orders(session, account=name, limit=10_000)),
                               key=lambda s: (s.order.created_at, s.order.id))
            ids = [s.order.id for s in summaries]
            commands = session.exec(select(CommandRow).where(CommandRow.order_id.in_(ids))
                                    .order_by(CommandRow.id)).all() if ids else []
            newest = (select(sa.func.max(StatusHistoryRow.id)).where(StatusHistoryRow.order_id.in_(ids))
                      .group_by(StatusHistoryRow.order_id))
            history = {h.order_id: h for h in session.exec(
                select(StatusHistoryRow).where(StatusHistoryRow.id.in_(newest)))} if ids else {}
        account_of = {s.order.id: s.order.account for s in summaries}
        pending: dict[int, list[str]] = {}
        states_: Counter = Counter()
        by_account: dict[str, Counter] = {name: Counter() for name in names}
        for c in commands:
            if c.state in UNFINISHED:
                pending.setdefault(c.order_id, []).append(c.kind)
            if c.requested_by == "demo":
                states_[c.state] += 1
                by_account[account_of[c.order_id]][c.state] += 1
        rows = []
        for s in summaries:
            o, h = s.order, history.get(s.order.id)
            last = ""
            if h is not None:
                moved = f"{h.from_status}→{h.to_status}" if h.from_status and h.from_status != h.to_status \
                    else h.to_status
                last = f"{moved} by {h.actor}"
            rows.append(Row(o.account, o.external_id, o.status, o.marketplace_status, o.marketplace_status_label,
                            s.shipment.ttn if s.shipment else "", tuple(pending.get(o.id, ())), last,
                            o.needs_review))
        return Snapshot(self.cycle, rows, states_, by_account)

    def out_of_sync(self, account: str | None = None) -> list[str]:
        """Orders whose marketplace status in the store differs from the sandbox's truth (one account, or
        both)."""
        snapshot = self.snapshot()
        found = []
        if account in (None, ACCOUNT) and self.sandbox is not None:
            stored = {r.external_id: r.marketplace_status for r in snapshot.rows_of(ACCOUNT)}
            for order_id in self.sandbox.order_ids():
                truth = str(self.sandbox.order(order_id)["status"])
                have = stored.get(str(order_id))
                if have != truth:
                    found.append(f"{order_id}: store {have or 'missing'}, Rozetka {truth}")
        if account in (None, CHOPNI_ACCOUNT) and self.chopni is not None:
            stored = {r.external_id: r.marketplace_status for r in snapshot.rows_of(CHOPNI_ACCOUNT)}
            for order_id in self.chopni.order_ids():
                truth = self.chopni.order(order_id)["vendor_status"]
                have = stored.get(str(order_id))
                if have != truth:
                    found.append(f"{order_id}: store {have or 'missing'}, Chopni {truth}")
        if account in (None, PROMUA_ACCOUNT) and self.promua is not None:
            stored = {r.external_id: r.marketplace_status for r in snapshot.rows_of(PROMUA_ACCOUNT)}
            for order_id in self.promua.order_ids():
                truth = self.promua.order(order_id)["status"]
                have = stored.get(str(order_id))
                if have != truth:
                    found.append(f"{order_id}: store {have or 'missing'}, Prom.ua {truth}")
        return found

    def promua_steps_once(self) -> bool | None:
        """Every write the Prom sandbox applied was a different step of its order (None: the sandbox is gone)."""
        if self.promua is None:
            return None
        applied = [(w["order_id"], w["path"], (w["body"] or {}).get("status")) for w in self.promua.writes
                   if w["result"] == "applied"]
        return len(applied) == len(set(applied))

    def settle(self, timeout: float | None = None) -> bool:
        """Let the daemon finish: every demo command pushed and the store caught up with both sandboxes."""
        timeout = timeout if timeout is not None else max(5.0, 3 * self.options.pull_every + 2)
        deadline = time.monotonic() + timeout
        while True:
            if not any(self._busy().values()) and not self.out_of_sync():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)

    def emails_sent(self) -> int | None:
        """E-mails Chopni sent to buyers so far (None: the sandbox never started)."""
        if self.chopni is not None:
            return len(self.chopni.emails_sent)
        return self._emails_at_close

    def summary(self, *, interrupted: bool = False) -> Summary:
        snapshot = self.snapshot()
        failures: list[str] = []
        by_kind: Counter = Counter()
        kinds: dict[str, Counter] = {a.name: Counter() for a in ACCOUNTS}
        pushed_changes = 0
        with self.store.transaction() as session:
            rows = session.exec(select(CommandRow, OrderRow)
                                .join(OrderRow, OrderRow.id == CommandRow.order_id)
                                .where(CommandRow.requested_by.in_(("demo", "automation")),
                                       OrderRow.account.in_(list(kinds)))
                                .order_by(CommandRow.id)).all()
            parcels = Counter(dict(session.exec(select(ShipmentRow.status, sa.func.count())
                                                .group_by(ShipmentRow.status)).all()))
        completed_by_carrier = []
        for command, order in rows:
            if command.requested_by == "automation" and command.state == "done":
                completed_by_carrier.append(f"{order.account}:{order.external_id}: {command.kind} after the "
                                            "carrier reported the parcel delivered")
            if command.requested_by == "demo":
                by_kind[command.kind] += 1
                kinds[order.account][command.kind] += 1
            if order.account == CHOPNI_ACCOUNT and command.state == "done":
                # each history row the push wrote (and Chopni e-mailed about) is one "STATUS: comment" part
                pushed_changes += sum(1 for part in (command.result or "").split("; ")
                                      if PUSHED_STATUS.match(part))
            # a carrier's report may queue a command in the last moment of the day: only a failed one counts
            if command.state != "done" and (command.requested_by == "demo" or command.state == "failed"):
                why = f"{command.last_error} {command.hint}".strip() or "not pushed before the demo ended"
                failures.append(f"command {command.id} ({command.kind}) for {order.account}:"
                                f"{order.external_id}: {command.state}: {why}")
        accounts = []
        for account in ACCOUNTS:
            live = {ROZETKA: self.sandbox, CHOPNI: self.chopni, PROMUA: self.promua}[account]
            accounts.append(AccountSummary(
                account, len(snapshot.rows_of(account.name)), snapshot.by_status_of(account.name),
                snapshot.commands_by_account.get(account.name, Counter()), kinds[account.name],
                self.out_of_sync(account.name) if live is not None else []))
        out_of_sync = [line for a in accounts for line in a.out_of_sync]
        return Summary(self.cycle, time.monotonic() - self.started_at, interrupted, snapshot, by_kind,
                       failures, out_of_sync, self.config_path, self.workdir, self.store.safe_url,
                       accounts=accounts, emails_sent=self.emails_sent(), pushed_changes=pushed_changes,
                       completed_by_carrier=completed_by_carrier, parcels=parcels,
                       promua_steps_once=self.promua_steps_once())
