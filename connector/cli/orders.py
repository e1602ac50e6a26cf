"""``connector orders`` and ``connector order show``: what the store holds."""

from __future__ import annotations

import time
from datetime import timedelta

import click
from rich.table import Table

from adapters import CARRIERS
from connector.cli.app import (
    DURATION,
    ID_MAX,
    ORDER_REF,
    Context,
    account_option,
    cli,
    err,
    json_option,
    local_time,
    out,
    pass_context,
    print_json,
    safe,
)
from connector.cli.events import SINCE
from connector.domain import CancelReason, Status
from connector.store.listing import orders_since
from connector.store.queries import list_orders, order_detail
from connector.store.tables import CommandRow
from connector.sync.intake import submit


@cli.command("orders")
@account_option()
@click.option("--status", type=click.Choice([s.value for s in Status]), help="Only this canonical status.")
@click.option("--review", is_flag=True, help="Only orders flagged for review.")
@click.option("--limit", type=click.IntRange(min=1, max=ID_MAX, clamp=True), default=100, show_default=True,
              help="At most this many, newest change first.")
@click.option("--since", type=SINCE, help="Only orders stored after TIME (synced_at), oldest first.")
@json_option
@pass_context
def orders_cmd(c: Context, accounts: tuple[str, ...], status: str | None, review: bool, limit: int, since,
               as_json: bool) -> None:
    """List orders, newest change first: canonical status beside the marketplace's own."""
    with c.store().reading() as session:
        rows = (orders_since if since else list_orders)(
            session, *([since] if since else []), account=list(accounts), status=status,
            needs_review=True if review else None, limit=limit)
    if as_json:
        print_json([r.as_json() for r in rows])
        return
    if not rows:
        out.print("no orders match" if accounts or status or review else "no orders in the store yet")
        return
    table = Table(title=f"{len(rows)} order(s)")
    for col in ("id", "account", "order", "status", "marketplace status", "payment", "TTN", "shipment",
                "total", "changed"):
        table.add_column(col, justify="right" if col in ("id", "total") else "left")
    for r in rows:
        o, s = r.order, r.shipment
        table.add_row(
            str(o.id), safe(o.account), safe(o.external_id), o.status + (" ⚑" if o.needs_review else ""),
            safe(f"{o.marketplace_status} {o.marketplace_status_label}"), o.payment_status,
            safe(s.ttn) if s else "", s.status if s else "", f"{o.total} {safe(o.currency)}",
            local_time(o.changed_at),
        )
    out.print(table)


@cli.group("order")
def order() -> None:
    """One order: show it, or ask its marketplace for a change (queued in the outbox, pushed by the daemon).

    REF is the canonical id (42) or account:external_id (rozetka-main:248888186)."""


