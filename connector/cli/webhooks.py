"""``connector webhooks``: deliveries to the configured subscriptions; send the due ones, or one again by hand."""

from __future__ import annotations

import click
from rich.table import Table

from connector.cli.app import ID_MAX, Context, cli, json_option, out, pass_context, print_json, safe
from connector.store.deliveries import cursors, delivery_json, list_deliveries, retry
from connector.sync.webhooks import deliver_due

STATES = ("pending", "in_progress", "done", "failed")


@cli.group("webhooks", invoke_without_command=True)
@click.option("--failed", is_flag=True, help="Only deliveries that failed for good (they need a person).")
@click.option("--state", type=click.Choice(STATES), help="Only deliveries in this state.")
@click.option("--name", help="Only this subscription's deliveries.")
@click.option("--limit", type=click.IntRange(min=1, max=ID_MAX, clamp=True), default=100, show_default=True)
@json_option
@click.pass_context
def webhooks(ctx: click.Context, failed: bool, state: str | None, name: str | None, limit: int,
             as_json: bool) -> None:
    """List webhook deliveries, newest first. Subcommands: retry ID, send."""
    if ctx.invoked_subcommand is not None:
        return
    c: Context = ctx.obj
    with c.store().reading() as session:
        rows = list_deliveries(session, state="failed" if failed else state, subscription=name, limit=limit)
        positions = cursors(session)
    if as_json:
        print_json([delivery_json(r) for r in rows])
        return
    for sub in c.settings.webhooks:
        position = positions.get(sub.name, "(not started)")
        out.print(f"{safe(sub.name)}: {', '.join(sub.events)} → feed position {position}", highlight=False)
    if not rows:
        out.print("no such deliveries" if failed or state or name else "no deliveries yet")
        return
    table = Table(title=f"{len(rows)} deliveries")
    for col in ("id", "webhook", "seq", "event", "state", "tries", "last error / delivered"):
        table.add_column(col)
    for r in rows:
        detail = r.delivered_at.strftime("%Y-%m-%d %H:%M:%S") if r.state == "done" else r.last_error
        table.add_row(str(r.id), safe(r.subscription), str(r.seq), r.kind, r.state, str(r.attempts), safe(detail))
    out.print(table)


@webhooks.command("retry")
@click.argument("delivery_id", type=click.IntRange(0, ID_MAX))
@pass_context
def webhooks_retry(c: Context, delivery_id: int) -> None:
    """Send a delivery again (a failed one, or a delivered one the receiver lost): it is due at once."""
    with c.store().transaction() as session:
        row = retry(session, delivery_id)
    out.print(f"delivery {row.id} ({safe(row.subscription)}, seq {row.seq}) is pending again; the daemon's "
              "next webhook run, or `connector webhooks send`, sends it")


@webhooks.command("send")
@json_option
@pass_context
def webhooks_send(c: Context, as_json: bool) -> None:
    """One delivery run now, as the daemon's job does: new events into deliveries, the due ones sent."""
    summary = deliver_due(c.store(), c.settings)
    data = {"written": summary.written, "delivered": summary.delivered, "retrying": summary.retrying,
            "failed": summary.failed, "secret_not_set": summary.unsigned}
    if as_json:
        print_json(data)
    else:
        out.print(f"{summary.written} written, {len(summary.delivered)} delivered, {len(summary.retrying)} to retry, "
                  f"{len(summary.failed)} failed" + (f"; secret not set: {', '.join(summary.unsigned)}"
                                                     if summary.unsigned else ""))
    if summary.failed or summary.retrying or summary.unsigned:
        raise click.exceptions.Exit(1)
