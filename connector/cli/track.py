"""``connector track``: ask the carriers about every parcel still on its way, and apply the tracking rules."""

from __future__ import annotations

import click

from connector.cli.app import Context, cli, json_option, out, pass_context, plain, print_json
from connector.cli.progress import progress
from connector.sync.cycle import build_carriers, track_for
from connector.sync.track import TrackSummary


def track_json(s: TrackSummary) -> dict:
    return {"due": s.due, "asked": s.asked, "requests": s.requests, "changed": s.changed, "moved": s.moved,
            "commands": s.commands, "alerts": s.alerts, "not_tracked": s.not_tracked, "errors": s.errors}


def track_line(s: TrackSummary) -> str:
    asked = ", ".join(f"{c} {n} in {s.requests.get(c, 0)} request(s)" for c, n in sorted(s.asked.items()))
    return (f"track: {s.due} parcel(s) due" + (f"; asked {asked}" if asked else "")
            + f"; {s.changed} changed, {len(s.moved)} order(s) moved, {len(s.commands)} command(s) queued"
            + (f", {len(s.alerts)} alert(s)" if s.alerts else ""))


@cli.command("track")
@click.option("--account", "accounts", multiple=True, metavar="NAME", help="Only this account's parcels (repeatable).")
@json_option
@pass_context
def track_cmd(c: Context, accounts: tuple[str, ...], as_json: bool) -> None:
    """Track every parcel still on its way at its carrier, in the largest batches each API allows, and move the
    orders on from what the carriers report (a delivered parcel makes its order delivered; on Chopni that pushes
    COMPLETE, as the seller manual asks). Parcels whose carrier is not configured are listed with the reason.

    Exits 1 if a carrier failed (the others still run). The daemon does the same every schedule.track_every."""
    for name in accounts:
        c.settings.account(name)
    store = c.store()
    carriers = build_carriers(c.settings)
    try:
        with progress() as bar:
            task = bar.add_task("track", total=None, info="")
            summary = track_for(store, c.settings, carriers, accounts=list(accounts) or None,
                                on_batch=lambda s: bar.update(task, info=f"{sum(s.asked.values())} asked"))
    finally:
        for adapter in carriers.values():
            if not isinstance(adapter, str):
                adapter.close()
    if as_json:
        print_json(track_json(summary))
    else:
        # the lines quote carriers and marketplaces: printed as text, their control characters dropped
        p = lambda text: out.print(text, markup=False, highlight=False)  # noqa: E731
        p(plain(track_line(summary)))
        for line in summary.moved + summary.commands:
            p(f"  {plain(line)}")
        for line in summary.alerts:
            p(f"  alert: {plain(line)}")
        for _carrier, why in sorted(summary.not_tracked.items()):
            p(f"  not tracked: {plain(why)}")
        for carrier, error in sorted(summary.errors.items()):
            p(f"  FAILED {plain(carrier)}: {plain(error)}")
    if not summary.ok:
        raise click.exceptions.Exit(1)
