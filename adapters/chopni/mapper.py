"""A Chopni order (its row in the orders table + its order page) → the canonical order. Pure.

The seller's vendor status is the lifecycle status; Chopni's marketplace status says whether the buyer paid. The
tracking number exists only as free text in the SHIPPED history comment, and "refunded" means an exchange when its
comment says so (mappings/chopni.yaml, splits).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from adapters.base import PulledOrder
from adapters.chopni.client import dumps
from adapters.chopni.page import OrderPage, parse_order_page
from connector.domain import (
    Buyer,
    MarketplaceStatus,
    Order,
    OrderKey,
    OrderLine,
    RawPayload,
    Shipment,
    Status,
)
from connector.domain.limits import check_order, clean_text, ttn_problem
from connector.errors import PayloadError
from mappings import Vocabulary

SOFIA = ZoneInfo("Europe/Sofia")  # the panel prints the server's wall-clock time (a Bulgarian shop)

# Carriers a seller names in the SHIPPED comment, and the names the tracking job knows them by.
CARRIERS = {"econt": "econt", "еконт": "econt", "speedy": "speedy", "спиди": "speedy", "nova poshta": "novaposhta",
            "novaposhta": "novaposhta", "нова пошта": "novaposhta", "dhl": "dhl", "ups": "ups", "bulgarian posts":
            "bgpost", "български пощи": "bgpost", "sameday": "sameday", "fan courier": "fancourier"}
_TRACKING = re.compile(r"(?<![\w])([A-Z]{2}\d{9}[A-Z]{2}|\d[\d ]{6,22}\d)(?![\w])")


def tracking(comment: str, shipping_method: str = "") -> tuple[str, str] | None:
    """(carrier, tracking number) from a free-text comment such as 'Tracking: Econt 1057 1234 56', or None. The
    carrier is the one the comment names, else the one the order's shipping method names, else "unknown" (the
    tracking job then goes by the number's format)."""
    match = _TRACKING.search(comment)
    if not match:
        return None
    carrier = _carrier_word(comment) or _carrier_word(shipping_method) or "unknown"
    return carrier, "".join(match.group(1).split())


def _carrier_word(text: str) -> str:
    lowered = text.casefold()
    return next((code for word, code in CARRIERS.items() if word in lowered), "")


def panel_time(value: str | None) -> datetime | None:
    """The panel's Sofia wall-clock times (``YYYY-MM-DD HH:MM:SS`` or a d/m/Y date) → UTC; None if unreadable."""
    if not value:
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%d/%m/%Y"):
        try:
            return datetime.strptime(value.strip(), fmt).replace(tzinfo=SOFIA).astimezone(UTC)
        except ValueError:
            continue
    return None


def buyer_total(page: OrderPage) -> Decimal:
    """What the buyer pays for this seller's part: the lines at the buyer's prices plus the seller's shipping. The
    page's own Total is the seller's net (after the marketplace's commission) plus shipping: that is ``seller_net``."""
    shipping = next((amount for label, amount in page.totals.items() if "shipping" in label), Decimal(0))
    return sum((line.unit_price * line.quantity for line in page.lines), Decimal(0)) + shipping


def current_status(row: dict[str, Any], page: OrderPage) -> tuple[str, str]:
    """(vendor status name, the comment that came with it): the list shows the name, the history the comment."""
    name = str(row.get("suborder_status") or (page.history[-1].status if page.history else "")).strip()
    comment = next((h.comment for h in reversed(page.history) if h.status.casefold() == name.casefold()), "")
    return name, comment


def to_order(row: dict[str, Any], page: OrderPage, account: str, vocabulary: Vocabulary,
             observed_at: datetime) -> Order:
    """``observed_at`` is the order's change time: the panel keeps no time of the seller's own changes (history
    rows show a day, ``date_modified`` moves only with the marketplace's), so a page read later is newer."""
    name, comment = current_status(row, page)
    rule = vocabulary.rule_with_comment(name.casefold(), comment)
    marketplace = page.marketplace_status.strip()
    created = panel_time(row.get("date_added")) or panel_time(page.date_added)
    if created is None:
        raise PayloadError(f"Chopni order {page.order_id}: no readable order date")
    shipments = []
    for h in page.history:  # every tracking number the seller gave, the newest last
        found = tracking(h.comment, page.shipping_method) \
            if vocabulary.rule(h.status.casefold()).status is Status.SHIPPED else None
        if found and not ttn_problem(found[1]) and all(s.ttn != found[1] for s in shipments):
            shipments.append(Shipment(carrier=found[0], ttn=found[1]))
    first, last = clean_text(row.get("firstname")), clean_text(row.get("lastname"))
    order = Order(
        key=OrderKey("chopni", account, page.order_id),
        status=rule.status,
        marketplace_status=MarketplaceStatus(name, f"(marketplace: {marketplace or '?'})"),
        currency=str(row.get("currency_code") or page.currency or "EUR"),
        total=buyer_total(page),
        seller_net=page.total,
        created_at=created,
        changed_at=max(observed_at, created),
        payment_status=vocabulary.payment(marketplace.casefold()),
        cancel_reason=rule.cancel_reason if rule.status is Status.CANCELLED else None,
        buyer=Buyer(name=f"{first} {last}".strip() or clean_text(page.buyer_name),
                    phone=clean_text(row.get("telephone")), email=clean_text(row.get("email"))),
        lines=[OrderLine(sku=line.model, marketplace_item_id=line.product_id, name=line.name,
                         quantity=line.quantity, unit_price=line.unit_price) for line in page.lines],
        shipments=shipments,
    )
    if rule.status is Status.SHIPPED and not shipments:
        order.needs_review = True
        order.review_reason = "SHIPPED without a tracking number in its comment: add it (the manual asks for it)"
    return check_order(order)


def pulled(row: dict[str, Any], page_html: str, account: str, vocabulary: Vocabulary,
           observed_at: datetime) -> PulledOrder:
    """Map without raising: a page that does not parse comes back with its error and the raw row and HTML."""
    order_id = str(row.get("order_id", "")).strip()
    raw = RawPayload(dumps(row, page_html))
    try:
        page = parse_order_page(page_html, order_id)
        return PulledOrder(order_id, raw, to_order(row, page, account, vocabulary, observed_at))
    except PayloadError as exc:
        exc.raw = raw.body
        if not exc.message.startswith("Chopni order"):
            exc.message = f"Chopni order {order_id}: {exc.message}"
        return PulledOrder(order_id, raw, None, exc)
    except Exception as exc:  # noqa: BLE001  pure code over one page: whatever it trips on is that page's
        return PulledOrder(order_id, raw, None, PayloadError(
            f"Chopni order {order_id}: did not map ({type(exc).__name__}: {exc})", raw=raw.body))


def from_raw(raw: RawPayload, account: str, vocabulary: Vocabulary, observed_at: datetime) -> PulledOrder:
    stored = json.loads(raw.body)
    return pulled(stored["list_row"], stored.get("order_page", ""), account, vocabulary, observed_at)

