"""``connector demo``: the real daemon against the bundled Rozetka, Chopni and Prom.ua sandboxes, on a scripted
day.

The day itself is connector/demo.py; this module draws it: a live table of both marketplaces' orders on a terminal,
else a line a cycle.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import click
from rich import box
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from connector.cli.app import Context, cli, err, out, pass_context, plain, safe
from connector.demo import ACCOUNT, ACCOUNTS, CHOPNI_ACCOUNT, PROMUA_ACCOUNT, Demo, Options, Snapshot, Summary
from connector.errors import ConnectorError
from connector.logs import configure as configure_logging
from connector.web.server import UiServer

STATUS_ORDER = ("new", "accepted", "processing", "ready_to_ship", "shipped", "ready_for_pickup", "delivered",
                "completed", "cancelled", "delivery_failed", "return_requested", "returned", "refunded",
                "exchanged", "unknown")
STATUS_STYLE = {"new": "bold cyan", "accepted": "cyan", "processing": "blue", "ready_to_ship": "magenta",
                "shipped": "yellow", "ready_for_pickup": "yellow", "completed": "green", "cancelled": "red"}
STATUS_STYLE |= {"delivered": "yellow", "refunded": "red", "exchanged": "magenta"}
TABLE_ROWS = 22  # the live table shows the newest orders when the day grows longer
MAX_EVENTS = 12  # lines of narration under it


@cli.command("demo")
@click.option("--cycles", type=click.IntRange(min=1), default=None, metavar="N",
              help="Stop by itself after N cycles (default: run until Ctrl-C).")
@click.option("--store", "store_url", metavar="URL",
              help="Use this store (a SQLAlchemy URL), not a fresh SQLite file in the demo's directory.")
@click.option("--speed", type=click.FloatRange(min=0.2), default=2.0, show_default=True, metavar="SECONDS",
              help="Seconds per cycle; the daemon pulls every cycle and pushes twice a cycle.")
@click.option("--seed", type=int, default=1, show_default=True, help="The same seed plays the same day.")
@pass_context
def demo_cmd(c: Context, cycles: int | None, store_url: str | None, speed: float, seed: int) -> None:
    """See the whole product work on this machine, with no credentials and no configuration: it starts the
    bundled Rozetka, Chopni and Prom.ua sandboxes, writes a temporary config (three accounts) and store, and runs
    the real daemon against them while a scripted day plays out (orders arrive, the seller accepts or starts
    processing them, ships and completes them through the outbox, the carrier delivers, a buyer cancels, an
    order's goods are exchanged), shown live order by order, the marketplaces side by side.

    After --cycles N cycles, or at Ctrl-C, it prints a summary per account (with the e-mails Chopni sent to
    buyers against the status changes pushed, and Prom.ua's write log) and the commands to try next with the
    printed config. Exits 0 when every command the demo queued was pushed, 1 otherwise."""
    configure_logging(c.log_level or "warning", c.log_format)  # warnings only: the table stays readable
    options = Options(cycles=cycles, store_url=store_url, speed=speed, seed=seed)
    live_mode = out.is_terminal
    with Demo(options) as demo, _page(demo) as page_url:
        _header(demo, options, page_url)
        interrupted = False
        try:
            if live_mode:
                with Live(_render(demo.snapshot(), [], cycles, out.width), console=out, refresh_per_second=4,
                          transient=False) as live:
                    demo.play(cycles, lambda snap, events, _over: live.update(
                        _render(snap, events, cycles, out.width)))
            else:
                demo.play(cycles, lambda snap, events, over: over and out.print(
                    plain(_line(snap, events, cycles)), highlight=False, markup=False))
        except KeyboardInterrupt:
            interrupted = True
            err.print("stopping: letting the daemon finish the work in hand (Ctrl-C again to skip)")
        try:
            caught_up = demo.settle()
        except KeyboardInterrupt:
            caught_up = False
        summary = demo.summary(interrupted=interrupted)
    _print_summary(summary, caught_up, live_mode)
    if not summary.ok:
        raise click.exceptions.Exit(1)


@contextmanager
def _page(demo: Demo) -> Iterator[str | None]:
    """The web page (``connector ui``) over the demo's store, on a free local port, for as long as the day runs."""
    try:
        server = UiServer(demo.store, demo.settings).start()
    except ConnectorError as exc:  # the demo goes on without it
        err.print(f"the web page could not start: {safe(exc.message)}")
        yield None
        return
    try:
        yield server.url
    finally:
        server.stop()


def _header(demo: Demo, options: Options, page_url: str | None = None) -> None:
    p = lambda text: out.print(plain(text), highlight=False, markup=False, soft_wrap=True)  # noqa: E731
    length = f"{options.cycles} cycles" if options.cycles else "until Ctrl-C"
    p(f"connector demo: the real daemon against the bundled Rozetka, Chopni and Prom.ua sandboxes "
      f"(seed {options.seed}, {length}, {options.speed:g} s a cycle)")
    p(f"  config   {demo.config_path}")
    urls = {ACCOUNT: demo.sandbox.url, CHOPNI_ACCOUNT: demo.chopni.url, PROMUA_ACCOUNT: demo.promua.base_url}
    for account in ACCOUNTS:
        p(f"  sandbox  {account.title + ' ' + urls[account.name]:<30}  (account {account.name}, seller "
          f"{account.login}, {account.secret} in ${account.password_env})")
    p(f"  store    {demo.store.safe_url}")
    p(f"  daemon   accounts {', '.join(a.name for a in ACCOUNTS)}: pull every {options.pull_every:g} s, "
      f"push every {options.push_every:g} s"
      + (f", health {demo.health_url}/healthz" if demo.health_url else ""))
    if page_url:
        p(f"  page     {page_url}  (the web page, live while the demo runs; later: connector -c "
          f"{demo.config_path} ui)")


def _counts(counter: Counter) -> str:
    known = [s for s in STATUS_ORDER if counter[s]] + sorted(s for s in counter if s not in STATUS_ORDER)
    return ", ".join(f"{s} {counter[s]}" for s in known) or "none"


def _commands(snap: Snapshot) -> str:
    c = snap.commands
    return f"{c['done']} done, {snap.pending} pending, {c['failed']} failed"


def _line(snap: Snapshot, events: list[str], cycles: int | None) -> str:
    """One cycle on one line, for logs and pipes."""
    of = f"/{cycles}" if cycles else ""
    orders = "; ".join(f"{a.title} {len(snap.rows_of(a.name))} orders ({_counts(snap.by_status_of(a.name))})"
                       for a in ACCOUNTS)
    return (f"cycle {snap.cycle}{of}: {orders}; commands {_commands(snap)}"
            + (f" | {'; '.join(events)}" if events else ""))


def _render(snap: Snapshot, events: list[str], cycles: int | None, width: int) -> Group:
    rows = snap.rows[-TABLE_ROWS:]
    hidden = len(snap.rows) - len(rows)
    per_account = ", ".join(f"{a.title} {len(snap.rows_of(a.name))}" for a in ACCOUNTS)
    table = Table(title=f"{len(snap.rows)} orders in the store ({per_account})"
                  + (f", the newest {len(rows)} shown" if hidden else ""), title_justify="left",
                  box=box.SIMPLE_HEAD)
    widths = _widths(width)
    for col, w in widths.items():
        table.add_column(col, width=w, no_wrap=True, overflow="ellipsis")
    for r in rows:
        style = STATUS_STYLE.get(r.status, "")
        # Text, not str: a str cell is read as markup, and these are the marketplaces' words
        cells = {"market": Text(plain(r.marketplace)), "order": Text(plain(r.external_id)),
                 "status": Text(r.status + (" ⚑" if r.needs_review else ""), style=style),
                 "marketplace status": Text(plain(r.marketplace_short)), "TTN": Text(plain(r.ttn)),
                 "pending commands": Text(plain(", ".join(r.pending)), style="yellow"),
                 "last change": Text(plain(r.last_change))}
        table.add_row(*(cells[col] for col in widths))
    of = f"/{cycles}" if cycles else ""
    footer = Text.from_markup(
        f"cycle [bold]{snap.cycle}{of}[/]  ·  pushes done [bold green]{snap.commands['done']}[/]"
        f"  ·  pending {snap.pending}  ·  failed [{'bold red' if snap.commands['failed'] else 'dim'}]"
        f"{snap.commands['failed']}[/]  ·  {'Ctrl-C stops' if not cycles else 'Ctrl-C stops early'}")
    more = len(events) - MAX_EVENTS
    shown = events[:MAX_EVENTS] + ([f"… and {more} more"] if more > 0 else [])
    narration = Text("\n".join(["this cycle:", *(f"  {plain(e)}" for e in shown)] if shown
                               else ["this cycle: nothing happened"]), style="dim")
    return Group(table, footer, narration)


def _widths(width: int) -> dict[str, int]:
    """The table's columns and their widths for a terminal ``width`` wide. What must stay whole has a fixed width;
    the marketplace's status takes the rest (ending in "…"), shared with the last change when there is room for
    it. On a narrow terminal the last change, then the pending commands, are left out rather than squeezed."""
    widths = {"market": 7, "order": 9, "status": 16, "marketplace status": 0, "TTN": 14}

    def room(extra: dict[str, int]) -> int:  # what is left for the flexible columns: 3 a column, 1 an edge
        cols = widths | extra
        return width - 3 * len(cols) - 1 - sum(cols.values())

    if room({"pending commands": 19}) >= 14:
        widths["pending commands"] = 19
        if room({"last change": 0}) >= 14 + 16:
            widths["last change"] = 0
    rest = max(14, room({}))
    if "last change" in widths:
        widths["marketplace status"] = max(14, min(36, rest * 2 // 5))
        widths["last change"] = rest - widths["marketplace status"]
    else:
        widths["marketplace status"] = rest
    return widths


def _print_summary(s: Summary, caught_up: bool, live_mode: bool) -> None:
    # every line may quote a marketplace (order ids, status labels): text, its control characters dropped
    p = lambda text="": out.print(plain(text), highlight=False, markup=False, soft_wrap=True)  # noqa: E731
    p()
    how = "stopped by Ctrl-C after" if s.interrupted else "finished:"
    p(f"demo {how} {s.cycles} cycle(s) in {s.elapsed:.1f} s")
    snap = s.snapshot
    p(f"orders by canonical status: {_counts(snap.by_status)}")
    for a in s.accounts:
        title, name = a.account.title, a.account.name
        p(f"{name} ({title}): {a.orders} orders: {_counts(a.by_status)}")
        if not live_mode:  # on a terminal the live table is still on the screen
            for r in snap.rows_of(name):
                p(f"  {r.external_id:<9}  {r.status:<16} {title} {r.marketplace_text}"
                  + (f"  TTN {r.ttn}" if r.ttn else ""))
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(s.by_kind.items()))
    p(f"commands the demo queued: {s.queued} ({kinds or 'none'}): {snap.commands['done']} done, "
      f"{snap.commands['failed']} failed" + (f", {snap.pending} unfinished" if snap.pending else ""))
    for a in s.accounts:
        c = a.commands
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(a.by_kind.items()))
        unfinished = c["pending"] + c["in_progress"]
        p(f"  {a.account.name}: {a.queued} ({kinds or 'none'}): {c['done']} done, {c['failed']} failed"
          + (f", {unfinished} unfinished" if unfinished else ""))
    for failure in s.failures:
        out.print(f"  [red]{safe(failure)}[/]", highlight=False, soft_wrap=True)
    if s.parcels:
        p(f"parcels at the carriers: {_counts(s.parcels)}")
    p(f"orders the carrier, not the seller, completed: {len(s.completed_by_carrier)}")
    for line in s.completed_by_carrier:
        p(f"  {line}")
    if s.emails_sent is not None:
        verdict = "nothing was sent twice" if s.nothing_sent_twice else "they differ"
        line = (f"Chopni e-mailed its buyers {s.emails_sent} time(s) for the {s.pushed_changes} status "
                f"change(s) the daemon pushed: {verdict}")
        if s.nothing_sent_twice:
            p(line)
        else:
            out.print(f"[red]{safe(line)}[/]", highlight=False, soft_wrap=True)
    if s.promua_steps_once is not None:
        if s.promua_steps_once:
            p("Prom.ua's write log holds each step the daemon pushed once: nothing was sent twice")
        else:
            out.print("[red]Prom.ua's write log holds a step twice[/]", highlight=False, soft_wrap=True)
    for a in s.accounts:
        title = a.account.title
        if a.out_of_sync:
            p(f"the store has not caught up with {title} on: " + "; ".join(a.out_of_sync))
        elif caught_up:
            p(f"the store agrees with {title} on all {a.orders} orders")
    p()
    p(f"try next, with the demo's config (the sandboxes are gone; the store keeps the day, {s.store_url}):")
    for line in s.try_next():
        p(f"  {line}")
    if not s.ok:
        err.print("[bold red]error:[/] not every command the demo queued was pushed (see above)")

