"""``connector db …``: the store's schema."""

from __future__ import annotations

import click

from connector.cli.app import Context, cli, json_option, out, pass_context, print_json, safe
from connector.store.migrate import current_revision, head_revision, upgrade


@cli.group("db")
def db() -> None:
    """Create, upgrade and inspect the store's schema."""


@db.command("upgrade")
@json_option
@pass_context
def db_upgrade(c: Context, as_json: bool) -> None:
    """Create the store's tables, or upgrade them to this version's schema. Safe to run again."""
    store = c.store(migrated=False)
    before, after = upgrade(store)
    if as_json:
        print_json({"store": store.safe_url, "before": before, "after": after, "changed": before != after})
    elif before == after:
        out.print(f"store {safe(store.safe_url)}: schema already at {after}")
    else:
        out.print(f"store {safe(store.safe_url)}: schema {before or 'none'} → {after}")


@db.command("status")
@json_option
@pass_context
def db_status(c: Context, as_json: bool) -> None:
    """Show the store's schema revision and the one this version needs; exit 1 if they differ."""
    store = c.store(migrated=False)
    current, head = current_revision(store), head_revision()
    if as_json:
        print_json({"store": store.safe_url, "current": current, "needed": head, "current_is_needed": current == head})
    else:
        out.print(f"store {safe(store.safe_url)}: schema {current or 'none'}, this version needs {head}")
    if current != head:
        raise click.exceptions.Exit(1)
