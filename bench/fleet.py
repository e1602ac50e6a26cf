"""Many accounts (issue 12, targets 6 and 7): N Rozetka accounts whose sandbox answers every request after a delay.

One Rozetka sandbox on one port serves every account. The stock sandbox shows every seller the same orders, so this
script routes each seller (by login, then by token) to an order book of its own: an unstarted RozetkaSandbox, which
answers by the sandbox's own rules. Every request is logged with when it arrived, when it was answered and whose it
was; the `slow` fault (--latency, on every request) counts as part of the wait.

  cycle  target 6: one full pull cycle over every account, after a first pull that is not measured (fresh store
         per --stores backend): serial, run_cycle(workers=1), against concurrent, run_cycle(workers=--workers,
         per_marketplace={"chopni": 2}). Prints seconds, accounts/s, the requests the sandbox saw, how many were in
         flight at once (overall, and for one account) and concurrent ÷ serial.
  scale  target 7, PostgreSQL only: 1, 2, 4 (--daemons) `connector run` processes (config file, secret in the
         environment, no health port) over the same accounts on one fresh database per run, after a first pull
         that is not measured. While they run, one `accept` command per account is queued through
         connector.sync.intake.submit (spread over the first half of the window). Measured over --seconds from
         the moment every account's first scheduled pull has fired (the daemon spreads them over at most one interval): pulls
         per second (an incremental pull is one /orders/search page 1) and its ratio to the first daemon count;
         with the window cut into pull intervals, the account-intervals that got a pull (per second, and its
         ratio: the work that was needed) and those pulled by two daemons or more (pulled twice in one cycle);
         the most searches of one account in flight at once (the lease allows 1); the sandbox's own CPU (near a
         core, it is the bottleneck); each command's PUTs (exactly one expected).

    .venv/bin/python bench/fleet.py cycle                                # 200 accounts, 100 ms, SQLite and PostgreSQL
    .venv/bin/python bench/fleet.py scale                                # 1, 2, 4 daemons for 60 s each
    .venv/bin/python bench/fleet.py cycle --accounts 20 --latency 0.05   # a quick look

The sandbox runs in this process (threads); scale's daemons are processes of their own. PostgreSQL:
CONNECTOR_BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres), one fresh database per run.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.rozetka.sandbox import Request, RozetkaSandbox  # noqa: E402
from bench.common import Stores, machine  # noqa: E402

CONNECTOR = str(Path(sys.executable).with_name("connector"))
PASSWORD_ENV, PASSWORD = "BENCH_FLEET_ROZETKA_PASSWORD", "fleet"
SEED = 12
# What target 6 asks for Chopni's web panel. The fleet is all Rozetka, so here it never binds; it is passed so the
# concurrent cycle is the one the daemon would run.
PER_MARKETPLACE = {"chopni": 2}


def account(i: int) -> str:
    return f"rozetka-{i:03d}"


def login(i: int) -> str:
    return f"seller{i:03d}@example.com"


# -- the sandbox ----------------------------------------------------------------------------------------------------

@dataclass(slots=True)
class Seen:
    """One request as the sandbox saw it. ``done`` 0: not answered (yet)."""

    at: float
    seller: str  # the login, from the body of POST /sites or from the token; "" when unknown
    token: str
    method: str
    path: str
    page: str
    done: float = 0.0


class FleetSandbox(RozetkaSandbox):
    """The Rozetka sandbox with an order book per seller; the front itself has no sellers and no orders, so a login
    or a token it cannot route is refused as the sandbox refuses it."""

    def __init__(self, accounts: int, orders: int) -> None:
        super().__init__(seed=SEED)
        self.books: dict[str, RozetkaSandbox] = {}
        self.waiting: list[int] = []  # account i → the id of its order that waits for acceptance
        for i in range(accounts):
            book = RozetkaSandbox(seed=SEED + i, orders=orders)
            book.add_seller(login(i), PASSWORD)
            self.books[login(i)] = book
            self.waiting.append(book.add_order(1))
        self.seen: list[Seen] = []
        self._owners: dict[str, str] = {}  # token → login
        self._current = threading.local()  # the request this handler thread is serving

    def record(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        body = request.body if isinstance(request.body, dict) else {}
        seller = str(body.get("username", "")) if request.path == "/sites" else self._owners.get(token, "")
        seen = Seen(time.monotonic(), seller, token, request.method, request.path, request.query.get("page", ""))
        self.seen.append(seen)
        self._current.seen = seen

    def dispatch(self, request: Request, *, repeat_page: bool = False) -> tuple[int, dict[str, Any]]:
        seen = self._current.seen
        try:
            book = self.books.get(seen.seller)
            if book is None:
                return super().dispatch(request, repeat_page=repeat_page)
            status, body = book.dispatch(request, repeat_page=repeat_page)
            if request.path == "/sites" and body.get("success"):
                self._owners[body["content"]["access_token"]] = seen.seller
            return status, body
        finally:
            seen.done = time.monotonic()


# -- what the log says ----------------------------------------------------------------------------------------------

def peak_in_flight(seen: Iterable[Seen]) -> int:
    # an answer and an arrival at the same instant: the answer first (sorted by -1 before +1)
    events = sorted(e for s in seen for e in ((s.at, 1), (s.done or s.at, -1)))
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def by_seller(seen: Iterable[Seen]) -> dict[str, list[Seen]]:
    grouped: dict[str, list[Seen]] = defaultdict(list)
    for s in seen:
        grouped[s.seller].append(s)
    return grouped


def peak_per_account(seen: list[Seen]) -> int:
    return max((peak_in_flight(group) for group in by_seller(seen).values()), default=0)


def pull_starts(seen: Iterable[Seen]) -> list[Seen]:
    """A Rozetka pull begins with the first page of its search (an incremental pull is that one request)."""
    return [s for s in seen if s.path == "/orders/search" and s.page == "1"]


def intervals(starts: list[Seen], interval: float, since: float, until: float) -> tuple[int, int]:
    """The window cut into pull intervals: (account-intervals with a pull, those pulled by two daemons or more).
    Each daemon logs in for itself, so the token tells the daemons apart."""
    tokens: dict[tuple[str, int], set[str]] = defaultdict(set)
    for s in starts:
        if since <= s.at < until:
            tokens[(s.seller, int((s.at - since) // interval))].add(s.token)
    return len(tokens), sum(1 for pulled_by in tokens.values() if len(pulled_by) > 1)


# -- configuration, as an operator writes it -----------------------------------------------------------------------

def settings_data(store_url: str, sandbox_url: str, accounts: int) -> dict[str, Any]:
    return {"store": {"url": store_url},
            "accounts": [{"name": account(i), "marketplace": "rozetka", "base_url": sandbox_url,
                          "username": login(i), "password_env": PASSWORD_ENV} for i in range(accounts)]}


def build(data: dict[str, Any]) -> dict[str, Any]:
    from connector.config import parse_settings
    from connector.sync.cycle import build_adapters
    os.environ[PASSWORD_ENV] = PASSWORD
    adapters, broken = build_adapters(parse_settings(data))
    if broken:
        raise SystemExit(f"accounts not built: {broken}")
    return adapters


def first_pull(store, adapters: dict[str, Any], workers: int) -> None:
    """Every account's history, at the sandbox's full speed: not measured."""
    from connector.sync.cycle import run_cycle
    checked(run_cycle(store, adapters, workers=workers, per_marketplace=PER_MARKETPLACE), len(adapters))


def checked(result, accounts: int) -> None:
    skipped = {name: s.skipped for name, s in result.pulls.items() if s.skipped}
    if result.errors or skipped or len(result.pulls) != accounts:
        raise SystemExit(f"the cycle did not pull every account: {len(result.pulls)} of {accounts}; "
                         f"errors {dict(list(result.errors.items())[:3])}, skipped {dict(list(skipped.items())[:3])}")


def fresh_store(url: str):
    from connector.store import Store
    from connector.store.migrate import upgrade
    store = Store(url)
    upgrade(store)
    return store


# -- cycle: target 6 ------------------------------------------------------------------------------------------------

def timed_cycle(sandbox: FleetSandbox, cycle: Callable[[], Any], accounts: int) -> dict[str, float]:
    mark = len(sandbox.seen)
    start = time.perf_counter()
    checked(cycle(), accounts)
    seconds = time.perf_counter() - start
    seen = sandbox.seen[mark:]
    return {"seconds": seconds, "requests": len(seen), "peak": peak_in_flight(seen),
            "peak_account": peak_per_account(seen)}


def cycles_on(backend: str, url: str, sandbox: FleetSandbox, args: argparse.Namespace) -> list[tuple[str, dict]]:
    from connector.sync.cycle import run_cycle
    store = fresh_store(url)
    adapters = build(settings_data(url, sandbox.url, args.accounts))
    try:
        sandbox.faults.clear()
        first_pull(store, adapters, args.workers)  # the adapters stay logged in, as a running daemon's are
        sandbox.faults.rate("slow", 1.0, seconds=args.latency)
        serial = timed_cycle(sandbox, lambda: run_cycle(store, adapters, workers=1), args.accounts)
        concurrent = timed_cycle(sandbox, lambda: run_cycle(store, adapters, workers=args.workers,
                                                            per_marketplace=PER_MARKETPLACE), args.accounts)
    finally:
        for adapter in adapters.values():
            adapter.close()
        store.dispose()
    concurrent["ratio"] = concurrent["seconds"] / serial["seconds"]
    return [(f"{backend}: serial (workers=1)", serial),
            (f"{backend}: concurrent (workers={args.workers})", concurrent)]


def cycle_mode(args: argparse.Namespace) -> None:
    rows: list[tuple[str, dict]] = []
    with FleetSandbox(args.accounts, args.orders) as sandbox, tempfile.TemporaryDirectory() as tmp:
        print(f"{args.accounts} accounts, each its own {args.orders + 1} orders; every request answered after "
              f"{args.latency:g} s; {machine()}")
        stores = Stores(tmp)
        try:
            for backend in args.stores.split(","):
                rows += cycles_on(backend, stores.url(backend), sandbox, args)
        finally:
            stores.drop()
    print(f"{'one full pull cycle':<36}{'s':>8}{'accounts/s':>12}{'requests':>10}{'in flight':>11}"
          f"{'per account':>13}{'÷ serial':>10}")
    for name, r in rows:
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else "1.00"
        print(f"{name:<36}{r['seconds']:>8.2f}{args.accounts / r['seconds']:>12.1f}{r['requests']:>10}"
              f"{r['peak']:>11}{r['peak_account']:>13}{ratio:>10}")
    print("requests: what the sandbox saw during the cycle; in flight: the most at once, overall and for one account")


# -- scale: target 7 ------------------------------------------------------------------------------------------------

class Daemons:
    """`connector run` processes, each with the same configuration file and the secret in its environment."""

    def __init__(self, config: Path, count: int, logs: Path) -> None:
        env = {**os.environ, PASSWORD_ENV: PASSWORD}
        self.logs = [logs / f"daemon-{count}-{k}.log" for k in range(count)]
        self._files = [path.open("w") for path in self.logs]
        self.procs = [subprocess.Popen([CONNECTOR, "-c", str(config), "run"], stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=file, env=env, cwd=ROOT)
                      for file in self._files]

    def check_alive(self) -> None:
        for proc, path in zip(self.procs, self.logs, strict=True):
            if proc.poll() is not None:
                raise SystemExit(f"a daemon exited with {proc.returncode}:\n{path.read_text()[-3000:]}")

    def stop(self) -> list[int]:
        """SIGTERM, as an operator stops them; a daemon still running 30 s later is killed."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(timeout=30))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
        for file in self._files:
            file.close()
        return codes


