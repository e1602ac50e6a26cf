"""Chopni's seller-panel order page (MultiMerch's `seller/account-order/viewOrder`) → a typed record.

All knowledge of the markup lives here, found by stable hooks (form field names, panel headings, the labels MultiMerch
prints), never by position in the page or by regular expressions over HTML. A page that does not parse raises a
PayloadError naming the order and what was missing; the caller keeps the raw HTML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from lxml import html as lxml_html

from connector.errors import PayloadError

CURRENCY_SIGNS = {"€": "EUR", "лв": "BGN", "bgn": "BGN", "lei": "RON", "ron": "RON", "eur": "EUR", "$": "USD"}
_NUMBER = re.compile(r"-?[\d\s.,\u00a0]*\d")


@dataclass(frozen=True, slots=True)
class HistoryRow:
    date: str  # the panel shows a short date only (d/m/Y)
    comment: str
    status: str


@dataclass(frozen=True, slots=True)
class PageLine:
    name: str
    model: str
    product_id: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class OrderPage:
    order_id: str
    suborder_id: str
    marketplace_status: str
    date_added: str
    payment_method: str
    shipping_method: str
    lines: list[PageLine]
    totals: dict[str, Decimal]
    currency: str
    history: list[HistoryRow]
    status_ids: dict[str, str]  # vendor status name (as shown) → this installation's id
    buyer_name: str = ""

    @property
    def total(self) -> Decimal:
        for label in ("total", "order total"):
            if label in self.totals:
                return self.totals[label]
        raise PayloadError(f"Chopni order {self.order_id}: the page has no Total row")

    def status_id(self, name: str) -> str | None:
        wanted = name.casefold()
        return next((i for n, i in self.status_ids.items() if n.casefold() == wanted), None)


def money(text: str) -> tuple[Decimal, str]:
    """'€1,234.50', '1 234,50 лв.', '12.50 lei' → (Decimal, ISO currency or '')."""
    lowered = text.casefold()
    currency = next((code for sign, code in CURRENCY_SIGNS.items() if sign in lowered), "")
    match = _NUMBER.search(text)
    if not match:
        raise ValueError(f"no amount in {text!r}")
    number = re.sub(r"[\s\u00a0]", "", match.group())
    if "," in number and "." in number:  # the last separator is the decimal one
        number = number.replace(",", "") if number.rfind(".") > number.rfind(",") else \
            number.replace(".", "").replace(",", ".")
    elif "," in number:
        head, _, tail = number.rpartition(",")
        number = f"{head.replace(',', '')}.{tail}" if len(tail) != 3 else number.replace(",", "")
    try:
        return Decimal(number), currency
    except InvalidOperation:
        raise ValueError(f"no amount in {text!r}") from None


def _text(element) -> str:
    return " ".join(element.text_content().split()) if element is not None else ""


def _lines_text(element) -> str:
    """Text with MultiMerch's <br /> kept as line breaks (comments are multi-line)."""
    for br in element.iter("br"):
        br.tail = "\n" + (br.tail or "")
    lines = (" ".join(line.split()) for line in element.text_content().split("\n"))
    return "\n".join(line for line in lines if line)


def _panel(root, heading: str):
    """The Bootstrap panel whose title contains ``heading`` (case-insensitive)."""
    for panel in root.xpath('.//div[contains(concat(" ", normalize-space(@class), " "), " panel ")]'):
        title = panel.xpath('.//*[contains(@class, "panel-title")]')
        if title and heading.casefold() in _text(title[0]).casefold():
            return panel
    return None


def _labelled(cell) -> dict[str, str]:
    """MultiMerch prints ``<b>Label:</b> value`` (or ``<b>Label: value</b>``) lines: label (lower case) → value."""
    fields: dict[str, str] = {}
    if cell is None:
        return fields
    for bold in cell.xpath(".//b"):
        label, colon, rest = _text(bold).partition(":")
        if colon:
            fields[label.strip().casefold()] = rest.strip() or " ".join((bold.tail or "").split())
    return fields


