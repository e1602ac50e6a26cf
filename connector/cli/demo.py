"""``connector demo``: the real daemon against the bundled Rozetka sandbox, on a scripted day.

The day itself is connector/demo.py; this module draws it: a live table on a terminal, else a line a cycle.
"""

from __future__ import annotations

from collections import Counter

import click
from rich import box
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from connector.cli.app import Context, cli, err, out, pass_context
from connector.demo import ACCOUNT, PASSWORD_ENV, Demo, Options, Snapshot, Summary
from connector.logs import configure as configure_logging

STATUS_ORDER = ("new", "accepted", "processing", "ready_to_ship", "shipped", "ready_for_pickup", "delivered",
                "completed", "cancelled", "delivery_failed", "return_requested", "returned", "refunded",
                "exchanged", "unknown")
STATUS_STYLE = {"new": "bold cyan", "accepted": "cyan", "processing": "blue", "ready_to_ship": "magenta",
                "shipped": "yellow", "ready_for_pickup": "yellow", "completed": "green", "cancelled": "red"}
TABLE_ROWS = 20  # the live table shows the newest orders when the day grows longer
MAX_EVENTS = 8  # lines of narration under it


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
    """See the whole product work on this machine, with no credentials and no configuration: it starts
    the bundled Rozetka sandbox, writes a temporary config and store, and runs the real daemon against them
    while a scripted day plays out (orders arrive, the seller accepts and ships them through the outbox, the
    carrier delivers, a buyer cancels), shown live order by order.

    After --cycles N cycles, or at Ctrl-C, it prints a summary and the commands to try next with the printed
    config. Exits 0 when every command the demo queued was pushed, 1 otherwise."""
    configure_logging(c.log_level or "warning", c.log_format)  # warnings only: the table stays readable
    options = Options(cycles=cycles, store_url=store_url, speed=speed, seed=seed)
    live_mode = out.is_terminal
    with Demo(options) as demo:
        _header(demo, options)
        interrupted = False
        try:
            if live_mode:
                with Live(_render(demo.snapshot(), [], cycles, out.width), console=out, refresh_per_second=4,
                          transient=False) as live:
                    demo.play(cycles, lambda snap, events, _over: live.update(
                        _render(snap, events, cycles, out.width)))
            else:
                demo.play(cycles, lambda snap, events, over: over and out.print(
                    _line(snap, events, cycles), highlight=False, markup=False))
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


def _header(demo: Demo, options: Options) -> None:
    p = lambda text: out.print(text, highlight=False, markup=False, soft_wrap=True)  # noqa: E731
    length = f"{options.cycles} cycles" if options.cycles else "until Ctrl-C"
    p(f"connector demo: the real daemon against the bundled Rozetka sandbox (seed {options.seed}, {length}, "
      f"{options.speed:g} s a cycle)")
    p(f"  config   {demo.config_path}")
    p(f"  sandbox  {demo.sandbox.url}  (seller {demo.settings.accounts[0].username}, password in "
      f"${PASSWORD_ENV})")
    p(f"  store    {demo.store.safe_url}")
    p(f"  daemon   account {ACCOUNT}: pull every {options.pull_every:g} s, "
      f"push every {options.push_every:g} s"
      + (f", health {demo.health_url}/healthz" if demo.health_url else ""))


def _counts(counter: Counter) -> str:
    known = [s for s in STATUS_ORDER if counter[s]] + sorted(s for s in counter if s not in STATUS_ORDER)
    return ", ".join(f"{s} {counter[s]}" for s in known) or "none"


def _commands(snap: Snapshot) -> str:
    c = snap.commands
    return f"{c['done']} done, {snap.pending} pending, {c['failed']} failed"


def _line(snap: Snapshot, events: list[str], cycles: int | None) -> str:
    """One cycle on one line, for logs and pipes."""
    of = f"/{cycles}" if cycles else ""
    return (f"cycle {snap.cycle}{of}: {len(snap.rows)} orders ({_counts(snap.by_status)}); "
            f"commands {_commands(snap)}" + (f" | {'; '.join(events)}" if events else ""))


