"""``connector account …``: each account's run state; pause and resume one by hand."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from connector.cli.app import (
    Context, account_option, cli, comment_option, local_time, out, pass_context, print_json, safe, utc_iso,
    json_option,
)
from connector.domain import utcnow
from connector.store.accounts import failed_secrets, hold, pause_kind, paused_accounts, resume, states


@cli.group("account")
def account_group() -> None:
    """The configured accounts: their state, and pausing one by hand (no pull, no push) until it is resumed."""


def _rows(c: Context, names: tuple[str, ...]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The JSON rows, and the stored states (the table shows their times in the local zone)."""
    chosen = [c.settings.account(n) for n in names] or c.settings.accounts
    now = utcnow()
    with c.store().reading() as session:
        by_name, refused = states(session), failed_secrets(session)
    rows = []
    for account in chosen:
        s = by_name.get(account.name)
        paused = bool(s and s.paused_until and s.paused_until > now)
        if not account.enabled:
            state = "disabled"
        elif paused:
            state = "paused"
        elif s is None or s.last_pull_at is None:
            state = "never pulled"
        else:
            state = "failing" if s.failures else "ok"
        rows.append({
            "account": account.name, "marketplace": account.marketplace, "enabled": account.enabled,
            "state": state,
            # credentials: its login was refused (ends by itself when the secret changes, or at paused_until);
            # operator: `connector account pause` (until `connector account resume`)
            "paused_for": pause_kind(s, refused.get(account.name)) if paused else None,
            "paused_until": utc_iso(s.paused_until) if paused else None,
            "pause_reason": s.paused_reason if paused else "",
            "last_pull_at": utc_iso(s.last_pull_at) if s else None,
            "last_pull_ok_at": utc_iso(s.last_pull_ok_at) if s else None,
            "last_error": s.last_error if s else "",
            "failures": s.failures if s else 0,
        })
    return rows, by_name


@account_group.command("list")
@account_option()
@json_option
@pass_context
def account_list(c: Context, accounts: tuple[str, ...], as_json: bool) -> None:
    """Every configured account: its state (ok, failing, paused, disabled, never pulled), why it is paused, and its
    last pull. Times are local here, UTC with --json."""
    rows, raw = _rows(c, accounts)
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no accounts are configured")
        return
    table = Table(title=f"{len(rows)} account(s)")
    for column in ("account", "marketplace", "state", "paused until", "why", "last good pull", "last error"):
        table.add_column(column)
    for r in rows:
        s = raw.get(r["account"])
        until = ("until resumed" if r["paused_for"] == "operator" else local_time(s.paused_until)) \
            if r["paused_until"] else ""
        why = f"{r['paused_for']}: {r['pause_reason']}" if r["paused_for"] else ""
        # reasons and errors quote the marketplace: text, never markup
        table.add_row(safe(r["account"]), r["marketplace"], r["state"], until, safe(why),
                      local_time(s.last_pull_ok_at) if s else "", safe(r["last_error"]))
    out.print(table)


@account_group.command("pause")
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@comment_option(help="Why, for whoever looks next (`connector account list`).")
@json_option
@pass_context
def account_pause(c: Context, names: tuple[str, ...], comment: str, as_json: bool) -> None:
    """Pause accounts by hand: no pull and no push (their commands wait) until `connector account resume`, also
    across restarts. A running daemon sees it at its next run."""
    for name in names:
        c.settings.account(name)  # an unknown name is a usage error, before anything is written
    with c.store().transaction() as session:
        for name in names:
            hold(session, name, comment)
    if as_json:
        print_json([{"account": n, "state": "paused", "paused_for": "operator", "comment": comment} for n in names])
    else:
        for name in names:
            out.print(f"account {safe(name)} paused until `connector account resume {safe(name)}`")


@account_group.command("resume")
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@json_option
@pass_context
def account_resume(c: Context, names: tuple[str, ...], as_json: bool) -> None:
    """End a pause now, whatever its cause (an operator, or a refused login: fix the secret first, or the next
    login is refused again and pauses the account for another 30 minutes)."""
    for name in names:
        c.settings.account(name)
    with c.store().transaction() as session:
        was = paused_accounts(session)
        for name in names:
            resume(session, name)
    rows = [{"account": n, "was_paused": n in was} for n in names]
    if as_json:
        print_json(rows)
    else:
        for r in rows:
            out.print(f"account {safe(r['account'])} " + ("resumed" if r["was_paused"] else "was not paused"))
