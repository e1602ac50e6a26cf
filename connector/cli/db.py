"""``connector db …``: the store's schema."""

from __future__ import annotations

import click

from connector.cli.app import Context, cli, out, pass_context, safe
from connector.store.migrate import current_revision, head_revision, upgrade


@cli.group("db")
def db() -> None:
    """Create, upgrade and inspect the store's schema."""


@db.command("upgrade")
@pass_context
def db_upgrade(c: Context) -> None:
    """Create the store's tables, or upgrade them to this version's schema. Safe to run again."""
    store = c.store(migrated=False)
    before, after = upgrade(store)
    if before == after:
        out.print(f"store {safe(store.safe_url)}: schema already at {after}")
    else:
        out.print(f"store {safe(store.safe_url)}: schema {before or 'none'} → {after}")


@db.command("status")
@pass_context
def db_status(c: Context) -> None:
    """Show the store's schema revision and the one this version needs; exit 1 if they differ."""
    store = c.store(migrated=False)
    current, head = current_revision(store), head_revision()
    out.print(f"store {safe(store.safe_url)}: schema {current or 'none'}, this version needs {head}")
    if current != head:
        raise click.exceptions.Exit(1)
