"""``connector orders`` and ``connector order show``: what the store holds."""

from __future__ import annotations

import click
from rich.table import Table

from connector.cli.app import Context, cli, json_option, out, pass_context, print_json
from connector.domain import Status
from connector.store.queries import list_orders, order_detail


@cli.command("orders")
@click.option("--account", help="Only this account.")
@click.option("--status", type=click.Choice([s.value for s in Status]), help="Only this canonical status.")
@click.option("--review", is_flag=True, help="Only orders flagged for review.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True,
              help="At most this many, newest change first.")
@json_option
@pass_context
def orders_cmd(c: Context, account: str | None, status: str | None, review: bool, limit: int,
               as_json: bool) -> None:
    """List orders, newest change first: canonical status beside the marketplace's own."""
    with c.store().transaction() as session:
        rows = list_orders(session, account=account, status=status, needs_review=True if review else None,
                           limit=limit)
    if as_json:
        print_json([r.as_json() for r in rows])
        return
    if not rows:
        out.print("no orders match" if account or status or review else "no orders in the store yet")
        return
    table = Table(title=f"{len(rows)} order(s)")
    for col in ("id", "account", "order", "status", "marketplace status", "payment", "TTN", "shipment",
                "total", "changed (UTC)"):
        table.add_column(col, justify="right" if col in ("id", "total") else "left")
    for r in rows:
        o, s = r.order, r.shipment
        table.add_row(
            str(o.id), o.account, o.external_id, o.status + (" ⚑" if o.needs_review else ""),
            f"{o.marketplace_status} {o.marketplace_status_label}".strip(), o.payment_status,
            s.ttn if s else "", s.status if s else "", f"{o.total} {o.currency}",
            o.changed_at.strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)


@cli.group("order")
def order() -> None:
    """One order. REF is its canonical id (42) or account:external_id (rozetka-main:248888186)."""


@order.command("show")
@click.argument("ref")
@json_option
@pass_context
def order_show(c: Context, ref: str, as_json: bool) -> None:
    """One order in full: lines, shipments, the status timeline, and its queued commands."""
    with c.store().transaction() as session:
        detail = order_detail(session, ref)
    data = detail.as_json()
    if as_json:
        print_json(data)
        return
    out.print(f"[bold]order {data['id']}[/]  {data['account']}:{data['external_id']}  ({data['marketplace']})")
    out.print(f"status {data['status']}  ·  marketplace {data['marketplace_status']} "
              f"{data['marketplace_status_label']}  ·  payment {data['payment_status']}"
              + (f"  ·  cancel reason {data['cancel_reason']}" if data["cancel_reason"] else ""))
    if data["needs_review"]:
        out.print(f"[yellow]needs review:[/] {data['review_reason']}")
    out.print(f"total {data['total']} {data['currency']}  ·  created {data['created_at']}  ·  "
              f"changed {data['changed_at']}")
    lines = Table(title="lines")
    for col in ("sku", "item", "name", "qty", "unit price"):
        lines.add_column(col)
    for line in data["lines"]:
        lines.add_row(line["sku"], line["marketplace_item_id"], line["name"], str(line["quantity"]),
                      line["unit_price"])
    out.print(lines)
    if data["shipments"]:
        ships = Table(title="shipments")
        for col in ("carrier", "TTN", "status", "carrier says"):
            ships.add_column(col)
        for s in data["shipments"]:
            ships.add_row(s["carrier"], s["ttn"], s["status"],
                          f"{s['carrier_status_code']} {s['carrier_status_text']}".strip())
        out.print(ships)
    timeline = Table(title="history")
    for col in ("recorded (UTC)", "actor", "from", "to", "outcome", "marketplace", "comment"):
        timeline.add_column(col)
    for h in data["history"]:
        timeline.add_row(h["recorded_at"][:19], h["actor"], h["from"] or "", h["to"], h["outcome"],
                         f"{h['marketplace_status']} {h['marketplace_status_label']}".strip(), h["comment"])
    out.print(timeline)