def write_config(path: Path, data: dict[str, Any], pull_every: float) -> Path:
    path.write_text(yaml.safe_dump(data | {
        "schedule": {"pull_every": f"{pull_every:g}s"},
        "daemon": {"health_port": None},  # several daemons on one host: none takes the default port
        "log": {"format": "json", "level": "warning"},
    }))
    return path


def first_pulls_fired(sandbox: FleetSandbox, mark: int, accounts: int, daemons: Daemons, timeout: float) -> float:
    """When the last account's first pull began: from then on every account's job is on its schedule."""
    deadline = time.monotonic() + timeout
    while True:
        first: dict[str, float] = {}
        for s in pull_starts(sandbox.seen[mark:]):
            first.setdefault(s.seller, s.at)
        if len(first) >= accounts:
            return max(first.values())
        daemons.check_alive()
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(first)} of {accounts} accounts were pulled within {timeout:.0f} s")
        time.sleep(0.2)


def submit_commands(store, refs: list[str], over: float) -> threading.Thread:
    """One `accept` per ref, through the intake every face uses, evenly over ``over`` seconds."""
    from connector.sync.intake import submit

    def run() -> None:
        for ref in refs:
            with store.transaction() as session:
                submit(session, ref, "accept", {}, requested_by="bench")
            time.sleep(over / max(len(refs), 1))

    thread = threading.Thread(target=run, name="commands", daemon=True)
    thread.start()
    return thread