@order.command("show")
@click.argument("ref", type=ORDER_REF)
@json_option
@pass_context
def order_show(c: Context, ref: str, as_json: bool) -> None:
    """One order in full: lines, shipments, the status timeline, and its queued commands."""
    with c.store().reading() as session:
        detail = order_detail(session, ref)
    data = detail.as_json()
    if as_json:
        print_json(data)
        return
    e = safe  # everything below came from a marketplace or a carrier: printed as text, never as markup
    out.print(f"[bold]order {data['id']}[/]  {e(data['account'])}:{e(data['external_id'])}  ({data['marketplace']})")
    out.print(f"status {data['status']}  ·  marketplace {e(data['marketplace_status'])} "
              f"{e(data['marketplace_status_label'])}  ·  payment {data['payment_status']}"
              + (f"  ·  cancel reason {data['cancel_reason']}" if data["cancel_reason"] else ""))
    if data["needs_review"]:
        out.print(f"[yellow]needs review:[/] {e(data['review_reason'])}")
    out.print(f"total {data['total']} {e(data['currency'])}  ·  created {data['created_at']}  ·  "
              f"changed {data['changed_at']}"
              + (f"  ·  returns until {data['return_deadline']}" if data["return_deadline"] else ""))
    lines = Table(title="lines")
    for col in ("sku", "item", "name", "qty", "unit price"):
        lines.add_column(col)
    for line in data["lines"]:
        lines.add_row(e(line["sku"]), e(line["marketplace_item_id"]), e(line["name"]), str(line["quantity"]),
                      line["unit_price"])
    out.print(lines)
    for s in data["shipments"]:
        parcel = Table(title=f"parcel {e(s['ttn'])} ({e(s['carrier'])}): {s['status']}"
                       + (f" · not tracked: {e(s['not_tracked'])}" if s["not_tracked"] else "")
                       + (f" · free storage until {s['storage_until']}" if s["storage_until"] else ""))
        for col in ("when (UTC)", "status", "carrier code", "carrier says", "where"):
            parcel.add_column(col)
        for ev in s["events"]:
            parcel.add_row((ev["occurred_at"] or "")[:19], ev["status"], e(ev["code"]), e(ev["text"]), e(ev["place"]))
        if not s["events"]:
            parcel.add_row("", s["status"], e(s["carrier_status_code"]), e(s["carrier_status_text"]), "")
        out.print(parcel)
    timeline = Table(title="history")
    for col in ("recorded (UTC)", "actor", "from", "to", "outcome", "marketplace", "comment"):
        timeline.add_column(col)
    for h in data["history"]:
        timeline.add_row(h["recorded_at"][:19], e(h["actor"]), h["from"] or "", h["to"], h["outcome"],
                         e(f"{h['marketplace_status']} {h['marketplace_status_label']}".strip()), e(h["comment"]))
    out.print(timeline)


def _queue(c: Context, ref: str, kind: str, payload: dict, wait: bool, timeout: timedelta, key: str | None,
           as_json: bool) -> None:
    """Validate the command, write it to the outbox (once per idempotency key), and optionally wait for its push."""
    store = c.store()
    with store.transaction() as session:
        row, queued = submit(session, ref, kind, payload, requested_by="cli", key=key)
        command_id, order_ref = queued.row.id, f"{row.account}:{row.external_id}"
    if not as_json:
        verb = "queued" if queued.created else "already queued"
        out.print(f"{verb}: command {command_id} ({kind}) for order {row.id} {safe(order_ref)}")
    state = queued.row
    if wait:
        deadline = time.monotonic() + timeout.total_seconds()
        with err.status(f"waiting for command {command_id} to be pushed (needs `connector run`)"):
            while True:
                with store.reading() as session:
                    state = session.get(CommandRow, command_id)
                if state.state in ("done", "failed", "cancelled") or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
    if as_json:
        print_json({"id": command_id, "order": order_ref, "kind": kind, "state": state.state,
                    "created": queued.created, "result": state.result, "last_error": state.last_error,
                    "hint": state.hint})
    elif wait:
        # the marketplace's own words: text, not markup
        detail = state.result if state.state == "done" else f"{state.last_error} {state.hint}".strip()
        out.print(f"command {command_id}: {state.state}" + (f": {safe(detail)}" if detail else ""))
    if wait and state.state != "done":
        if state.state not in ("failed", "cancelled"):
            err.print(f"still {state.state} after {timeout.total_seconds():.0f} s: is `connector run` running? "
                      "(`connector sync --once` pushes by hand)")
        raise click.exceptions.Exit(1)


KEY_MAX = CommandRow.__table__.c.idempotency_key.type.length


def _check_key(_ctx: click.Context, _param: click.Parameter, key: str | None) -> str | None:
    """A key the outbox cannot hold is a usage error now, before anything is written (PostgreSQL would refuse
    the insert; SQLite would keep it whole)."""
    if key is not None and len(key) > KEY_MAX:
        raise click.BadParameter(f"a key of {len(key)} characters; at most {KEY_MAX}")
    if key is not None and not key.isprintable():
        raise click.BadParameter("control characters in the key; use letters, digits and punctuation")
    return key