def _render(snap: Snapshot, events: list[str], cycles: int | None, width: int) -> Group:
    rows = snap.rows[-TABLE_ROWS:]
    hidden = len(snap.rows) - len(rows)
    table = Table(title=f"{ACCOUNT}: {len(snap.rows)} orders in the store"
                  + (f" (the newest {len(rows)} shown)" if hidden else ""), title_justify="left",
                  box=box.SIMPLE_HEAD)
    # Fixed widths for what must stay whole; the two long text columns share the rest and end in "…".
    fixed = {"order": 9, "status": 16, "TTN": 14, "pending commands": 19}
    rest = max(24, width - sum(fixed.values()) - 20)
    widths = fixed | {"Rozetka status": min(36, rest * 2 // 5), "last change": rest - min(36, rest * 2 // 5)}
    for col in ("order", "status", "Rozetka status", "TTN", "pending commands", "last change"):
        table.add_column(col, width=widths[col], no_wrap=True, overflow="ellipsis")
    for r in rows:
        style = STATUS_STYLE.get(r.status, "")
        table.add_row(r.external_id, Text(r.status + (" ⚑" if r.needs_review else ""), style=style),
                      f"{r.marketplace_status} {r.marketplace_label}", r.ttn,
                      Text(", ".join(r.pending), style="yellow"), r.last_change)
    of = f"/{cycles}" if cycles else ""
    footer = Text.from_markup(
        f"cycle [bold]{snap.cycle}{of}[/]  ·  pushes done [bold green]{snap.commands['done']}[/]"
        f"  ·  pending {snap.pending}  ·  failed [{'bold red' if snap.commands['failed'] else 'dim'}]"
        f"{snap.commands['failed']}[/]  ·  {'Ctrl-C stops' if not cycles else 'Ctrl-C stops early'}")
    more = len(events) - MAX_EVENTS
    shown = events[:MAX_EVENTS] + ([f"… and {more} more"] if more > 0 else [])
    narration = Text("\n".join(["this cycle:", *(f"  {e}" for e in shown)] if shown
                               else ["this cycle: nothing happened"]), style="dim")
    return Group(table, footer, narration)


def _print_summary(s: Summary, caught_up: bool, live_mode: bool) -> None:
    p = lambda text="": out.print(text, highlight=False, markup=False, soft_wrap=True)  # noqa: E731
    p()
    how = "stopped by Ctrl-C after" if s.interrupted else "finished:"
    p(f"demo {how} {s.cycles} cycle(s) in {s.elapsed:.1f} s")
    snap = s.snapshot
    p(f"orders by canonical status: {_counts(snap.by_status)}")
    if not live_mode:  # on a terminal the live table is still on the screen
        for r in snap.rows:
            p(f"  {r.external_id}  {r.status:<16} Rozetka {r.marketplace_status} {r.marketplace_label}"
              + (f"  TTN {r.ttn}" if r.ttn else ""))
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(s.by_kind.items()))
    p(f"commands the demo queued: {s.queued} ({kinds or 'none'}): {snap.commands['done']} done, "
      f"{snap.commands['failed']} failed" + (f", {snap.pending} unfinished" if snap.pending else ""))
    for failure in s.failures:
        out.print(f"  [red]{escape(failure)}[/]", highlight=False, soft_wrap=True)
    if s.out_of_sync:
        p("the store has not caught up with Rozetka on: " + "; ".join(s.out_of_sync))
    elif caught_up:
        p(f"the store agrees with Rozetka on all {len(snap.rows)} orders")
    p()
    p(f"try next, with the demo's config (the sandbox is gone; the store keeps the day, {s.store_url}):")
    for line in s.try_next():
        p(f"  {line}")
    if not s.ok:
        err.print("[bold red]error:[/] not every command the demo queued was pushed (see above)")

