"""Track parcels: ask each carrier about every parcel still on its way, in the largest batches its API allows, and
let what it says move the orders on (connector/domain/tracking.py).

- Due parcels only: never asked, or their next look has come; parcels that stand still are asked less often. With
  nothing due, no request is made at all; N due parcels of one carrier cost ceil(N / batch_size) requests.
- A carrier that is not configured, or whose login is refused, tracks nothing: its parcels say why
  (``shipments.not_tracked``), the run goes on with the other carriers, and nothing fails a sync.
- Each batch is written in one transaction with the rules it triggered (status changes, commands for the outbox,
  alerts), so a crash leaves either all of it or none; the next run then asks again and finds what is left to do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, select

from adapters.base import CarrierAdapter, Parcel, ParcelReport
from adapters.routing import route
from connector.domain import Actor, ShipmentStatus, Status, build_command, utcnow
from connector.domain.tracking import (
    CarrierEvent,
    TrackingRules,
    consequence,
    next_check,
    return_deadline,
    storage_ends_soon,
)
from connector.errors import AuthError, CommandInvalid, ConnectorError, describe
from connector.logs import bound_contextvars, get_logger
from connector.store import Store
from connector.store.commands import enqueue
from connector.store.orders import ConcurrentUpdate, propose
from connector.store.shipments import DueParcel, ReportWriter, due, mark_not_tracked, set_return_deadlines
from connector.store.tables import OrderRow

log = get_logger(__name__)

@dataclass
class TrackSummary:
    due: int = 0  # parcels that were due
    asked: dict[str, int] = field(default_factory=dict)  # carrier → parcels asked about
    requests: dict[str, int] = field(default_factory=dict)  # carrier → requests made
    changed: int = 0  # parcels whose carrier said something new
    moved: list[str] = field(default_factory=list)  # "account:id: rule → status"
    commands: list[str] = field(default_factory=list)  # "account:id: kind" queued for the marketplace
    alerts: list[str] = field(default_factory=list)
    not_tracked: dict[str, str] = field(default_factory=dict)  # carrier → why its parcels are not tracked
    errors: dict[str, str] = field(default_factory=dict)  # carrier → why this run failed it

    @property
    def ok(self) -> bool:
        return not self.errors


def track_parcels(store: Store, carriers: Mapping[str, CarrierAdapter | str],
                  rules: Callable[[str], TrackingRules], *, every: timedelta, accounts: list[str] | None = None,
                  stop: threading.Event | None = None, now: Callable[[], datetime] = utcnow,
                  on_batch: Callable[[TrackSummary], None] | None = None) -> TrackSummary:
    """One tracking run. ``carriers`` maps each carrier to its adapter, or to the reason it has none (not
    configured, no secret); ``rules`` gives an account's tracking rules; ``every`` is the normal interval."""
    summary = TrackSummary()
    with store.reading() as session:
        parcels = due(session, now(), accounts=accounts)
    summary.due = len(parcels)
    by_carrier: dict[str, list[DueParcel]] = {}
    unroutable: dict[str, list[int]] = {}
    for parcel in parcels:
        carrier, why = route(parcel.carrier, parcel.ttn, parcel.marketplace)
        if carrier is None:
            unroutable.setdefault(why, []).append(parcel.shipment_id)
        else:
            by_carrier.setdefault(carrier, []).append(parcel)
    with store.transaction() as session:
        for why, ids in unroutable.items():
            mark_not_tracked(session, ids, why, now() + every)
        for carrier, group in by_carrier.items():
            adapter = carriers.get(carrier)
            if not isinstance(adapter, str) and adapter is not None:
                continue
            reason = adapter or f"{carrier} is not configured: add carriers.{carrier} to the configuration"
            summary.not_tracked[carrier] = reason
            mark_not_tracked(session, [p.shipment_id for p in group], reason, now() + every)
    for carrier, group in by_carrier.items():
        adapter = carriers.get(carrier)
        if adapter is None or isinstance(adapter, str):
            continue
        with bound_contextvars(carrier=carrier, job="track"):
            _track_carrier(store, adapter, group, rules, every, summary, stop, now, on_batch)
    log.info("tracking done", due=summary.due, requests=sum(summary.requests.values()), changed=summary.changed,
             moved=len(summary.moved), alerts=len(summary.alerts))
    return summary


def _track_carrier(store: Store, adapter: CarrierAdapter, group: list[DueParcel],
                   rules: Callable[[str], TrackingRules], every: timedelta, summary: TrackSummary,
                   stop: threading.Event | None, now: Callable[[], datetime],
                   on_batch: Callable[[TrackSummary], None] | None) -> None:
    name = adapter.carrier
    for start in range(0, len(group), adapter.batch_size):
        if stop is not None and stop.is_set():
            return
        batch = group[start:start + adapter.batch_size]
        summary.requests[name] = summary.requests.get(name, 0) + 1
        try:
            reports = adapter.track([Parcel(p.ttn, p.phone) for p in batch])
        except AuthError as exc:
            reason = f"{name} refused the login: {exc.message}"
            log.error("ALERT carrier login refused; its parcels are not tracked", reason=exc.message, hint=exc.hint)
            summary.not_tracked[name] = reason
            with store.transaction() as session:
                mark_not_tracked(session, [p.shipment_id for p in group], reason, now() + every)
            return
        except ConnectorError as exc:
            summary.errors[name] = describe(exc)  # the parcels stay due: the next run asks again
            log.error("tracking failed; asked again next run", error=describe(exc))
            return
        summary.asked[name] = summary.asked.get(name, 0) + len(batch)
        for attempt in range(3):
            try:
                _write_batch(store, name, batch, reports, rules, every, summary, now())
                break
            except ConcurrentUpdate:  # a pull wrote one of these orders meanwhile: the reports are still good
                if attempt == 2:
                    raise
        if on_batch is not None:
            on_batch(summary)


