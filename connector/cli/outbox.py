"""``connector outbox``: the seller commands waiting, done and failed; requeue or cancel one."""

from __future__ import annotations

import click
from rich.table import Table

from connector.cli.app import ID_MAX, Context, cli, json_option, local_time, out, pass_context, print_json, safe
from connector.store.commands import cancel, list_commands, requeue

STATES = ("pending", "in_progress", "done", "failed", "cancelled")


def command_json(row, order) -> dict:
    return {"id": row.id, "order_id": order.id, "order": f"{order.account}:{order.external_id}", "kind": row.kind,
            "payload": row.payload, "state": row.state, "attempts": row.attempts,
            "next_attempt_at": row.next_attempt_at.isoformat() if row.next_attempt_at else None,
            "last_error": row.last_error, "hint": row.hint, "result": row.result,
            "requested_by": row.requested_by, "created_at": row.created_at.isoformat(),
            "updated_at": row.updated_at.isoformat()}


@cli.group("outbox", invoke_without_command=True)
@click.option("--failed", is_flag=True, help="Only failed commands (the ones a person must look at).")
@click.option("--state", type=click.Choice(STATES), help="Only commands in this state.")
@click.option("--limit", type=click.IntRange(min=1, max=ID_MAX, clamp=True), default=100, show_default=True)
@json_option
@click.pass_context
def outbox(ctx: click.Context, failed: bool, state: str | None, limit: int, as_json: bool) -> None:
    """List seller commands, newest first. Subcommands: retry ID, cancel ID."""
    if ctx.invoked_subcommand is not None:
        return
    c: Context = ctx.obj
    with c.store().reading() as session:
        rows = list_commands(session, state="failed" if failed else state, limit=limit)
    if as_json:
        print_json([command_json(r, o) for r, o in rows])
        return
    if not rows:
        out.print("the outbox is empty" if not (failed or state) else "no such commands")
        return
    table = Table(title=f"{len(rows)} command(s)")
    for col in ("id", "order", "kind", "state", "tries", "updated", "result / error"):
        table.add_column(col)
    for r, o in rows:
        # the marketplace's own words (and an ERP's order ids): shown as text, never obeyed as markup
        detail = r.result if r.state == "done" else (f"{r.last_error} — {r.hint}" if r.hint else r.last_error)
        table.add_row(str(r.id), safe(f"{o.account}:{o.external_id}"), safe(r.kind), r.state, str(r.attempts),
                      local_time(r.updated_at), safe(detail))
    out.print(table)


COMMAND_ID = click.IntRange(0, ID_MAX)  # past ID_MAX the database would refuse the number itself


def _changed(row) -> dict:
    return {"id": row.id, "kind": row.kind, "state": row.state, "attempts": row.attempts,
            "updated_at": row.updated_at.isoformat() if row.updated_at else None}


@outbox.command("retry")
@click.argument("command_id", type=COMMAND_ID)
@json_option
@pass_context
def outbox_retry(c: Context, command_id: int, as_json: bool) -> None:
    """Put a failed or cancelled command back in the queue with a fresh attempt count."""
    with c.store().transaction() as session:
        row = requeue(session, command_id)
        changed = _changed(row)
    if as_json:
        print_json(changed)
    else:
        out.print(f"command {changed['id']} ({safe(changed['kind'])}) is pending again")


@outbox.command("cancel")
@click.argument("command_id", type=COMMAND_ID)
@json_option
@pass_context
def outbox_cancel(c: Context, command_id: int, as_json: bool) -> None:
    """Cancel a pending command before it is pushed."""
    with c.store().transaction() as session:
        row = cancel(session, command_id)
        changed = _changed(row)
    if as_json:
        print_json(changed)
    else:
        out.print(f"command {changed['id']} ({safe(changed['kind'])}) cancelled")
