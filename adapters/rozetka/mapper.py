"""A Rozetka order payload → the canonical order. Pure: a dict in, an Order (or a PayloadError) out.

Times are Kyiv wall-clock strings ("2019-12-17 17:34:58") and become UTC here, once. Money arrives as decimal
strings and stays Decimal. Buyer data is kept to the minimum an ERP needs to recognise the order.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from adapters.base import PulledOrder, nested_object, pulled_without_raising
from connector.domain import (
    Buyer,
    MarketplaceStatus,
    Order,
    OrderKey,
    OrderLine,
    PaymentStatus,
    Shipment,
    Status,
)
from connector.domain.limits import check_amount, check_order, check_quantity, clean_text, ttn_problem
from connector.errors import PayloadError
from mappings import Vocabulary

# Shared with the other JSON marketplaces (adapters/base.py): text cleaned the same way, optional sub-objects read
# the same way.
_text = clean_text
_object = nested_object

KYIV = ZoneInfo("Europe/Kyiv")
CURRENCY = "UAH"  # Rozetka sells in hryvnia only; the payload carries no currency field

# delivery.name_logo → our carrier code. Only values the apiDoc's examples show: "nova-pochta" (Новая Почта) and
# "octopus" ("Видача у ROZETKA", which a public client also saw live as ROZETKA Delivery). Any other value is kept
# raw on the shipment and the order is flagged: a guessed name would send the parcel to the wrong tracker.
CARRIERS = {"nova-pochta": "novaposhta", "octopus": "rozetka"}

PURCHASE_REMOVED = 0  # purchases[].status: 1 current, 2 returned by buyer, 0 removed while editing


_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def from_kyiv(value: str, field: str) -> datetime:
    # The pattern, then fromisoformat: what strptime accepted, at a tenth of its cost (two per order, every page).
    try:
        text = value.strip()[:19]
        if not _TIMESTAMP.fullmatch(text):
            raise ValueError(text)
        naive = datetime.fromisoformat(text)
    except (AttributeError, ValueError):
        raise PayloadError(f"{field} {value!r} is not a Rozetka timestamp (YYYY-MM-DD HH:MM:SS)") from None
    return naive.replace(tzinfo=KYIV).astimezone(UTC)


def to_kyiv(value: datetime) -> str:
    """The form Rozetka's *_from / *_to filters take, in Kyiv time."""
    return value.astimezone(KYIV).strftime("%Y-%m-%d %H:%M:%S")


def _money(value: Any, field: str) -> Decimal:
    # Rozetka's own, not shared: its amounts are plain decimal strings, where Prom's are localized price texts with a
    # currency word (adapters/promua/mapper.py: parse_price); the two parsers only look alike.
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise PayloadError(f"{field} {value!r} is not an amount") from None
    if not amount.is_finite():
        raise PayloadError(f"{field} {value!r} is not an amount")
    return check_amount(amount, field)




def _payment(payload: dict, vocabulary: Vocabulary) -> PaymentStatus:
    payment = _object(payload, "payment")
    status = payment.get("payment_status")
    if isinstance(status, dict) and status.get("name"):
        return vocabulary.payment(status["name"])
    # Cash on delivery has no payment status at all (null), by every client's experience.
    if payment.get("payment_type") == "cash":
        return PaymentStatus.CASH_ON_DELIVERY
    return PaymentStatus.UNKNOWN


def _lines(payload: dict) -> list[OrderLine]:
    lines = []
    purchases = payload.get("purchases") or []
    if not isinstance(purchases, list):
        raise PayloadError(f"purchases is a {type(purchases).__name__}, not a list")
    for i, purchase in enumerate(purchases):
        if not isinstance(purchase, dict):
            raise PayloadError(f"purchases[{i}] is a {type(purchase).__name__}, not an object")
        if purchase.get("status") == PURCHASE_REMOVED:
            continue
        item = _object(purchase, "item")
        sku = _text(item.get("price_offer_id")) or _text(item.get("article")) or _text(purchase.get("item_id"))
        quantity = check_quantity(purchase.get("quantity"), f"purchases[{i}].quantity")
        price = purchase.get("price_with_discount") or purchase.get("price")
        lines.append(OrderLine(sku=sku, marketplace_item_id=_text(purchase.get("item_id")),
                               name=_text(purchase.get("item_name") or item.get("name")), quantity=quantity,
                               unit_price=_money(price, f"purchases[{i}].price")))
    return lines


def _buyer(payload: dict) -> Buyer:
    title = _object(payload, "user_title")
    name = _text(title.get("full_name")) or " ".join(
        _text(title.get(k)) for k in ("first_name", "last_name") if title.get(k))
    email = _text(_object(payload, "user").get("email"))
    return Buyer(name=name, phone=_text(payload.get("user_phone")), email=email if "@" in email else "")


def _shipments(payload: dict) -> tuple[list[Shipment], str]:
    """The order's parcel, and what a person should look at ("" when nothing): a TTN that is not one, or a
    carrier name we do not know (kept raw as the shipment's carrier)."""
    ttn = "".join(_text(payload.get("ttn")).split())
    if not ttn:
        return [], ""
    problem = ttn_problem(ttn)
    if problem:
        return [], f"Rozetka's TTN field is not a tracking number ({problem}); check the order in the cabinet"
    logo = _text(_object(payload, "delivery").get("name_logo"))
    if logo and logo not in CARRIERS:
        return [Shipment(carrier=logo, ttn=ttn)], (f"Rozetka names a carrier we do not know "
                                                   f"(delivery.name_logo {logo!r}); check who carries TTN {ttn}")
    return [Shipment(carrier=CARRIERS.get(logo, "unknown"), ttn=ttn)], ""


def to_order(payload: dict, account: str, vocabulary: Vocabulary) -> Order:
    """Map one order payload; raises PayloadError naming the field when the payload does not parse."""
    if not isinstance(payload, dict) or "id" not in payload:
        raise PayloadError("an order without an id")
    code = _text(payload.get("status"))
    rule = vocabulary.rule(code)
    status_data = _object(payload, "status_data")
    shipments, shipment_problem = _shipments(payload)
    label = _text(status_data.get("name_uk") or status_data.get("name") or rule.label)
    order = Order(
        key=OrderKey("rozetka", account, _text(payload["id"])),
        status=rule.status,
        marketplace_status=MarketplaceStatus(code, label),
        currency=CURRENCY,
        total=_money(payload.get("cost_with_discount", payload.get("cost")), "cost_with_discount"),
        created_at=from_kyiv(payload.get("created"), "created"),
        changed_at=from_kyiv(payload.get("changed"), "changed"),
        payment_status=_payment(payload, vocabulary),
        cancel_reason=rule.cancel_reason if rule.status is Status.CANCELLED else None,
        buyer=_buyer(payload),
        lines=_lines(payload),
        shipments=shipments,
        status_after_delivery=rule.after_delivery,  # the store applies it once the order was delivered
    )
    if rule.review:
        order.needs_review, order.review_reason = True, f"Rozetka status {code} {label}: {rule.review}"
    elif shipment_problem:
        order.needs_review, order.review_reason = True, shipment_problem
    return check_order(order)


def pulled(payload: Any, account: str, vocabulary: Vocabulary) -> PulledOrder:
    """Map without raising: a payload that does not parse comes back with its error and its raw text."""
    return pulled_without_raising(payload, lambda p: to_order(p, account, vocabulary), "Rozetka")
