"""What a value must be to enter the store: checked where data comes in (mappers, commands), never by truncating.

The numbers are the store's columns (connector/store/tables.py): a value that does not fit is refused with a message
naming it, so the stored form and the compared form of an identity can never differ, and one bad record is kept
aside instead of failing the page it came with.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING

from connector.errors import PayloadError

if TYPE_CHECKING:
    from connector.domain.order import Order

EXTERNAL_ID_MAX = 64  # orders.external_id
TTN_MAX = 40  # the longest carrier number format we know is 20; shipments.ttn has room for 64
MONEY_MAX = Decimal("999999999999.99")  # NUMERIC(14, 2)
QUANTITY_MAX = 2**31 - 1  # INTEGER on PostgreSQL

_TTN = re.compile(r"^[A-Za-z0-9-]+$")
# C0 controls other than tab and newline, and DEL: PostgreSQL refuses NUL, terminals obey the rest.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_text(value: object) -> str:
    """Marketplace text as the store keeps it: stripped, without control characters. The raw payload keeps the
    original, so nothing is lost."""
    return "" if value is None else _CONTROL.sub("", str(value)).strip()


def identity_problem(external_id: str) -> str:
    """Why ``external_id`` cannot identify an order ("" when it can)."""
    if not external_id:
        return "the record has no order id"
    if len(external_id) > EXTERNAL_ID_MAX:
        return f"an order id of {len(external_id)} characters (at most {EXTERNAL_ID_MAX})"
    if _CONTROL.search(external_id) or not external_id.isprintable():
        return "an order id with control characters"
    return ""


def ttn_problem(ttn: str) -> str:
    """Why ``ttn`` (spaces already removed) is not a tracking number of any carrier ("" when it may be one)."""
    if not ttn:
        return "the tracking number is empty"
    if len(ttn) > TTN_MAX:
        return f"a tracking number of {len(ttn)} characters (at most {TTN_MAX})"
    if not _TTN.match(ttn):
        return f"{ttn[:20]!r} is not a tracking number: only letters, digits and hyphens"
    return ""


def check_amount(value: Decimal, field: str) -> Decimal:
    if not value.is_finite() or abs(value) > MONEY_MAX:
        raise PayloadError(f"{field} {value} is not an amount the store can hold (at most {MONEY_MAX})")
    return value


def check_quantity(value: object, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise PayloadError(f"{field} {value!r} is not a whole number")
    if not 0 <= value <= QUANTITY_MAX:
        raise PayloadError(f"{field} {value} is out of range (0 to {QUANTITY_MAX})")
    return value


def check_order(order: Order) -> Order:
    """Refuse a mapped order the store could not hold exactly, naming the field; returns it unchanged."""
    problem = identity_problem(order.key.external_id)
    if problem:
        raise PayloadError(problem)
    check_amount(order.total, "total")
    if order.seller_net is not None:
        check_amount(order.seller_net, "seller_net")
    for i, line in enumerate(order.lines):
        check_quantity(line.quantity, f"lines[{i}].quantity")
        check_amount(line.unit_price, f"lines[{i}].unit_price")
    return order