def _write_batch(store: Store, carrier: str, batch: list[DueParcel], reports: Mapping[str, ParcelReport],
                 rules: Callable[[str], TrackingRules], every: timedelta, summary: TrackSummary,
                 moment: datetime) -> None:
    """The batch's reports and what they cause, in one transaction and a few statements whatever its size: the
    shipments, their orders and their timelines are read at once, new events and shipments written at once."""
    done = TrackSummary()  # this batch's part, added to the run's only once it is committed
    with store.transaction() as session:
        writer = ReportWriter(session, [p.shipment_id for p in batch], now=moment)
        answered = [(parcel, _report(reports, parcel.ttn)) for parcel in batch
                    if writer.shipment(parcel.shipment_id) is not None]
        # Before the orders are read, so that a rule's versioned update below sees the version this moved.
        set_return_deadlines(session, _return_deadlines(answered, rules))
        orders = _orders(session, {parcel.order_id for parcel, _ in answered})
        for parcel, report in answered:
            order, account_rules = orders[parcel.order_id], rules(parcel.account)
            ref = f"{order.account}:{order.external_id}"
            _record(writer, carrier, parcel, report, ref, account_rules, every, moment, done)
            _apply_rules(session, writer, report, order, ref, account_rules, moment, done)
        writer.write()
    summary.changed += done.changed
    summary.moved += done.moved
    summary.commands += done.commands
    summary.alerts += done.alerts
    for line in done.moved:
        log.info("order moved by its parcel", change=line)
    for line in done.alerts:
        log.warning("ALERT parcel", alert=line)


def _report(reports: Mapping[str, ParcelReport], ttn: str) -> ParcelReport:
    return reports.get(ttn) or ParcelReport(ttn, ShipmentStatus.NOT_FOUND, "",
                                            "the carrier's answer did not mention this number")


def _return_deadlines(answered: list[tuple[DueParcel, ParcelReport]],
                      rules: Callable[[str], TrackingRules]) -> list[tuple[int, datetime]]:
    deadlines = []
    for parcel, report in answered:
        if report.status is ShipmentStatus.DELIVERED and report.delivered_at:
            deadline = return_deadline(report.delivered_at, rules(parcel.account))
            if deadline is not None:
                deadlines.append((parcel.order_id, deadline))
    return deadlines


def _orders(session: Session, ids: set[int]) -> dict[int, OrderRow]:
    """The batch's orders in one statement; they stay in the session, where ``propose`` and ``enqueue`` find them."""
    return {row.id: row for row in session.exec(select(OrderRow).where(OrderRow.id.in_(list(ids)))).all()}


def _record(writer: ReportWriter, carrier: str, parcel: DueParcel, report: ParcelReport, ref: str,
            rules: TrackingRules, every: timedelta, moment: datetime, done: TrackSummary) -> None:
    last_change = writer.shipment(parcel.shipment_id).carrier_updated_at
    # The carrier it was routed to by its number's format is stored: the ERP sees the carrier now.
    result = writer.record(parcel.shipment_id, report, carrier=carrier,
                           next_check_at=next_check(moment, every, report.updated_at or last_change))
    done.changed += result.changed
    if storage_ends_soon(report.storage_until, moment, rules):
        until = report.storage_until
        text = f"free storage ends {until.isoformat(timespec='minutes')}: the buyer should collect it"
        if writer.note(parcel.shipment_id, CarrierEvent("storage_ends", text, ShipmentStatus.READY_FOR_PICKUP, until)):
            done.alerts.append(f"{ref}: parcel {parcel.ttn}: {text}")


def _apply_rules(session: Session, writer: ReportWriter, report: ParcelReport, order: OrderRow, ref: str,
                 rules: TrackingRules, moment: datetime, done: TrackSummary) -> None:
    """The tracking rules for one report: a proposal through the lifecycle, and the command it may queue."""
    then = consequence(Status(order.status), order.progress, report.status, rules)
    if then is None:
        return
    writer.journal()  # the parcel's news is in the feed before the move it causes, as when each was written at once
    event = propose(session, order.id, then.status, actor=Actor.AUTOMATION,
                    comment=f"rule '{then.rule}': {report.text or report.status}".strip(),
                    occurred_at=report.updated_at, now=moment)
    if event is not None and event.outcome.applied:
        done.moved.append(f"{ref}: {then.rule} → {then.status}")
    if then.command is None:
        return
    session.refresh(order)
    try:
        queued = enqueue(session, order, build_command(then.command.value), requested_by="automation",
                         key=f"automation:{then.command.value}:{order.id}")
    except CommandInvalid as exc:
        done.alerts.append(f"{ref}: rule '{then.rule}' could not queue {then.command}: {exc.message}")
    else:
        if queued.created:
            done.commands.append(f"{ref}: {then.command}")
