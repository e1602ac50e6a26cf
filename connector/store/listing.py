"""Reads the HTTP API and the CLI's ``--since`` add to queries.py: order pages by a cursor, orders stored since a
time, accounts with their health. Same row shapes (``OrderSummary.as_json``) as everywhere else."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from connector.domain import utcnow
from connector.logs import redact
from connector.store.accounts import states
from connector.store.queries import OrderSummary, _latest_shipments, filtered
from connector.store.tables import AccountStateRow, OrderRow


def _summaries(session: Session, orders: Sequence[OrderRow]) -> list[OrderSummary]:
    shipments = _latest_shipments(session, [o.id for o in orders])
    return [OrderSummary(o, shipments.get(o.id)) for o in orders]


def orders_since(session: Session, since: datetime, *, account: str | None = None, status: str | None = None,
                 needs_review: bool | None = None, limit: int = 100) -> list[OrderSummary]:
    """Orders the connector stored a new version of after ``since`` (``synced_at``, its own clock), oldest first:
    the order to poll them in (docs/erp-contract.md; the feed is the exact way)."""
    query = filtered(select(OrderRow), account=account, status=status, needs_review=needs_review, since=since)
    return _summaries(session, session.exec(query.order_by(OrderRow.synced_at, OrderRow.id).limit(limit)).all())


@dataclass(frozen=True, slots=True)
class OrderPage:
    orders: list[OrderSummary]
    next_cursor: str | None  # None: this was the last page


def order_page(session: Session, *, cursor: str | None = None, account: str | None = None,
               status: str | None = None, needs_review: bool | None = None, since: datetime | None = None,
               limit: int = 100) -> OrderPage:
    """One page of orders, newest id first. The cursor is the last id shown: ids never change, so paging through
    shows each matching order once, however the orders change meanwhile (a cursor over ``changed_at`` would
    skip an order that changed between two pages)."""
    query = filtered(select(OrderRow), account=account, status=status, needs_review=needs_review, since=since)
    if cursor:
        query = query.where(OrderRow.id < parse_cursor(cursor))
    rows = session.exec(query.order_by(OrderRow.id.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return OrderPage(_summaries(session, rows), str(rows[-1].id) if more and rows else None)


def parse_cursor(cursor: str) -> int:
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 10:
        raise ValueError(f"{cursor[:20]!r} is not a cursor this API gave")
    return int(cursor)


@dataclass(frozen=True, slots=True)
class AccountHealth:
    name: str
    marketplace: str
    enabled: bool
    state: AccountStateRow | None
    stale_after: timedelta
    now: datetime

    @property
    def paused(self) -> bool:
        return bool(self.state and self.state.paused_until and self.state.paused_until > self.now)

    @property
    def ok(self) -> bool:
        """Pulled successfully within ``stale_after`` and not paused: what the daemon's /healthz says of it."""
        last = self.state.last_pull_ok_at if self.state else None
        return self.enabled and not self.paused and last is not None and self.now - last <= self.stale_after

    def as_json(self) -> dict:
        s = self.state
        iso = lambda v: v.isoformat() if v else None  # noqa: E731
        return {"name": self.name, "marketplace": self.marketplace, "enabled": self.enabled, "ok": self.ok,
                "last_pull_at": iso(s.last_pull_at) if s else None,
                "last_pull_ok_at": iso(s.last_pull_ok_at) if s else None,
                "failures": s.failures if s else 0,
                # a marketplace's refusal can name the seller's login: redacted as the logs are
                "last_error": redact(s.last_error) if s else "",
                "paused_until": iso(s.paused_until) if self.paused else None,
                "paused_reason": redact(s.paused_reason) if self.paused and s else ""}


def account_health(session: Session, accounts: Sequence[tuple[str, str, bool]], *, stale_after: timedelta,
                   now: datetime | None = None) -> list[AccountHealth]:
    """The configured accounts ``(name, marketplace, enabled)`` with their run state from ``account_state``."""
    now = now or utcnow()
    known = states(session)
    return [AccountHealth(name, marketplace, enabled, known.get(name), stale_after, now)
            for name, marketplace, enabled in accounts]
