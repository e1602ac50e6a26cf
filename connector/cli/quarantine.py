"""``connector quarantine``: marketplace records that could not become orders, with the reason and the raw body."""

from __future__ import annotations

import click
from rich.table import Table

from connector.cli.app import ID_MAX, Context, json_option, out, pass_context, plain, print_json, safe
from connector.cli.app import cli as root
from connector.store.queries import quarantine_json, quarantined


@root.command("quarantine")
@click.option("--account", "-a", metavar="NAME", help="Only this account's records.")
@click.option("--raw", "show_raw", is_flag=True, help="Include each record's raw body (JSON or HTML).")
@click.option("--limit", type=click.IntRange(min=1, max=ID_MAX, clamp=True), default=100, show_default=True)
@json_option
@pass_context
def quarantine(c: Context, account: str | None, show_raw: bool, limit: int, as_json: bool) -> None:
    """List records a pull set aside because they cannot be stored as orders (no usable order id, or a value the
    store refuses), newest first. The rest of their page was stored; fix the record at the marketplace and the
    next pull takes it. Orders whose payload merely did not map are not here: `connector orders --review`."""
    with c.store().reading() as session:
        rows = quarantined(session, account=account, limit=limit)
    if as_json:
        print_json([quarantine_json(r, body=show_raw) for r in rows])
        return
    if not rows:
        out.print("nothing is quarantined")
        return
    table = Table(title=f"{len(rows)} quarantined record(s)")
    for column in ("id", "account", "order id", "reason", "seen", "last seen"):
        table.add_column(column)
    for r in rows:
        # all of it came from the marketplace: text, never markup, and no escape sequences for the terminal
        table.add_row(str(r.id), safe(r.account), safe(r.external_id[:40]), safe(r.reason), str(r.times_seen),
                      r.last_seen_at.isoformat(timespec="seconds"))
    out.print(table)
    if show_raw:
        for r in rows:
            out.print(f"--- {r.id} ({plain(r.content_type)})", markup=False, highlight=False)
            out.print(plain(r.body), markup=False, highlight=False)  # --json keeps the body byte for byte
