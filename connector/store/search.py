"""Reading the store for the web page (connector/web): order search, and the few counts an overview needs.

Beside connector/store/queries.py, not in it: the same shapes (``OrderSummary``), read the same way, so the page
stays a face over the store and holds no SQL of its own.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from connector.domain import SHIPMENT_TERMINAL
from connector.store.queries import OrderSummary, _latest_shipments
from connector.store.tables import CommandRow, OrderRow, QuarantineRow, ShipmentRow

SEARCH_MAX = 100  # characters of search text looked at; an order number, a TTN or a name is far shorter


def _like(text: str) -> str:
    """``text`` as a LIKE pattern that matches it anywhere, its own ``%`` and ``_`` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matcher(session: Session):
    """``like(column, text)``: ``text`` anywhere in the column, ignoring case in every alphabet. PostgreSQL's
    ILIKE folds Cyrillic by itself; SQLite's LIKE folds ASCII only, so there both sides are case-folded by Python
    (a function registered on the connection, which costs nothing to register again)."""
    if session.get_bind().dialect.name != "sqlite":
        return lambda column, text: column.ilike(_like(text), escape="\\")
    raw = session.connection().connection.dbapi_connection
    raw.create_function("connector_casefold", 1, lambda v: v.casefold() if isinstance(v, str) else v,
                        deterministic=True)
    return lambda column, text: sa.func.connector_casefold(column).like(_like(text.casefold()), escape="\\")


def search_orders(session: Session, *, text: str = "", account: str | None = None, status: str | None = None,
                  needs_review: bool | None = None, limit: int = 100) -> list[OrderSummary]:
    """Orders, newest change first, like ``list_orders``; ``text`` (case-insensitive, anywhere in the value)
    matches the marketplace's order number, any of the order's TTNs, or the buyer's name, phone or e-mail.
    A phone is also matched on its digits alone, so ``067 123`` finds ``+380671234567``."""
    o = OrderRow
    query = select(o).order_by(o.changed_at.desc(), o.id.desc()).limit(limit)
    if account:
        query = query.where(o.account == account)
    if status:
        query = query.where(o.status == status)
    if needs_review is not None:
        query = query.where(o.needs_review == needs_review)
    text = " ".join((text or "").split())[:SEARCH_MAX]
    if text:
        like = _matcher(session)
        ttn = "".join(text.split())  # a TTN is written with spaces as often as without
        s = ShipmentRow
        matches = [like(o.external_id, text), like(o.buyer_name, text), like(o.buyer_email, text),
                   like(o.buyer_phone, text), select(s.id).where(s.order_id == o.id, like(s.ttn, ttn)).exists()]
        digits = "".join(ch for ch in text if ch.isdigit())
        if len(digits) >= 3 and len(digits) >= len(text.replace(" ", "")) - 4:  # a phone, however written
            bare = o.buyer_phone
            for ch in (" ", "-", "(", ")", "+", "."):
                bare = sa.func.replace(bare, ch, "")
            matches.append(bare.like(_like(digits), escape="\\"))
        query = query.where(sa.or_(*matches))
    orders = session.exec(query).all()
    shipments = _latest_shipments(session, [x.id for x in orders])
    return [OrderSummary(x, shipments.get(x.id)) for x in orders]


def status_counts(session: Session) -> dict[str, Counter]:
    """Marketplace → orders by canonical status."""
    o = OrderRow
    counts: dict[str, Counter] = {}
    for marketplace, status, n in session.exec(select(o.marketplace, o.status, sa.func.count())
                                               .group_by(o.marketplace, o.status)).all():
        counts.setdefault(marketplace, Counter())[status] = n
    return dict(sorted(counts.items()))


def accounts_seen(session: Session) -> list[str]:
    """Every account the store holds orders of."""
    return list(session.exec(select(OrderRow.account).distinct().order_by(OrderRow.account)).all())


def carrier_checks(session: Session) -> dict[str, dict]:
    """Carrier → when a parcel of it was last looked at (``last_checked``), how many of its parcels are still on
    their way (``open``), and how many of those are not tracked (``not_tracked``, with one reason why)."""
    s = ShipmentRow
    terminal = [x.value for x in SHIPMENT_TERMINAL]
    open_ = sa.case((s.status.not_in(terminal), 1), else_=0)
    untracked = sa.case((sa.and_(s.status.not_in(terminal), s.not_tracked != ""), 1), else_=0)
    rows = session.exec(select(s.carrier, sa.func.max(s.checked_at), sa.func.sum(open_), sa.func.sum(untracked),
                               sa.func.max(s.not_tracked))
                        .group_by(s.carrier).order_by(s.carrier)).all()
    return {carrier: {"last_checked": _aware(last), "open": int(n or 0), "not_tracked": int(u or 0),
                      "why": why if u else ""}
            for carrier, last, n, u, why in rows}


def _aware(value) -> datetime | None:
    """``max()`` keeps the column's type, so this is already UTC-aware; text or a naive value (a driver that
    bypasses the type) is read as the UTC the store holds."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def attention(session: Session) -> dict[str, int]:
    """What a person may have to act on: orders flagged for review, records in quarantine, commands failed, and
    the commands waiting to be pushed."""
    def count(query) -> int:
        return int(session.exec(query).one())
    c = CommandRow
    return {
        "review": count(select(sa.func.count()).select_from(OrderRow).where(OrderRow.needs_review.is_(True))),
        "quarantined": count(select(sa.func.count()).select_from(QuarantineRow)),
        "failed": count(select(sa.func.count()).select_from(c).where(c.state == "failed")),
        "waiting": count(select(sa.func.count()).select_from(c).where(c.state.in_(("pending", "in_progress")))),
    }