def parse_order_page(page: str, order_id: str) -> OrderPage:
    def fail(what: str) -> PayloadError:
        return PayloadError(f"Chopni order {order_id}: the order page has no {what}",
                            hint="the seller panel's markup may have changed; the raw page is kept", raw=page)

    try:
        root = lxml_html.fromstring(page)
    except (ValueError, lxml_html.etree.ParserError):
        raise fail("HTML") from None
    info = root.xpath('//*[contains(concat(" ", normalize-space(@class), " "), " ms-account-order-info ")]')
    if not info:
        raise fail("order block (div.ms-account-order-info): is this a login page?")
    info = info[0]

    details = _panel(info, "order details")
    if details is None:
        raise fail("Order Details panel")
    cells = details.xpath(".//td")
    fields = _labelled(cells[0] if cells else details) | _labelled(cells[1] if len(cells) > 1 else None)
    ids = re.search(r"#\s*(\d+)\s*-\s*(\d+)", fields.get("order id", ""))
    marketplace_status = fields.get("marketplace order status", "")

    suborder = info.xpath('.//input[@name="suborder_id"]/@value')
    suborder_id = suborder[0].strip() if suborder else (ids.group(2) if ids else "")
    if not suborder_id:
        raise fail("suborder id (input[name=suborder_id] or '#order-suborder')")

    options = info.xpath('.//select[@name="order_status"]/option')
    status_ids = {_text(o): o.get("value", "").strip() for o in options if o.get("value", "0").strip() not in ("", "0")}
    if not status_ids:
        raise fail("status choices (select[name=order_status])")

    lines, currency = _products(_panel(info, "products"), fail)
    totals: dict[str, Decimal] = {}
    products = _panel(info, "products")
    for row in products.xpath(".//tfoot/tr"):
        label = row.xpath(".//b")
        value = row.xpath("./td")
        if label and value:
            try:
                amount, sign = money(_text(value[-1]))
            except ValueError as exc:
                raise fail(f"readable {_text(label[0])} amount ({exc})") from None
            totals[_text(label[0]).casefold()] = amount
            currency = currency or sign

    history_panel = _panel(info, "history")
    history = []
    if history_panel is not None:
        for row in history_panel.xpath(".//tbody/tr"):
            tds = row.xpath("./td")
            if len(tds) == 3:  # an empty history has one placeholder cell
                history.append(HistoryRow(_text(tds[0]), _lines_text(tds[1]), _text(tds[2])))

    addresses = _panel(info, "addresses")
    buyer = ""
    if addresses is not None:
        first = addresses.xpath(".//tbody//td")
        if first:
            buyer = _lines_text(first[0]).split("\n")[0]
    return OrderPage(
        order_id=ids.group(1) if ids else order_id,
        suborder_id=suborder_id,
        marketplace_status=marketplace_status,
        date_added=fields.get("date added", ""),
        payment_method=fields.get("payment method", ""),
        shipping_method=fields.get("fulfillment method") or fields.get("shipping method", ""),
        lines=lines,
        totals=totals,
        currency=currency,
        history=history,
        status_ids=status_ids,
        buyer_name=buyer,
    )


def _products(panel, fail) -> tuple[list[PageLine], str]:
    if panel is None:
        raise fail("Products panel")
    headers = [_text(td).casefold() for td in panel.xpath(".//thead/tr[1]/td")]

    def column(*names: str) -> int:
        for i, header in enumerate(headers):
            if any(n in header for n in names):
                return i
        raise fail(f"'{names[0]}' column in the products table")

    name_i, model_i, qty_i, price_i = column("product"), column("model"), column("quantity"), column("price")
    lines, currency = [], ""
    for row in panel.xpath(".//tbody/tr"):
        tds = row.xpath("./td")
        if len(tds) <= max(name_i, model_i, qty_i, price_i):
            continue
        link = tds[name_i].xpath(".//a")
        href = link[0].get("href", "") if link else ""
        product = re.search(r"product_id=(\d+)", href)
        try:
            quantity = int(_text(tds[qty_i]))
            price, currency = money(_text(tds[price_i]))
        except ValueError as exc:
            raise fail(f"readable quantity or price ({exc})") from None
        lines.append(PageLine(_text(link[0]) if link else _text(tds[name_i]), _text(tds[model_i]),
                              product.group(1) if product else "", quantity, price))
    return lines, currency


def parse_short_date(value: str) -> datetime | None:
    """MultiMerch's en-gb short date, d/m/Y."""
    try:
        return datetime.strptime(value.strip(), "%d/%m/%Y")
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Conversation:
    seller_id: str
    suborder_id: str
    seller_messages: list[str]  # what the seller already said, oldest first


def parse_conversation(fragment: str) -> Conversation | None:
    """The order's conversation panel; None when messaging is off (an empty fragment)."""
    if not fragment.strip():
        return None
    root = lxml_html.fromstring(fragment)
    form = root.xpath('//form[starts-with(@id, "ms-message-form")]')
    if not form:
        return None
    seller = form[0].xpath('.//input[@name="seller_id"]/@value')
    suborder = form[0].xpath('.//input[@name="suborder_id"]/@value')
    bodies = root.xpath('//div[contains(concat(" ", normalize-space(@class), " "), " ms-message ")'
                        ' and contains(concat(" ", normalize-space(@class), " "), " seller ")]'
                        '//div[contains(concat(" ", normalize-space(@class), " "), " body ")]')
    return Conversation(seller[0] if seller else "", suborder[0] if suborder else "",
                        [_lines_text(b) for b in bodies])