def commands_done(store) -> dict[str, int]:
    import sqlalchemy as sa

    from connector.store.tables import CommandRow
    with store.transaction() as session:
        return dict(session.execute(sa.select(CommandRow.state, sa.func.count()).group_by(CommandRow.state)).all())


def wait_for_commands(store, count: int, timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        states = commands_done(store)
        if sum(states.get(s, 0) for s in ("done", "failed")) >= count or time.monotonic() > deadline:
            return states
        time.sleep(0.5)


def pulled_store(url: str, data: dict[str, Any], workers: int):
    """A fresh store with every account's first pull done."""
    store = fresh_store(url)
    adapters = build(data)
    try:
        first_pull(store, adapters, workers)
    finally:
        for adapter in adapters.values():
            adapter.close()
    return store


def scale_run(count: int, url: str, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    with FleetSandbox(args.accounts, args.orders) as sandbox:
        data = settings_data(url, sandbox.url, args.accounts)
        store = pulled_store(url, data, args.workers)
        sandbox.faults.rate("slow", 1.0, seconds=args.latency)
        waiting = sandbox.waiting[:args.commands]
        mark = len(sandbox.seen)
        daemons = Daemons(write_config(tmp / f"fleet-{count}.yaml", data, args.pull_every), count, tmp)
        try:
            since = first_pulls_fired(sandbox, mark, args.accounts, daemons, timeout=60 + args.accounts)
            cpu = time.process_time()
            submitter = submit_commands(store, [f"{account(i)}:{order}" for i, order in enumerate(waiting)],
                                        over=args.seconds / 2)
            time.sleep(max(0.0, since + args.seconds - time.monotonic()))
            sandbox_cpu = (time.process_time() - cpu) / (time.monotonic() - since)
            daemons.check_alive()
            submitter.join()
            states = wait_for_commands(store, len(waiting), timeout=60)
        finally:
            codes = daemons.stop()
            store.dispose()
        seen = sandbox.seen[mark:]
    return {"daemons": count, "cpu": sandbox_cpu, "codes": codes, "done": states.get("done", 0),
            **tally_pulls(seen, since, since + args.seconds, args.pull_every), **tally_puts(seen, waiting)}


def tally_pulls(seen: list[Seen], since: float, until: float, interval: float) -> dict[str, Any]:
    starts = pull_starts(seen)
    pulls = sum(1 for s in starts if since <= s.at < until)
    covered, doubled = intervals(starts, interval, since, until)
    return {"pulls": pulls, "rate": pulls / (until - since), "covered": covered / (until - since),
            "doubled": doubled, "overlap": peak_per_account(starts)}


def tally_puts(seen: list[Seen], waiting: list[int]) -> dict[str, Any]:
    """The PUTs of each command: account i's login, the path of the order it accepts."""
    puts: dict[tuple[str, str], int] = defaultdict(int)
    for s in seen:
        if s.method == "PUT":
            puts[(s.seller, s.path)] += 1
    wanted = {(login(i), f"/orders/{order}") for i, order in enumerate(waiting)}
    return {"commands": len(waiting), "puts": sum(puts.values()), "stray": len(set(puts) - wanted),
            "twice": sum(1 for key in wanted if puts[key] > 1), "never": sum(1 for key in wanted if puts[key] == 0)}


def scale_mode(args: argparse.Namespace) -> None:
    counts = [int(n) for n in args.daemons.split(",")]
    print(f"{args.accounts} accounts, each its own {args.orders + 1} orders; every request answered after "
          f"{args.latency:g} s; pull_every {args.pull_every:g} s; {args.seconds:g} s measured per run; PostgreSQL; "
          f"{machine()}")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        stores = Stores(tmp)
        try:
            for count in counts:
                runs.append(scale_run(count, stores.url("postgresql"), Path(tmp), args))
        finally:
            stores.drop()
    first = runs[0]
    print(f"{'daemons':>8}{'pulls':>8}{'pulls/s':>9}{'× first':>9}{'covered/s':>11}{'× first':>9}{'twice':>7}"
          f"{'overlap':>9}{'sandbox CPU':>13}")
    for r in runs:
        print(f"{r['daemons']:>8}{r['pulls']:>8}{r['rate']:>9.1f}{r['rate'] / (first['rate'] or 1):>9.2f}"
              f"{r['covered']:>11.1f}{r['covered'] / (first['covered'] or 1):>9.2f}{r['doubled']:>7}"
              f"{r['overlap']:>9}{r['cpu']:>12.0%}")
    print(f"{'daemons':>8}{'commands':>10}{'done':>6}{'PUTs':>6}{'twice':>7}{'never':>7}  exit codes")
    for r in runs:
        print(f"{r['daemons']:>8}{r['commands']:>10}{r['done']:>6}{r['puts']:>6}{r['twice']:>7}{r['never']:>7}  "
              + " ".join(map(str, r["codes"])))
        if r["stray"]:
            print(f"  {r['stray']} orders got a PUT that no command asked for")
    print("pulls: /orders/search page 1 in the window, cut into pull intervals; covered: account-intervals with a "
          "pull; twice: account-intervals pulled by two daemons or more; overlap: the most searches of one account "
          "in flight at once (1: never two daemons at once); sandbox CPU: this process (the sandbox) in the window, "
          "of one core; commands twice/never: whose order got more than one PUT, or none")


# -- the command line -----------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("cycle", "scale"), help="cycle: target 6; scale: target 7")
    parser.add_argument("--accounts", type=int, default=200, help="accounts, each a seller of its own (default 200)")
    parser.add_argument("--orders", type=int, default=5, help="orders seeded per seller, besides the one that waits "
                        "for acceptance (default 5)")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds before the sandbox answers any request "
                        "(the slow fault; default 0.1)")
    parser.add_argument("--workers", type=int, default=8, help="accounts pulled at once by the concurrent cycle, "
                        "and by the first pull that precedes each run (default 8)")
    parser.add_argument("--stores", default="sqlite,postgresql", help="cycle: comma list (default sqlite,postgresql)")
    parser.add_argument("--daemons", default="1,2,4", help="scale: daemon counts, one run each (default 1,2,4)")
    parser.add_argument("--seconds", type=float, default=60, help="scale: seconds measured per run (default 60)")
    parser.add_argument("--pull-every", type=float, default=1.0, help="scale: the daemons' schedule.pull_every in "
                        "seconds (default 1: more than one daemon can do for 200 accounts, so pulls/s is capacity)")
    parser.add_argument("--commands", type=int, default=None, help="scale: accept commands queued, one per account "
                        "(default: every account)")
    args = parser.parse_args()
    if args.commands is None or args.commands > args.accounts:
        args.commands = args.accounts
    from connector.logs import configure
    configure("warning")
    if args.mode == "cycle":
        cycle_mode(args)
    else:
        scale_mode(args)


if __name__ == "__main__":
    main()
