"""``connector sync``, ``resync`` and ``remap``: run the jobs by hand."""

from __future__ import annotations

import click
from rich.table import Table

from adapters.factory import build_adapter, raw_mapper
from connector.cli.app import (
    ORDER_REF, Context, account_option, cli, err, json_option, out, pass_context, plain, print_json, safe,
)
from connector.cli.progress import progress
from connector.cli.track import track_json, track_line
from connector.errors import ConnectorError
from connector.logs import get_logger
from connector.store.accounts import paused_accounts, remember_failed_secret, resume_if_secret_changed
from connector.store.orders import upsert_pulled
from connector.store.queries import find_order
from connector.sync.cycle import build_adapters, build_carriers, run_cycle, track_for
from connector.sync.remap import remap_account


log = get_logger(__name__)


def _fingerprint(c: Context, name: str):
    def read() -> str | None:
        try:
            return c.settings.account(name).secret_fingerprint()
        except ConnectorError:
            return None
    return read


@cli.command("sync")
@click.option("--once", is_flag=True, help="Run one cycle and exit (the default; the daemon is `connector run`).")
@account_option()
@json_option
@pass_context
def sync_cmd(c: Context, once: bool, accounts: tuple[str, ...], as_json: bool) -> None:
    """Run one full cycle: pull every enabled account (daemon.pull_workers at once), track their parcels at the
    carriers, then push every due command (including those the carriers' reports queued).

    Exits 1 if any account was not pulled (failed, paused or held by another daemon: the reason is shown), a
    carrier failed, or a command failed; the other accounts still run."""
    for name in accounts:
        c.settings.account(name)  # an unknown name is a usage error, before any work
    store = c.store()
    adapters, errors = build_adapters(c.settings, list(accounts) or None)
    carriers = build_carriers(c.settings)
    # As the daemon does: a pause after a refused login ends once the secret is another; a login refused now
    # remembers which secret it was (docs/operations.md, credentials and pauses).
    with store.transaction() as session:
        for name in adapters:
            if resume_if_secret_changed(session, name, _fingerprint(c, name)):
                log.info("the refused secret was replaced: account resumed", account=name)
        paused_before = paused_accounts(session)
    with progress() as bar:
        tasks = {name: bar.add_task(f"pull {name}", total=None, info="") for name in adapters}
        result = run_cycle(store, adapters, on_page=lambda name, s: bar.update(
            tasks[name], info=f"{s.pages} page(s), {s.created} new, {s.updated} changed"),
            track=lambda: track_for(store, c.settings, carriers, accounts=list(adapters)),
            settle=c.settings.daemon.takeover_wait, workers=c.settings.daemon.pull_workers,
            per_marketplace=c.settings.daemon.pulls_per_marketplace)
    for adapter in [*adapters.values(), *(a for a in carriers.values() if not isinstance(a, str))]:
        adapter.close()
    result.errors = errors | result.errors
    with store.transaction() as session:
        for name in (paused_accounts(session) - paused_before) & set(adapters):
            if (fingerprint := _fingerprint(c, name)()) is not None:
                remember_failed_secret(session, name, fingerprint)
    rows = []
    for name in [a.name for a in c.settings.accounts if a.name in adapters or a.name in result.errors]:
        s = result.pulls.get(name)
        rows.append({"account": name, "ok": name not in result.errors and not (s and s.skipped),
                     "created": s.created if s else 0, "updated": s.updated if s else 0,
                     "unchanged": s.unchanged if s else 0, "problems": (s.problems + s.notes) if s else [],
                     "skipped": s.skipped if s else "", "error": result.errors.get(name, "")})
    push = {"done": result.push.done, "retrying": result.push.retrying, "failed": result.push.failed,
            "paused_accounts": sorted(result.push.paused)}
    track = track_json(result.track) if result.track else None
    if as_json:
        print_json({"accounts": rows, "track": track, "push": push})
    else:
        table = Table(title="sync")
        for col in ("account", "", "new", "changed", "unchanged", "notes"):
            table.add_column(col)
        for r in rows:
            # a pull's notes quote the marketplace (a carrier's name, a status label): text, never markup
            notes = r["error"] or r["skipped"] or "; ".join(r["problems"])
            table.add_row(r["account"], "[green]ok[/]" if r["ok"] else "[red]FAIL[/]", str(r["created"]),
                          str(r["updated"]), str(r["unchanged"]), safe(notes))
        out.print(table)
        if result.track is not None:
            out.print(plain(track_line(result.track)), markup=False, highlight=False)
        out.print(f"push: {len(push['done'])} done, {len(push['retrying'])} to retry, {len(push['failed'])} failed"
                  + (f"; paused: {', '.join(push['paused_accounts'])}" if push["paused_accounts"] else ""))
    if not result.ok or not all(r["ok"] for r in rows) or push["failed"]:
        raise click.exceptions.Exit(1)


@cli.command("resync")
@click.argument("ref", type=ORDER_REF)
@json_option
@pass_context
def resync_cmd(c: Context, ref: str, as_json: bool) -> None:
    """Read one order again from its marketplace now. REF: id or account:external_id."""
    store = c.store()
    with store.transaction() as session:
        row = find_order(session, ref)
        account, external_id = row.account, row.external_id
    adapter = build_adapter(c.settings.account(account))
    try:
        pulled = adapter.fetch(external_id)
    finally:
        adapter.close()
    if pulled.order is None:
        if as_json:
            print_json({"order": f"{account}:{external_id}", "outcome": "unparsed", "error": str(pulled.error)})
        err.print(f"the marketplace's payload for {safe(ref)} does not parse: {safe(pulled.error)}",
                  highlight=False)
        raise click.exceptions.Exit(1)
    with store.transaction() as session:
        result = upsert_pulled(session, pulled.order, pulled.raw)
    if as_json:
        event = result.event
        print_json({"id": result.order_id, "order": f"{account}:{external_id}", "outcome": str(result.outcome),
                    "status": str(event.to_status) if event else None,
                    "status_outcome": str(event.outcome) if event else None})
        return
    out.print(f"order {result.order_id} ({safe(account)}:{safe(external_id)}): {result.outcome}"
              + (f", status {result.event.to_status} ({result.event.outcome})" if result.event else ""))


@cli.command("remap")
@account_option()
@json_option
@pass_context
def remap_cmd(c: Context, accounts: tuple[str, ...], as_json: bool) -> None:
    """Re-derive canonical statuses from the stored raw payloads, after a mapping change. No network.

    Changes go through the lifecycle: one that would move an order back is recorded and flagged for review."""
    chosen = [c.settings.account(n) for n in accounts] or c.settings.accounts
    store = c.store()
    results = {}
    with progress() as bar:
        for account in chosen:
            task = bar.add_task(f"remap {account.name}", total=None, info="")
            results[account.name] = remap_account(store, account.name, raw_mapper(account),
                                                  on_order=lambda t=task: bar.advance(t))
    if as_json:
        print_json({name: {"checked": r.checked, "changed": r.changed, "unparsed": r.unparsed}
                    for name, r in results.items()})
        return
    for name, r in results.items():
        out.print(f"{name}: {r.checked} order(s) checked, {len(r.changed)} changed, {len(r.unparsed)} unparsed")
        for line in r.changed + r.unparsed:
            out.print(f"  {plain(line)}", markup=False, highlight=False)  # quotes the marketplace's statuses
