"""A Prom.ua order payload → the canonical order. Pure: a dict in, an Order (or a PayloadError) out.

Timestamps arrive as ISO-8601 with an offset (``2024-12-23T12:59:51.151722+00:00``, seen live) and become UTC here;
one without an offset is read as Kyiv time (inferred: the platform's local time). Money arrives as localized
strings ("1 234,50 грн", "250 грн", "350.00") and becomes Decimal with the currency the suffix names (UAH when
none: prom.ua sells in hryvnia). Quantities are floats or strings ("1.0", "2 шт.") and must be whole.
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
CURRENCY = "UAH"  # prom.ua: no currency field on orders; the "грн" suffix confirms it (reference §2.3)

# delivery_provider_data.provider → our carrier code. Only the providers we track; any other (justin,
# delivery_auto, meest, rozetka_delivery…) is kept raw on the shipment and the order is flagged.
CARRIERS = {"nova_poshta": "novaposhta", "ukrposhta": "ukrposhta"}

# The currency words Evo's platforms print after a price (prom.ua, satu.kz, prom.md share the schema).
_CURRENCIES = (("грн", "UAH"), ("₴", "UAH"), ("uah", "UAH"), ("тг", "KZT"), ("₸", "KZT"), ("kzt", "KZT"),
               ("лей", "MDL"), ("mdl", "MDL"))
_NUMBER = re.compile(r"^[+-]?[\d.,]+$")
# payment_option.name words that mean cash on delivery (there is no enum: practitioners match words, reference §2.3)
_COD_WORDS = ("наложен", "накладен", "післяплат", "при отриманні", "при получении", "готівкою при")
CUSTOM = "custom-"


def parse_time(value: Any, field: str) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(f"{field} {value!r} is not a timestamp")
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(f"{field} {value!r} is not an ISO-8601 timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=KYIV)
    return moment.astimezone(UTC)


def to_filter(moment: datetime) -> str:
    """The form the *_from / *_to filters take: a naive timestamp (the docs' example is ``2015-04-28T12:50:34``).
    Sent in UTC: whether Prom reads it as UTC or as Kyiv time (not documented), a UTC bound asks from the same
    moment or earlier, never later, so nothing is missed."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_price(value: Any, field: str) -> tuple[Decimal, str | None]:
    """A Prom price → (amount, currency or None when the text names none).

    "1 234,50 грн" (NBSP thousands, decimal comma), "250 грн", "350.00", 350, "1,234.50": the last ``,`` or ``.``
    followed by one or two digits is the decimal point; the other separators group thousands.

    Prom's own, not shared: Rozetka's amounts are plain decimal strings (adapters/rozetka/mapper.py: _money)."""
    if isinstance(value, bool) or value is None:
        raise PayloadError(f"{field} {value!r} is not a price")
    if isinstance(value, (int, float)):
        amount = Decimal(str(value))
        return check_amount(amount, field), None
    if not isinstance(value, str):
        raise PayloadError(f"{field} {value!r} is not a price")
    text = value.casefold()
    currency = None
    for word, code in _CURRENCIES:
        if word in text:
            currency = code
            text = text.replace(word, "")
    text = "".join(ch for ch in text if not ch.isspace()).rstrip(".")
    if not text or not _NUMBER.match(text):
        raise PayloadError(f"{field} {value!r} is not a price")
    last = max(text.rfind(","), text.rfind("."))
    if last >= 0 and 1 <= len(text) - last - 1 <= 2:
        whole, fraction = text[:last], text[last + 1:]
    else:
        whole, fraction = text, ""
    whole = whole.replace(",", "").replace(".", "")
    try:
        amount = Decimal(f"{whole or '0'}.{fraction}" if fraction else whole)
    except InvalidOperation:
        raise PayloadError(f"{field} {value!r} is not a price") from None
    return check_amount(amount, field), currency


def parse_quantity(value: Any, field: str) -> int:
    """1.0, "1.0", 2, "2 шт.": a whole number of units. A fractional quantity (a product sold by weight) does not
    fit the store's lines and is refused by name rather than rounded."""
    if isinstance(value, str):
        match = re.match(r"^\s*(\d+(?:[.,]\d+)?)", value)
        if not match:
            raise PayloadError(f"{field} {value!r} is not a quantity")
        value = match[1].replace(",", ".")
    try:
        number = Decimal(str(value)) if not isinstance(value, bool) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or number != number.to_integral_value():
        raise PayloadError(f"{field} {value!r} is not a whole number of units")
    return check_quantity(int(number), field)




def _money(payload: dict, key: str, currencies: set[str], field: str = "") -> Decimal:
    amount, currency = parse_price(payload.get(key), field or key)
    if currency:
        currencies.add(currency)
    return amount


def _lines(payload: dict, currencies: set[str]) -> list[OrderLine]:
    products = payload.get("products") or []
    if not isinstance(products, list):
        raise PayloadError(f"products is a {type(products).__name__}, not a list")
    lines = []
    for i, product in enumerate(products):
        if not isinstance(product, dict):
            raise PayloadError(f"products[{i}] is a {type(product).__name__}, not an object")
        names = _object(product, "name_multilang")
        # Matching to the seller's catalogue: sku, then external_id (reference §2.3); the Prom id as a last resort.
        sku = _text(product.get("sku")) or _text(product.get("external_id")) or _text(product.get("id"))
        price = product.get("price")
        lines.append(OrderLine(
            sku=sku, marketplace_item_id=_text(product.get("id")),
            name=_text(names.get("uk") or product.get("name") or names.get("ru")),
            quantity=parse_quantity(product.get("quantity"), f"products[{i}].quantity"),
            unit_price=_money(product, "price", currencies, f"products[{i}].price") if price is not None
            else Decimal(0)))
    return lines


def _buyer(payload: dict) -> Buyer:
    client = _object(payload, "client")
    first = _text(payload.get("client_first_name") or client.get("first_name"))
    last = _text(payload.get("client_last_name") or client.get("last_name"))
    email = _text(payload.get("email"))
    return Buyer(name=" ".join(p for p in (first, last) if p),
                 phone=_text(payload.get("phone") or client.get("phone")), email=email if "@" in email else "")


def _payment(payload: dict, code: str, vocabulary: Vocabulary) -> PaymentStatus:
    data = _object(payload, "payment_data")
    if data.get("status"):
        return vocabulary.payment(data["status"])
    if code == "paid":
        return PaymentStatus.PAID
    name = _text(_object(payload, "payment_option").get("name")).casefold()
    if any(word in name for word in _COD_WORDS):
        return PaymentStatus.CASH_ON_DELIVERY
    return PaymentStatus.UNKNOWN


def _shipments(payload: dict) -> tuple[list[Shipment], str]:
    """The order's parcel, and what a person should look at ("" when nothing)."""
    data = _object(payload, "delivery_provider_data")
    ttn = "".join(_text(data.get("declaration_number")).split())
    if not ttn:
        return [], ""
    problem = ttn_problem(ttn)
    if problem:
        return [], f"Prom's declaration_number is not a tracking number ({problem}); check the order in the cabinet"
    provider = _text(data.get("provider"))
    if provider and provider not in CARRIERS:
        return [Shipment(carrier=provider, ttn=ttn)], (f"Prom names a delivery provider we do not track "
                                                       f"({provider!r}); check who carries TTN {ttn}")
    return [Shipment(carrier=CARRIERS.get(provider, "unknown"), ttn=ttn)], ""


def to_order(payload: dict, account: str, vocabulary: Vocabulary) -> Order:
    """Map one order payload; raises PayloadError naming the field when the payload does not parse."""
    if not isinstance(payload, dict) or payload.get("id") in (None, ""):
        raise PayloadError("an order without an id")
    code = _text(payload.get("status"))
    cancellation = _object(payload, "cancellation")
    rule = vocabulary.rule_with_comment(code, _text(cancellation.get("title"))) if cancellation else \
        vocabulary.rule(code)
    label = _text(payload.get("status_name")) or rule.label
    currencies: set[str] = set()
    total_field = "full_price" if payload.get("full_price") not in (None, "") else "price"
    total = _money(payload, total_field, currencies)
    lines = _lines(payload, currencies)
    if len(currencies) > 1:
        raise PayloadError(f"prices in more than one currency ({', '.join(sorted(currencies))})")
    shipments, shipment_problem = _shipments(payload)
    order = Order(
        key=OrderKey("promua", account, _text(payload["id"])),
        status=rule.status,
        marketplace_status=MarketplaceStatus(code, label),
        currency=next(iter(currencies), CURRENCY),
        total=total,
        created_at=parse_time(payload.get("date_created"), "date_created"),
        changed_at=parse_time(payload.get("date_modified") or payload.get("date_created"), "date_modified"),
        payment_status=_payment(payload, code, vocabulary),
        cancel_reason=rule.cancel_reason if rule.status is Status.CANCELLED else None,
        buyer=_buyer(payload),
        lines=lines,
        shipments=shipments,
        status_after_delivery=rule.after_delivery,
    )
    if rule.status is Status.UNKNOWN and code.startswith(CUSTOM):
        order.needs_review, order.review_reason = True, (
            f"Prom custom status {code} «{label}» is the seller's own: map it in the account's mapping override "
            "(docs/adapters.md, Prom.ua)")
    elif rule.review:
        order.needs_review, order.review_reason = True, f"Prom status {code} {label}: {rule.review}"
    elif shipment_problem:
        order.needs_review, order.review_reason = True, shipment_problem
    return check_order(order)


def pulled(payload: Any, account: str, vocabulary: Vocabulary) -> PulledOrder:
    """Map without raising: a payload that does not parse comes back with its error and its raw text."""
    return pulled_without_raising(payload, lambda p: to_order(p, account, vocabulary), "Prom")