def command_options(fn):
    fn = click.option("--key", callback=_check_key, metavar="TEXT",
                      help=f"Your own idempotency key (e.g. an ERP document id, at most {KEY_MAX} "
                           "characters): the same key queues once.")(fn)
    fn = click.option("--timeout", type=DURATION, default="120s", show_default=True,
                      help="How long --wait waits: 30s, 5m, 2h.")(fn)
    fn = click.option("--wait", is_flag=True, help="Wait until the command is pushed; exit 1 unless it succeeds.")(fn)
    fn = json_option(fn)
    fn = click.argument("ref", type=ORDER_REF)(fn)
    return pass_context(fn)


def _status_command(name: str, kind: str, doc: str) -> None:
    """The status commands that take nothing but an optional comment."""
    @order.command(name, help=doc)
    @click.option("--comment", default="", help="A note that goes with the status change.")
    @command_options
    def command(c, ref, comment, wait, timeout, key, as_json):
        _queue(c, ref, kind, {"comment": comment}, wait, timeout, key, as_json)


_status_command("accept", "accept", 'Acknowledge a new order (Rozetka 26 "being processed by the manager").')
_status_command("start-processing", "start_processing", "Terms agreed, picking and packing (Rozetka 2, Chopni "
                "PROCESSING).")
_status_command("complete", "complete", "Mark the order fulfilled.")


@order.command("ship")
@click.option("--ttn", required=True, help="The carrier's tracking number, e.g. 20450000000000.")
@click.option("--carrier", default=None, metavar="NAME",
              help=f"Who carries the parcel: {', '.join(sorted(CARRIERS))} (tracked), or another name (not "
                   "tracked). By default the carrier whose number format the TTN has, among the marketplace's "
                   "country's carriers. A TTN not of its carrier's format is refused.")
@click.option("--comment", default="", help="A note that goes with the status change.")
@command_options
def order_ship(c, ref, ttn, carrier, comment, wait, timeout, key, as_json):
    """Hand the parcel to the carrier with its TTN (Rozetka walks 26 → 61 as needed)."""
    _queue(c, ref, "ship", {"ttn": ttn, "carrier": carrier, "comment": comment}, wait, timeout, key, as_json)


@order.command("cancel")
@click.option("--reason", required=True, type=click.Choice([r.value for r in CancelReason]),
              help="Why; the marketplace's cancellation status follows from it.")
@click.option("--comment", default="", help="A note that goes with the cancellation.")
@click.option("--duplicate-of", default="", help="With --reason duplicate: the id of the order this one repeats.")
@command_options
def order_cancel(c, ref, reason, comment, duplicate_of, wait, timeout, key, as_json):
    """Cancel an order that has not shipped."""
    _queue(c, ref, "cancel", {"reason": reason, "comment": comment, "duplicate_of": duplicate_of}, wait, timeout,
           key, as_json)


@order.command("refund")
@click.option("--comment", "--note", "note", required=True, help="What was refunded and how.")
@command_options
def order_refund(c, ref, note, wait, timeout, key, as_json):
    """Record a refund (where the marketplace has a refund status)."""
    _queue(c, ref, "refund", {"note": note}, wait, timeout, key, as_json)


@order.command("exchange")
@click.option("--comment", "--note", "note", required=True, help="What the goods were exchanged for.")
@command_options
def order_exchange(c, ref, note, wait, timeout, key, as_json):
    """Record an exchange (where the marketplace has one)."""
    _queue(c, ref, "exchange", {"note": note}, wait, timeout, key, as_json)


@order.command("comment")
@command_options
@click.argument("text")
def order_comment(c, ref, text, wait, timeout, key, as_json):
    """Add a seller comment to the order's history on the marketplace."""
    _queue(c, ref, "comment", {"text": text}, wait, timeout, key, as_json)


@order.command("message")
@command_options
@click.argument("text")
def order_message(c, ref, text, wait, timeout, key, as_json):
    """Send the buyer a message through the marketplace's order chat."""
    _queue(c, ref, "message_buyer", {"text": text}, wait, timeout, key, as_json)
