"""``connector purge``: apply the retention settings now (the daemon does it daily)."""

from __future__ import annotations

import click

from connector.cli.app import Context, cli, json_option, out, pass_context, print_json
from connector.store.retention import purge_all


@cli.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would be removed; remove nothing.")
@json_option
@pass_context
def purge_cmd(c: Context, dry_run: bool, as_json: bool) -> None:
    """Remove what the retention settings no longer keep: the raw payloads and the buyer's name, phone and e-mail
    of orders finished more than retention.finished_orders ago (365 days by default), raw payloads beyond the newest
    retention.raw_versions of every other order, and quarantined records not seen for as long. Orders, lines,
    shipments and history stay."""
    result = purge_all(c.store(), finished_after=c.settings.retention.finished_orders,
                       versions=c.settings.retention.raw_versions, dry_run=dry_run)
    if as_json:
        print_json({"dry_run": dry_run, "orders": result.orders, "payloads": result.payloads,
                    "quarantined": result.quarantined})
        return
    verb = "would remove" if dry_run else "removed"
    out.print(f"{verb}: personal data of {result.orders} finished order(s), {result.payloads} raw payload(s), "
              f"{result.quarantined} quarantined record(s)", markup=False, highlight=False)
