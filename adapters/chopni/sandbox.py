"""A faithful fake of Chopni's seller panel (OpenCart 2.3 + MultiMerch 8.14) on 127.0.0.1, for `connector demo`,
tests and benchmarks.

Chopni has no API: a seller logs in with a form, keeps a ``PHPSESSID`` cookie, reads HTML pages and calls a few
AJAX routes. The sandbox speaks that surface as the shared reference describes it
(shared/reference/chopni-multimerch.md §4) and as the cassettes in tests/cassettes/chopni record it:

- ``account/login`` — the OpenCart login form (``email``, ``password``): 302 to ``account/account`` on success, 200 with
  the page and an ``alert-danger`` on failure (wrong password, the lockout after ``login_attempts`` failures within an
  hour, an account awaiting approval);
- ``seller/account-order`` — the orders list shell (``table#mm_orders``);
- ``seller/account-order/getTableData`` — DataTables 1.9 server-side JSON with MultiMerch's quirks: raw database
  columns leak into every row, the total comes from the first row, a page past the end is empty with
  ``iTotalRecords: 0``, no ``iDisplayLength`` means no LIMIT, no status filter and no "updated since";
- ``seller/account-order/viewOrder`` — the order page (panels: details, addresses, products, transactions, status
  history with the change form), 302 to ``seller/account-order`` for an order that is not the seller's;
- ``seller/account-order/jxAddHistory`` — writes any status id (no transition rules), always answers 200 with an empty
  body, ignores empty or foreign requests silently, e-mails the buyer on every applied call;
- ``multimerch/account_order/sellerOrderConversation`` and ``account/msmessage/jxSendOrderMessage`` — the order's
  conversation with the buyer.

Every seller route answers 302 to ``account/login`` when the session is missing or idle for longer than
``session_ttl`` seconds (on the sandbox's clock). Fault switches imitate a bad day (see ``Faults``).

Where the reference is silent the sandbox does what the stock code most plausibly does; each such place says
"inferred" in a comment. The markup is our own rendering of the stock templates' structure.

Run it in the foreground: ``python -m adapters.chopni.sandbox --help``.
"""

from __future__ import annotations

import html
import json
import random
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from adapters.sandbox import FaultSwitches, Sandbox, SandboxHandler, sandbox_parser, serve_from_args

SOFIA = ZoneInfo("Europe/Sofia")  # the server's wall clock: every date on the wire is Sofia time (inferred)
STORE_NAME = "Chopni"

# -- statuses (reference §3) ----------------------------------------------------------------------------------------

# The vendor (suborder) statuses Chopni's manual names, in the manual's order. Their ids are per installation and
# not public: each sandbox draws its own unless told (``status_ids=``), so a client has to read them from the page.
VENDOR_STATUSES = ("Pending", "PROCESSING", "SHIPPED", "COMPLETE", "refunded", "Cancelled", "Failed")
DEFAULT_VENDOR_STATUS = "Pending"  # msconf_suborder_default_status

# Marketplace (OpenCart order) statuses: stock ids for the stock names; Chopni's two custom ones get ids past the
# stock list (inferred: their real ids are not public).
MARKETPLACE_STATUSES = {15: "PROCESSED", 2: "Processing", 1: "Pending", 7: "Canceled", 17: "Payment Confirmed",
                        18: "COD"}
DEFAULT_ORDER_STATUS_ID = 1  # config_order_status_id: what an unknown vendor status id is shown as
UNPAID_MARKETPLACE = frozenset({"Pending", "Canceled"})  # no seller balance entries for these (inferred)

# -- texts (en-gb; OpenCart core and MultiMerch language files) -----------------------------------------------------

ERROR_LOGIN = "Warning: No match for E-Mail Address and/or Password."
ERROR_ATTEMPTS = ("Warning: Your account has exceeded allowed number of login attempts. "
                  "Please try again in 1 hour.")
ERROR_APPROVED = "Warning: Your account requires approval before you can login."
MESSAGE_SENT = "Your message has been successfully sent"
ERROR_FORM = "Error occurred when submitting the form. Please contact the store owner for more information."
ERROR_ALL_FIELDS = "Please fill in all fields"
ERROR_TOO_LONG = "Message cannot be longer than 2000 characters"
SELECT_NEW_STATUS = "-- Select new status --"
# The stock 8.14.2 placeholder reads "Let the customer know why you are changing order status..."; the reference
# and our brief name Chopni's as "Add order comment..." (inferred: a language override). Clients never read it.
ADD_COMMENT = "Add order comment..."
NO_HISTORY = "There is no history for this order yet!"
NO_TRANSACTIONS = "There are no balance transactions for this order yet!"
COMMISSION_DEDUCTED = "Store commission deducted"
INVALID_SESSION = "Error: Invalid session ID!"

SESSION_COOKIE = "PHPSESSID"
SESSION_ID = re.compile(r"[a-zA-Z0-9,\-]{22,52}")  # OpenCart 2.x exits on anything else (inferred from 2.x)
SID_CHARS = "0123456789abcdefghijklmnopqrstuv"  # PHP 7.1+: 26 characters, 5 bits each

# getTableData (MultiMerch 8.14.2): sortable and filterable columns, and the SQL column each one really reads.
SORTABLE = ("order_id", "customer_name", "date_created", "total_amount")
FILTERABLE = (*SORTABLE, "products")
COLUMN_OF = {"customer_name": "firstname", "date_created": "o.date_added"}

FAULT_KINDS = frozenset({"server_error", "rate_limit", "slow", "reset", "malformed", "expire_token"})


# -- PHP and OpenCart semantics ---------------------------------------------------------------------------------------

def php_empty(value: Any) -> bool:
    """PHP's ``empty()`` on a request value: missing, "" and "0" are empty."""
    return value is None or value == "" or value == "0"


def php_int(value: Any) -> int:
    """PHP's ``(int)`` on a string: the leading integer, 0 when there is none."""
    match = re.match(r"\s*([+-]?\d+)", str(value or ""))
    return int(match.group(1)) if match else 0


def php_json(value: Any) -> str:
    """PHP's ``json_encode``: compact, non-ASCII as \\uXXXX, and every "/" escaped."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/")


def ucwords(value: str) -> str:
    """PHP's ``ucwords``: the first letter of each word upper-cased, the rest untouched."""
    return re.sub(r"(^|[ \t\r\n\f\v])(\S)", lambda m: m.group(1) + m.group(2).upper(), value)


def php_trim(value: str) -> str:
    return value.strip(" \t\n\r\0\x0b")


def esc(value: Any) -> str:
    """OpenCart stores request input through htmlspecialchars(ENT_COMPAT): & < > " are entities, ' is not."""
    return html.escape(str(value), quote=False).replace('"', "&quot;")


def nl2br(value: str) -> str:
    return esc(value).replace("\r\n", "\n").replace("\n", "<br />\n")


def money(amount: Decimal) -> str:
    """OpenCart's currency format for EUR as Chopni shows it: symbol left, 2 decimals, "," thousands ("€1,299.00";
    a negative amount reads "€-12.50", as OpenCart prints it)."""
    return "€" + f"{amount.quantize(Decimal('0.01'), ROUND_HALF_UP):,.2f}"


def dec4(amount: Decimal) -> str:
    """A DECIMAL(15,4) column as MySQL returns it."""
    return f"{amount.quantize(Decimal('0.0001'), ROUND_HALF_UP):.4f}"


def sofia(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(SOFIA)


def stamp(moment: datetime) -> str:
    """A DATETIME column."""
    return sofia(moment).strftime("%Y-%m-%d %H:%M:%S")


def short_date(moment: datetime) -> str:
    """date_format_short (en-gb)."""
    return sofia(moment).strftime("%d/%m/%Y")


def long_stamp(moment: datetime) -> str:
    """datetime_format (en-gb)."""
    return sofia(moment).strftime("%d/%m/%Y %H:%M:%S")


def like(pattern: str) -> re.Pattern[str]:
    """A MySQL ``LIKE '%pattern%'`` (case-insensitive collation) as a regex: % and _ are wildcards, \\ escapes."""
    out, chars = [], iter(pattern)
    for char in chars:
        if char == "\\":
            out.append(re.escape(next(chars, "\\")))
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    return re.compile(".*" + "".join(out) + ".*", re.IGNORECASE | re.DOTALL)


# -- faults ---------------------------------------------------------------------------------------------------------

class Faults(FaultSwitches):
    """The Chopni sandbox's fault switches, for a site whose only path is index.php.

    Kinds: ``server_error`` (HTTP 500/502/503 with nginx's HTML; ``status=`` picks one), ``rate_limit`` (HTTP 429,
    ``Retry-After: retry_after``), ``slow`` (answers after ``seconds``), ``reset`` (the connection closes with no
    answer; the request is not handled), ``malformed`` (the request is handled; an HTML page or a JSON body arrives
    cut in half with its status), ``expire_token`` (every session is gone first, so a seller route answers 302 to
    account/login). ``path=`` limits a fault to requests whose *route* starts with it (``"seller/account-order"``,
    or ``"index.php?route=…"``), ``method=`` to one HTTP method.
    """

    kinds = FAULT_KINDS

    def _options(self, options: dict[str, Any]) -> dict[str, Any]:
        return _route_option(options)


def _route_option(options: dict[str, Any]) -> dict[str, Any]:
    if "path" in options:
        path = str(options["path"])
        options = {**options, "path": path.split("route=", 1)[1] if "route=" in path else path.lstrip("/")}
    return options


# -- state ----------------------------------------------------------------------------------------------------------

@dataclass
class _Customer:
    id: int
    email: str
    password: str
    firstname: str
    lastname: str
    approved: bool = True
    seller: bool = False
    active: bool = True  # the seller account's status (MsSeller::STATUS_ACTIVE)
    nickname: str = ""


@dataclass
class _Line:
    product_id: int
    order_product_id: int
    data_id: int  # ms_order_product_data.order_product_data_id
    name: str
    model: str
    quantity: int
    price: Decimal
    options: list[tuple[str, str]]
    commission_pct: Decimal

    @property
    def total(self) -> Decimal:
        return self.price * self.quantity

    @property
    def commission(self) -> Decimal:
        return (self.total * self.commission_pct / 100).quantize(Decimal("0.0001"), ROUND_HALF_UP)

    @property
    def net(self) -> Decimal:
        return self.total - self.commission


@dataclass
class _Order:
    order_id: int
    suborder_id: int
    seller_id: int
    customer_id: int
    buyer: dict[str, str]
    lines: list[_Line]
    shipping: Decimal
    payment_method: str
    payment_code: str
    shipping_method: str
    shipping_code: str
    comment: str
    order_status_id: int
    vendor_status_id: int
    date_added: datetime
    date_modified: datetime
    invoice_no: int
    ip: str
    history: list[tuple[datetime, str, int]] = field(default_factory=list)  # (date, comment, vendor status id)
    transactions: list[tuple[datetime, str, Decimal]] = field(default_factory=list)

    @property
    def subtotal(self) -> Decimal:
        return sum((line.total for line in self.lines), Decimal(0))

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.shipping

    @property
    def net(self) -> Decimal:
        return sum((line.net for line in self.lines), Decimal(0))


@dataclass
class _Message:
    sender_id: int
    text: str
    date: datetime


@dataclass
class _Conversation:
    order_id: int
    suborder_id: int
    title: str
    participants: list[int | None]
    messages: list[_Message] = field(default_factory=list)


@dataclass
class _Session:
    id: str
    last_seen: datetime
    customer_id: int | None = None
    redirect: str | None = None


@dataclass
class Request:
    method: str
    path: str
    route: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]
    cookies: dict[str, str]


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


# -- the sandbox ----------------------------------------------------------------------------------------------------

class ChopniSandbox(Sandbox):
    """Chopni's seller panel in one process. State lives in memory behind one lock."""

    thread_name = "chopni-sandbox"


    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, seed: int | None = None, orders: int = 0,
                 page_size_cap: int | None = 100, clock: Callable[[], datetime] | None = None,
                 session_ttl: int = 1800, status_ids: dict[str, int] | None = None) -> None:
        self.host, self.port = host, port
        self.page_size_cap, self.session_ttl = page_size_cap, session_ttl
        self.clock = clock or (lambda: datetime.now(UTC))
        self._rng = random.Random(seed)
        self.status_ids: dict[str, int] = _status_ids(status_ids, self._rng)
        self.marketplace_statuses: dict[int, str] = dict(MARKETPLACE_STATUSES)
        self.login_attempts = 5  # config_login_attempts, OpenCart's default
        self.messaging_enabled = True  # mmess_conf_enable
        self.commission_pct = Decimal(15)  # "15 % of the goods value, VAT included"
        self.emails_sent: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, dict[str, str], dict[str, str]]] = []
        self.faults = Faults(seed)
        self.log_requests = False
        self._lock = threading.RLock()
        self._customers: dict[int, _Customer] = {}
        self._sessions: dict[str, _Session] = {}
        self._attempts: dict[str, tuple[int, datetime]] = {}
        self._orders: dict[int, _Order] = {}
        self._conversations: dict[tuple[int, int], _Conversation] = {}
        self._first_seller_id = self._rng.randint(20, 60)
        self._next_customer = self._first_seller_id
        self._last_order_id = self._rng.randint(3000, 3900)
        self._last_suborder_id = self._rng.randint(400, 500)
        self._last_product_line = self._rng.randint(9000, 9900)
        self._last_invoice = self._rng.randint(100, 300)
        self._seed_orders(orders)

    # -- set-up and inspection --------------------------------------------------------------------------------

    def add_seller(self, email: str, password: str, *, nickname: str = "Test Shop", approved: bool = True,
                   active: bool = True, customer_id: int | None = None) -> int:
        """A customer account with a seller profile; returns its customer id (the ``seller_id`` of its orders).
        ``approved=False``: the login answers "requires approval"; ``active=False``: a seller whose account is not
        active, so seller routes send it to seller/account-profile."""
        with self._lock:
            first = not any(c.seller for c in self._customers.values())
            if customer_id is None:
                customer_id = self._first_seller_id if first else self._next_customer
            if customer_id in self._customers:
                raise ValueError(f"customer {customer_id} exists")
            if first and customer_id != self._first_seller_id:
                for order in self._orders.values():  # the seeded orders are the first seller's, whatever its id
                    if order.seller_id == self._first_seller_id:
                        order.seller_id = customer_id
                self._first_seller_id = customer_id
            self._next_customer = max(self._next_customer, customer_id) + self._rng.randint(1, 5)
            first, _, last = nickname.partition(" ")
            self._customers[customer_id] = _Customer(customer_id, email, password, first or nickname, last,
                                                     approved=approved, seller=True, active=active,
                                                     nickname=nickname)
            return customer_id

    def add_order(self, *, vendor_status: str = DEFAULT_VENDOR_STATUS, marketplace_status: str = "PROCESSED",
                  lines: Iterable[dict[str, Any]] | None = None, seller_id: int | None = None,
                  order_id: int | None = None, suborder_id: int | None = None,
                  buyer: dict[str, str] | None = None, shipping: str | Decimal | None = None,
                  payment_method: str | None = None, shipping_method: str | None = None) -> int:
        """A new order of the first seller (or ``seller_id``'s), arriving now; returns its order id.

        A ``vendor_status`` past Pending comes with the history rows of the manual's flow up to it, all dated now
        (with a tracking number on the SHIPPED row; no e-mails are recorded for them). ``lines``: dicts with
        ``name``, ``model``, ``quantity``, ``price`` and optional ``options`` [(name, value)] and ``product_id``;
        random 1–3 lines otherwise. The other keywords pin what the cassettes show: ids, the buyer (``firstname``,
        ``lastname``, ``email``, ``telephone``, ``company``, ``address_1``, ``address_2``, ``city``, ``postcode``,
        ``zone``, ``country``; the rest random), the shipping amount and the two method names.
        """
        with self._lock:
            now = self.clock()
            order = self._new_order(now, marketplace_status, seller_id=seller_id, order_id=order_id,
                                    suborder_id=suborder_id, buyer=buyer, lines=lines, shipping=shipping,
                                    payment_method=payment_method, shipping_method=shipping_method)
            for name in _flow_to(vendor_status):
                self._apply(order, self._status_id(name), self._flow_comment(name), now, mail=False)
            return order.order_id

    def add_message(self, order_id: int, text: str, *, from_buyer: bool = False) -> None:
        """A message in the order's conversation, now: the seller's unless ``from_buyer`` (no e-mail recorded)."""
        with self._lock:
            order = self._order(order_id)
            sender = order.customer_id if from_buyer else order.seller_id
            self._conversation(order, sender, create=True).messages.append(_Message(sender, text, self.clock()))

    def set_vendor_status(self, order_id: int, name: str, comment: str = "") -> None:
        """What a seller did by hand in the panel: the suborder moves to ``name``, a history row is added and the
        buyer gets the e-mail, exactly as a jxAddHistory call would."""
        with self._lock:
            order = self._order(order_id)
            self._apply(order, self._status_id(name), comment, self.clock(), mail=True)

    def set_marketplace_status(self, order_id: int, name: str) -> None:
        """Chopni's admin or payment module: the order's own status changes, and with it date_modified."""
        with self._lock:
            order = self._order(order_id)
            ids = {v: k for k, v in self.marketplace_statuses.items()}
            if name not in ids:
                raise ValueError(f"unknown marketplace status {name!r}; one of {sorted(ids)}")
            order.order_status_id = ids[name]
            order.date_modified = self.clock()

    def order(self, order_id: int) -> dict[str, Any]:
        """An order's state as the sandbox holds it (texts unescaped, times as the clock gave them)."""
        with self._lock:
            o = self._order(order_id)
            conversation = self._conversations.get((o.order_id, o.suborder_id))
            return {
                "order_id": o.order_id, "suborder_id": o.suborder_id, "seller_id": o.seller_id,
                "customer_id": o.customer_id,
                "vendor_status": self._vendor_name(o.vendor_status_id), "vendor_status_id": o.vendor_status_id,
                "marketplace_status": self.marketplace_statuses.get(o.order_status_id, ""),
                "marketplace_status_id": o.order_status_id,
                "history": [(d, c, self._vendor_name(s)) for d, c, s in o.history],
                "messages": [{"from": "buyer" if m.sender_id == o.customer_id else "seller",
                              "sender": self._sender_name(o, m.sender_id), "text": m.text, "date": m.date}
                             for m in (conversation.messages if conversation else [])],
                "date_added": o.date_added, "date_modified": o.date_modified,
                "buyer": dict(o.buyer),
                "lines": [{"product_id": line.product_id, "name": line.name, "model": line.model,
                           "quantity": line.quantity, "price": f"{line.price:.2f}", "total": f"{line.total:.2f}",
                           "options": list(line.options)} for line in o.lines],
                "shipping": f"{o.shipping:.2f}", "total": f"{o.total:.2f}",
                "seller_total": f"{(o.net + o.shipping).quantize(Decimal('0.01'), ROUND_HALF_UP):.2f}",
                "payment_method": o.payment_method, "shipping_method": o.shipping_method,
                "transactions": [(d, text, f"{amount:.2f}") for d, text, amount in o.transactions],
            }

    def order_ids(self, seller_id: int | None = None) -> list[int]:
        with self._lock:
            return sorted(o.order_id for o in self._orders.values() if seller_id in (None, o.seller_id))

    def expire_sessions(self) -> None:
        """Every session is gone, as after a server restart or the idle timeout: the next seller call with an old
        cookie is answered 302 to account/login."""
        with self._lock:
            self._sessions.clear()

    # -- request handling (called by the HTTP handler's threads) -----------------------------------------------

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append((request.method, request.route, dict(request.query), dict(request.form)))

    def dispatch(self, request: Request) -> Response:
        if request.path not in ("/", "/index.php"):
            return _not_found(self._base())  # a file that is not there (no SEO URLs in the sandbox: inferred)
        with self._lock:
            sid = request.cookies.get(SESSION_COOKIE)
            if sid is not None and not SESSION_ID.fullmatch(sid):
                return Response(200, INVALID_SESSION.encode())
            session, new = self._session(sid)
            handler = ROUTES.get(request.route)
            response = handler(self, request, session) if handler else _not_found(self._base())
            response.headers[:0] = NO_CACHE
            if new:
                # PHP's default cookie; a known or client-chosen id (non-strict mode) is not re-sent (inferred)
                response.headers.append(("Set-Cookie", f"{SESSION_COOKIE}={session.id}; path=/; HttpOnly"))
            return response

    def _session(self, sid: str | None) -> tuple[_Session, bool]:
        now = self.clock()
        if sid is None:
            sid = "".join(self._rng.choice(SID_CHARS) for _ in range(26))
            while sid in self._sessions:
                sid = "".join(self._rng.choice(SID_CHARS) for _ in range(26))
            session, new = _Session(sid, now), True
        else:
            session, new = self._sessions.get(sid) or _Session(sid, now), False
            if (now - session.last_seen).total_seconds() > self.session_ttl:
                session = _Session(sid, now)  # PHP's garbage collector has eaten the data; the id lives on
        session.last_seen = now
        self._sessions[sid] = session
        if len(self._sessions) > 5000:
            limit = now - timedelta(seconds=self.session_ttl)
            self._sessions = {k: v for k, v in self._sessions.items() if v.last_seen >= limit}
        return session, new

    # -- guards -------------------------------------------------------------------------------------------------

    def _seller(self, session: _Session, route: str) -> _Customer | Response:
        """ControllerSellerAccount's constructor: log in first, then be an active seller."""
        customer = self._customers.get(session.customer_id) if session.customer_id else None
        if customer is None:
            session.redirect = self._link("account/account")
            return self._redirect("account/login")
        if (not customer.seller or not customer.active) and "account-profile" not in route.split("/"):
            return self._redirect("seller/account-profile")
        return customer

    def _customer(self, session: _Session, back: str = "account/account") -> _Customer | Response:
        customer = self._customers.get(session.customer_id) if session.customer_id else None
        if customer is None:
            session.redirect = self._link(back)
            return self._redirect("account/login")
        return customer

    # -- routes (under the lock) --------------------------------------------------------------------------------

    def _home(self, request: Request, session: _Session) -> Response:
        content = (f'<div class="container">\n  <div class="row">\n    <div id="content" class="col-sm-12">'
                   f'<h1>{STORE_NAME}</h1>\n    <p>Handmade in Bulgaria.</p></div>\n  </div>\n</div>\n')
        return self._html(STORE_NAME, "common-home", content, session)

    def _login(self, request: Request, session: _Session) -> Response:
        if session.customer_id in self._customers:
            return self._redirect("account/account")
        error = ""
        form = request.form
        if request.method == "POST":
            email = form.get("email", "")
            error = self._validate_login(email, request.form.get("password", ""))
            if not error:
                session.customer_id = self._by_email(email).id  # type: ignore[union-attr]
                target = request.form.get("redirect", "")
                if (target and target != self._link("account/logout")
                        and target.startswith(self._base())):
                    return Response(302, headers=[("Location", target.replace("&amp;", "&"))])
                return self._redirect("account/account")
        # the hidden "redirect": a posted one on the store's own URL, else the one a guard left in the session
        redirect = form.get("redirect", "") if form.get("redirect", "").startswith(self._base()) else ""
        if not redirect and session.redirect:
            redirect, session.redirect = session.redirect, None
        return self._html("Account Login", "account-login", _login_page(self, error, form, redirect), session)

    def _validate_login(self, email: str, password: str) -> str:
        now = self.clock()
        key = email.strip().lower()
        error = ""
        total, last = self._attempts.get(key, (0, now))
        if total >= self.login_attempts and now - last < timedelta(hours=1):
            error = ERROR_ATTEMPTS
        customer = self._by_email(email)
        if customer is not None and not customer.approved:
            error = ERROR_APPROVED
        if not error:
            if customer is None or customer.password != password:
                error = ERROR_LOGIN
                self._attempts[key] = (self._attempts.get(key, (0, now))[0] + 1, now)
            else:
                self._attempts.pop(key, None)
        return error

    def _logout(self, request: Request, session: _Session) -> Response:
        if session.customer_id is not None:
            session.customer_id = None
            return self._redirect("account/logout")
        content = ('<div class="container">\n  <div class="row">\n    <div id="content" class="col-sm-12">'
                   '<h1>Account Logout</h1>\n      <p>You have been logged off your account. '
                   'It is now safe to leave the computer.</p></div>\n  </div>\n</div>\n')
        return self._html("Account Logout", "account-logout", content, session)

    def _account(self, request: Request, session: _Session) -> Response:
        customer = self._customer(session)
        if isinstance(customer, Response):
            return customer
        links = [("seller/account-dashboard", "Vendor Dashboard"), ("seller/account-order", "Orders"),
                 ("account/msconversation", "Your Conversations"), ("account/edit", "Edit information"),
                 ("account/logout", "Logout")]
        items = "\n".join(f'        <li><a href="{self._link(r)}">{t}</a></li>' for r, t in links)
        content = ('<div class="container">\n  <div class="row">\n    <div id="content" class="col-sm-12">\n'
                   f'      <h2>My Account</h2>\n      <ul class="list-unstyled">\n{items}\n      </ul>\n'
                   '    </div>\n  </div>\n</div>\n')
        return self._html("My Account", "account-account", content, session)

    def _profile(self, request: Request, session: _Session) -> Response:
        seller = self._seller(session, request.route)
        if isinstance(seller, Response):
            return seller
        content = ('<div class="container">\n  <div class="row">\n    <div id="content" class="col-sm-12 '
                   'ms-account-profile">\n      <h1>Vendor profile</h1>\n'
                   f'      <p>{esc(seller.nickname)}</p>\n    </div>\n  </div>\n</div>\n')
        return self._html("Vendor profile", "seller-account-profile", content, session)

    def _order_list(self, request: Request, session: _Session) -> Response:
        seller = self._seller(session, request.route)
        if isinstance(seller, Response):
            return seller
        return self._html("Order Information", "seller-account-order", _list_page(self), session)

    def _table_data(self, request: Request, session: _Session) -> Response:
        seller = self._seller(session, request.route)
        if isinstance(seller, Response):
            return seller
        query = request.query
        # -- MsHelper::getSortParams
        column = query.get(f"mDataProp_{query['iSortCol_0']}") if "iSortCol_0" in query else None
        column = COLUMN_OF.get(column or "", column) if column in SORTABLE else "order_id"
        descending = query.get("sSortDir_0") == "desc"
        # -- MsHelper::getFilterParams: per-column sSearch_N on the column named by mDataProp_N
        filters: dict[str, re.Pattern[str]] = {}
        for n in range(php_int(query.get("iColumns"))):
            name, value = query.get(f"mDataProp_{n}"), query.get(f"sSearch_{n}")
            if not php_empty(value) and name in FILTERABLE:
                filters[COLUMN_OF.get(name, name)] = like(value)  # type: ignore[arg-type]
        # -- MsOrderData::getOrders: this seller's orders past an abandoned checkout (order_status_id > 0)
        found = [o for o in self._orders.values() if o.seller_id == seller.id and o.order_status_id > 0]
        found = [o for o in found if all(p.fullmatch(_column(o, c)) for c, p in filters.items())]
        # ties have no order in SQL; the sandbox keeps them by id (inferred)
        found.sort(key=lambda o: o.order_id)
        found.sort(key=lambda o: _sort_key(o, column), reverse=descending)
        offset = php_int(query.get("iDisplayStart"))
        rows = found[offset:]
        if "iDisplayLength" in query:  # without it there is no LIMIT at all (reference §4.2)
            limit = php_int(query["iDisplayLength"])
            if limit < 0 or offset < 0:  # "LIMIT 0, -1" is an SQL error: PHP dies uncaught (inferred)
                return Response(500)
            if self.page_size_cap is not None:
                limit = min(limit, self.page_size_cap)  # a guard a live site may add (inferred; stock has none)
            rows = rows[:limit]
        data = [self._row(o, seller.id) for o in rows]
        if data:
            total: Any = str(len(found))  # FOUND_ROWS() arrives as a string...
            data[0] = _with_total_rows(data[0], total)
        else:
            total = 0  # ...and the fallback is the integer 0
        return self._json({"iTotalRecords": total, "iTotalDisplayRecords": total, "aaData": data})

    def _row(self, o: _Order, seller_id: int) -> dict[str, Any]:
        """The raw joined row (order + the first ms_order_product_data row), overlaid with the documented keys."""
        b, first = o.buyer, o.lines[0]
        row: dict[str, Any] = {
            "order_id": str(o.order_id), "invoice_no": str(o.invoice_no), "invoice_prefix": "INV-2024-00",
            "store_id": "0", "store_name": STORE_NAME, "store_url": self._base(),
            "customer_id": str(o.customer_id), "customer_group_id": "1",
            "firstname": b["firstname"], "lastname": b["lastname"], "email": b["email"],
            "telephone": b["telephone"], "fax": "", "custom_field": "[]",
        }
        for kind in ("payment", "shipping"):
            row.update({
                f"{kind}_firstname": b["firstname"], f"{kind}_lastname": b["lastname"],
                f"{kind}_company": b.get("company", ""), f"{kind}_address_1": b["address_1"],
                f"{kind}_address_2": b.get("address_2", ""), f"{kind}_city": b["city"],
                f"{kind}_postcode": b["postcode"], f"{kind}_country": b["country"],
                f"{kind}_country_id": COUNTRY_IDS.get(b["country"], "33"), f"{kind}_zone": b["zone"],
                f"{kind}_zone_id": str(3500 + sum(map(ord, b["zone"])) % 400), f"{kind}_address_format": "",
                f"{kind}_custom_field": "[]",
                f"{kind}_method": o.payment_method if kind == "payment" else o.shipping_method,
                f"{kind}_code": o.payment_code if kind == "payment" else o.shipping_code,
            })
        row.update({
            "comment": o.comment, "total": dec4(o.total), "order_status_id": str(o.order_status_id),
            "affiliate_id": "0", "commission": "0.0000", "marketing_id": "0", "tracking": "", "language_id": "1",
            "currency_id": "3", "currency_code": "EUR", "currency_value": "1.00000000", "ip": o.ip,
            "forwarded_ip": "", "user_agent": USER_AGENT, "accept_language": ACCEPT_LANGUAGE[b["country"]],
            "date_added": stamp(o.date_added), "date_modified": stamp(o.date_modified),
            "order_product_data_id": str(first.data_id), "product_id": str(first.product_id),
            "order_product_id": str(first.order_product_id), "seller_id": str(o.seller_id),
            "store_commission_flat": "0.0000", "store_commission_pct": dec4(first.commission),
            "seller_net_amt": dec4(first.net), "suborder_id": str(o.suborder_id),
            "total_amount": dec4(o.net), "products": ",".join(esc(line.name) for line in o.lines), "1": "1",
        })
        name = f"{b['firstname']} {b['lastname']}"
        view = self._link("seller/account-order/viewOrder", order_id=o.order_id)
        invoice = self._link("seller/account-order/invoice", order_id=o.order_id)
        row.update({  # array_merge: known keys keep their place, new ones go last
            "order_id": str(o.order_id), "customer_name": f"{name} ({b['email']})",
            "products": _products_fragment(self, o), "suborder_status": self._vendor_name(o.vendor_status_id),
            "date_created": short_date(o.date_added), "total_amount": money(o.net + o.shipping),
            "view_order": (f'<a class="icon-view" href="{view}" title="View / Modify"><i class="fa fa-search"></i></a>'
                           f'<a class="icon-invoice" target="_blank" href="{invoice}" title="View invoice">'
                           '<i class="fa fa-file-text-o"></i></a>'),
        })
        return row

    def _view_order(self, request: Request, session: _Session) -> Response:
        seller = self._seller(session, request.route)
        if isinstance(seller, Response):
            return seller
        order = self._orders.get(php_int(request.query.get("order_id")))
        if order is None or order.seller_id != seller.id:
            return self._redirect("seller/account-order")
        return self._html("Order Information", "seller-account-order-viewOrder", _order_page(self, order), session)

    def _invoice(self, request: Request, session: _Session) -> Response:
        seller = self._seller(session, request.route)
        if isinstance(seller, Response):
            return seller
        order = self._orders.get(php_int(request.query.get("order_id")))
        if order is None or order.seller_id != seller.id:
            return self._redirect("seller/account-order")
        return Response(200, _invoice_page(self, order, seller).encode())

    def _add_history(self, request: Request, session: _Session) -> Response:
        seller = self._seller(session, request.route)
        if isinstance(seller, Response):
            return seller
        form = request.form
        comment, status = form.get("order_comment"), form.get("order_status")
        # MultiMerch returns without a word (HTTP 200, empty body) when there is nothing to do, no suborder_id,
        # or the suborder is another seller's: a client can only tell by re-reading the order page.
        if (php_empty(comment) and php_empty(status)) or "suborder_id" not in form:
            return Response(200)
        order = next((o for o in self._orders.values() if o.suborder_id == php_int(form["suborder_id"])), None)
        if order is None or order.seller_id != seller.id:
            return Response(200)
        # No transition rules: any integer is written, backwards or unknown. Without a status ("0", "" or missing),
        # stock jxAddHistory means to keep the current one and reads it from MsSuborder::getSuborders, a
        # ``SELECT *`` over ms_suborder LEFT JOIN order whose associative fetch lets the *marketplace order's*
        # order_status_id win: the suborder takes the marketplace status id (catalog/controller/seller/
        # account-order.php, system/library/mssuborder.php in stock MultiMerch 8.14.2), and the buyer's e-mail
        # names whatever that id means among vendor statuses.
        target = order.order_status_id if php_empty(status) else php_int(status)
        self._apply(order, target, comment or "", self.clock(), mail=True)
        return Response(200)

    def _conversation_fragment(self, request: Request, session: _Session) -> Response:
        customer = self._customer(session)
        if isinstance(customer, Response):
            return customer
        order = self._orders.get(php_int(request.query.get("order_id")))
        # the seller's own suborder only; the seller_id parameter is not read (the customer id is)
        if order is None or order.seller_id != customer.id or not self.messaging_enabled:
            return Response(200)
        return Response(200, _conversation_panel(self, order).encode())

    def _send_message(self, request: Request, session: _Session) -> Response:
        customer = self._customer(session, "account/msconversation")
        if isinstance(customer, Response):
            return customer
        if not self.messaging_enabled:
            return self._redirect("account/account")
        form, errors = request.form, []
        if any(k not in form for k in ("order_id", "suborder_id", "seller_id")):
            errors.append(ERROR_FORM)
        order = self._orders.get(php_int(form.get("order_id")))
        # Stock checks only that the caller is the order's buyer or the *posted* seller_id (reference §4.5).
        participants = [order.customer_id if order else None, php_int(form.get("seller_id"))]
        if customer.id not in participants:
            errors.append(ERROR_FORM)
        text = php_trim(form.get("ms-message-text", ""))
        if php_empty(text):
            errors.append(ERROR_ALL_FIELDS)
        if len(esc(text)) > 2000:  # counted after OpenCart's htmlspecialchars on input
            errors.append(ERROR_TOO_LONG)
        if errors:
            return self._json({"errors": errors})
        key = (php_int(form["order_id"]), php_int(form["suborder_id"]))
        conversation = self._conversations.get(key)
        if conversation is not None and customer.id not in conversation.participants:
            return Response(200)  # a conversation the caller is no part of: an empty answer
        if conversation is None:
            conversation = _Conversation(*key, f"Inquiry about order: Order ID #{key[0]}", participants)
            self._conversations[key] = conversation
        conversation.messages.append(_Message(customer.id, text, self.clock()))
        return self._json({"success": MESSAGE_SENT, "order_id": form["order_id"]})

    # -- model helpers ------------------------------------------------------------------------------------------

    def _apply(self, order: _Order, status_id: int, comment: str, moment: datetime, *, mail: bool) -> None:
        """jxAddHistory's effects: status, history row, the buyer's e-mail, balance entries."""
        order.vendor_status_id = status_id
        order.history.append((moment, comment, status_id))
        if mail:
            self.emails_sent.append({"order_id": order.order_id, "status": self._vendor_name(status_id),
                                     "comment": comment})
        self._balance(order, status_id, moment)

    def _balance(self, order: _Order, status_id: int, moment: datetime) -> None:
        """Seller balance entries: a sale when the suborder completes on a paid order, reversed on a refund
        (inferred: which states MultiMerch links is an admin setting)."""
        if self.marketplace_statuses.get(order.order_status_id) in UNPAID_MARKETPLACE:
            return
        name = self._vendor_name(status_id)
        sold = any(text.startswith("Sale:") for _, text, _ in order.transactions)
        refunded = any(text.startswith("Refund:") for _, text, _ in order.transactions)
        if name == "COMPLETE" and not sold:
            for line in order.lines:
                order.transactions.append(
                    (moment, f"Sale: {line.name} (-{money(line.commission)} commission)", line.net))
            if order.shipping:
                order.transactions.append((moment, f"Shipping: {order.shipping_method}", order.shipping))
        elif name == "refunded" and sold and not refunded:
            for line in order.lines:
                order.transactions.append((moment, f"Refund: {line.name}", -line.net))
            if order.shipping:
                order.transactions.append((moment, f"Shipping refund: {order.shipping_method}", -order.shipping))

    def _vendor_name(self, status_id: int) -> str:
        """MsSuborderStatus::getSubStatusName: an id without a description shows the store's default *order*
        status name instead."""
        for name, sid in self.status_ids.items():
            if sid == status_id:
                return name
        return self.marketplace_statuses.get(DEFAULT_ORDER_STATUS_ID, "")

    def _status_id(self, name: str) -> int:
        if name not in self.status_ids:
            raise ValueError(f"unknown vendor status {name!r}; one of {list(self.status_ids)}")
        return self.status_ids[name]

    def _order(self, order_id: int) -> _Order:
        try:
            return self._orders[int(order_id)]
        except KeyError:
            raise KeyError(f"no order {order_id}") from None

    def _by_email(self, email: str) -> _Customer | None:
        email = email.strip().lower()
        return next((c for c in self._customers.values() if c.email.lower() == email), None)

    def _sender_name(self, order: _Order, sender_id: int) -> str:
        customer = self._customers.get(sender_id)
        if customer is not None and customer.seller and sender_id == order.seller_id:
            return customer.nickname
        return f"{order.buyer['firstname']} {order.buyer['lastname']}"

    def _conversation(self, order: _Order, sender_id: int, *, create: bool) -> _Conversation:
        key = (order.order_id, order.suborder_id)
        if key not in self._conversations and create:
            self._conversations[key] = _Conversation(*key, f"Inquiry about order: Order ID #{order.order_id}",
                                                     [order.customer_id, order.seller_id])
        return self._conversations[key]

    def _flow_comment(self, name: str) -> str:
        rng = self._rng
        if name == "SHIPPED":
            if rng.random() < 0.6:
                return f"Tracking: Econt {rng.randint(1_050_000_000_000, 1_059_999_999_999)}"  # 13 digits
            return f"Tracking: Speedy {rng.randint(61_000_000_000, 61_999_999_999)}"
        return rng.choice(FLOW_COMMENTS.get(name, ("",)))

    def _new_order(self, created: datetime, marketplace_status: str, *, seller_id: int | None, order_id: int | None,
                   suborder_id: int | None, buyer: dict[str, str] | None, lines: Iterable[dict[str, Any]] | None,
                   shipping: str | Decimal | None, payment_method: str | None,
                   shipping_method: str | None) -> _Order:
        rng = self._rng
        ids = {v: k for k, v in self.marketplace_statuses.items()}
        if marketplace_status not in ids:
            raise ValueError(f"unknown marketplace status {marketplace_status!r}; one of {sorted(ids)}")
        seller_id = self._first_seller_id if seller_id is None else seller_id
        if order_id is None:
            order_id = max(self._last_order_id, *self._orders, 0) + rng.randint(1, 4)
        if order_id in self._orders:
            raise ValueError(f"order {order_id} exists")
        self._last_order_id = max(self._last_order_id, order_id)
        used = {o.suborder_id for o in self._orders.values()}
        if suborder_id is None:
            suborder_id = max(self._last_suborder_id, *used, 0) + rng.randint(1, 3)
        if suborder_id in used:
            raise ValueError(f"suborder {suborder_id} exists")
        self._last_suborder_id = max(self._last_suborder_id, suborder_id)
        person = _random_buyer(rng)
        person.update(buyer or {})
        customer_id = rng.randint(1000, 99999)
        cod = marketplace_status == "COD"
        pay = payment_method or ("Cash On Delivery" if cod else rng.choice(("Credit / Debit Card", "Bank Transfer")))
        ship = shipping_method or rng.choice(SHIPPING_METHODS)
        if lines is None:
            picks = rng.sample(CATALOGUE, rng.choices((1, 2, 3), (6, 3, 1))[0])
            lines = [{"product_id": pid, "name": name, "model": model, "price": price,
                      "quantity": rng.choices((1, 2, 3), (8, 3, 1))[0],
                      "options": [opt] if opt and rng.random() < 0.7 else []}
                     for pid, name, model, price, opt in picks]
        built = []
        for spec in lines:
            self._last_product_line += rng.randint(1, 7)
            built.append(_Line(int(spec.get("product_id") or rng.randint(1000, 1999)), self._last_product_line,
                               self._last_product_line - 1200, str(spec["name"]), str(spec.get("model", "")),
                               int(spec.get("quantity", 1)), Decimal(str(spec["price"])),
                               [tuple(x) for x in spec.get("options", ())], self.commission_pct))
        if not built:
            raise ValueError("an order needs at least one line")
        self._last_invoice += 1
        order = _Order(
            order_id=order_id, suborder_id=suborder_id, seller_id=seller_id, customer_id=customer_id,
            buyer=person, lines=built,
            shipping=Decimal(str(shipping)) if shipping is not None else Decimal(rng.choice(SHIPPING_PRICES)),
            payment_method=pay, payment_code=PAYMENT_CODES.get(pay, "cod" if cod else "stripe"),
            shipping_method=ship, shipping_code=SHIPPING_CODES.get(ship, "econt.office"),
            comment=rng.choice(BUYER_COMMENTS), order_status_id=ids[marketplace_status],
            vendor_status_id=self._status_id(DEFAULT_VENDOR_STATUS), date_added=created, date_modified=created,
            invoice_no=self._last_invoice,
            ip=f"203.0.113.{rng.randint(1, 254)}",  # TEST-NET-3: never a real address
        )
        self._orders[order_id] = order
        return order

    def _seed_orders(self, count: int) -> None:
        now = self.clock()
        starts = sorted(now - timedelta(seconds=self._rng.uniform(3600, 30 * 86400)) for _ in range(count))
        for created in starts:
            marketplace = self._rng.choices(SEED_MARKETPLACE, SEED_MARKETPLACE_WEIGHTS)[0]
            vendor = {"Pending": "Pending", "Canceled": "Cancelled"}.get(marketplace) or \
                self._rng.choices(VENDOR_STATUSES, SEED_VENDOR_WEIGHTS)[0]
            order = self._new_order(created, marketplace, seller_id=None, order_id=None, suborder_id=None,
                                    buyer=None, lines=None, shipping=None, payment_method=None,
                                    shipping_method=None)
            path = _flow_to(vendor)
            span = (now - created).total_seconds()
            moments = sorted(created + timedelta(seconds=self._rng.uniform(600, max(601.0, span - 60)))
                             for _ in path)
            for name, moment in zip(path, moments, strict=True):
                self._apply(order, self._status_id(name), self._flow_comment(name), moment, mail=False)
            if marketplace in ("Canceled", "Payment Confirmed") and moments:
                order.date_modified = moments[0]
            if self._rng.random() < 0.25:
                sender = order.customer_id if self._rng.random() < 0.5 else order.seller_id
                text = self._rng.choice(BUYER_MESSAGES if sender == order.customer_id else SELLER_MESSAGES)
                self._conversation(order, sender, create=True).messages.append(
                    _Message(sender, text, created + timedelta(minutes=self._rng.randint(5, 600))))

    # -- rendering helpers --------------------------------------------------------------------------------------

    def _base(self) -> str:
        return (self.url if self._server is not None else f"http://{self.host}:{self.port}") + "/"

    def _link(self, route: str, **args: Any) -> str:
        """Url::link: the store's base, index.php?route=, arguments joined with &amp;."""
        return f"{self._base()}index.php?route={route}" + "".join(f"&amp;{k}={v}" for k, v in args.items())

    def _redirect(self, route: str) -> Response:
        return Response(302, headers=[("Location", self._link(route).replace("&amp;", "&"))])

    def _json(self, value: Any) -> Response:
        return Response(200, php_json(value).encode())  # served as text/html, as MultiMerch does

    def _html(self, title: str, body_class: str, content: str, session: _Session) -> Response:
        return Response(200, _page(self, title, body_class, content, session.customer_id is not None).encode())


ROUTES: dict[str, Callable[[ChopniSandbox, Request, _Session], Response]] = {
    "common/home": ChopniSandbox._home,
    "account/login": ChopniSandbox._login,
    "account/logout": ChopniSandbox._logout,
    "account/account": ChopniSandbox._account,
    "seller/account-profile": ChopniSandbox._profile,
    "seller/account-order": ChopniSandbox._order_list,
    "seller/account-order/getTableData": ChopniSandbox._table_data,
    "seller/account-order/viewOrder": ChopniSandbox._view_order,
    "seller/account-order/invoice": ChopniSandbox._invoice,
    "seller/account-order/jxAddHistory": ChopniSandbox._add_history,
    "multimerch/account_order/sellerOrderConversation": ChopniSandbox._conversation_fragment,
    "account/msmessage/jxSendOrderMessage": ChopniSandbox._send_message,
}


def _status_ids(given: dict[str, int] | None, rng: random.Random) -> dict[str, int]:
    if given is None:
        return dict(zip(VENDOR_STATUSES, rng.sample(range(1, 41), len(VENDOR_STATUSES)), strict=True))
    missing = [name for name in VENDOR_STATUSES if name not in given]
    if missing:
        raise ValueError(f"status_ids lacks {missing}")
    ids = {name: int(sid) for name, sid in given.items()}
    if len(set(ids.values())) != len(ids) or min(ids.values()) < 1:
        raise ValueError("status ids must be distinct positive integers")
    return ids


def _flow_to(name: str) -> tuple[str, ...]:
    """The manual's steps that lead to a vendor status (Pending is where a suborder starts: no history row)."""
    flows = {"Pending": (), "PROCESSING": ("PROCESSING",), "SHIPPED": ("PROCESSING", "SHIPPED"),
             "COMPLETE": ("PROCESSING", "SHIPPED", "COMPLETE"),
             "refunded": ("PROCESSING", "SHIPPED", "COMPLETE", "refunded"),
             "Cancelled": ("Cancelled",), "Failed": ("PROCESSING", "Failed")}
    return flows.get(name, (name,))


def _with_total_rows(row: dict[str, Any], total: str) -> dict[str, Any]:
    """total_rows is set on the first raw row before the overlay, so it sits between "1" and the new keys."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        out[key] = value
        if key == "1":
            out["total_rows"] = total
    return out


def _column(order: _Order, column: str) -> str:
    """What a LIKE filter reads for a column (reference §4.2)."""
    if column == "order_id":
        return str(order.order_id)
    if column == "firstname":
        return order.buyer["firstname"]
    if column == "o.date_added":
        return stamp(order.date_added)
    if column == "total_amount":
        return dec4(order.net)  # the raw net sum, shipping not included
    return ",".join(esc(line.name) for line in order.lines)  # products: GROUP_CONCAT(name)


def _sort_key(order: _Order, column: str) -> Any:
    if column == "firstname":
        return order.buyer["firstname"].casefold()
    if column == "o.date_added":
        return order.date_added
    if column == "total_amount":
        return order.net
    return order.order_id


# -- markup (our own rendering of the stock templates' structure) --------------------------------------------------

def _page(sb: ChopniSandbox, title: str, body_class: str, content: str, logged_in: bool) -> str:
    base = sb._base()
    account = (f'<li><a href="{sb._link("account/account")}">My Account</a></li>'
               f'<li><a href="{sb._link("seller/account-order")}">Orders</a></li>'
               f'<li><a href="{sb._link("account/logout")}">Logout</a></li>') if logged_in else (
               f'<li><a href="{sb._link("account/register")}">Register</a></li>'
               f'<li><a href="{sb._link("account/login")}">Login</a></li>')
    return f"""<!DOCTYPE html>
<!--[if IE]><![endif]-->
<html dir="ltr" lang="en">
<head>
<meta charset="UTF-8" />
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="X-UA-Compatible" content="IE=edge">
<title>{esc(title)}</title>
<base href="{base}" />
<script src="catalog/view/javascript/jquery/jquery-2.1.1.min.js" type="text/javascript"></script>
<link href="catalog/view/javascript/bootstrap/css/bootstrap.min.css" rel="stylesheet" media="screen" />
<script src="catalog/view/javascript/bootstrap/js/bootstrap.min.js" type="text/javascript"></script>
<link href="catalog/view/javascript/font-awesome/css/font-awesome.min.css" rel="stylesheet" type="text/css" />
<link href="catalog/view/theme/default/stylesheet/stylesheet.css" rel="stylesheet">
<link href="catalog/view/theme/default/stylesheet/multiseller.css" rel="stylesheet" media="screen" />
<script src="catalog/view/javascript/common.js" type="text/javascript"></script>
</head>
<body class="{body_class}">
<nav id="top">
  <div class="container">
    <div id="top-links" class="nav pull-right">
      <ul class="list-inline">
        <li class="dropdown"><a href="{sb._link("account/account")}" title="My Account" class="dropdown-toggle" data-toggle="dropdown"><i class="fa fa-user"></i> <span class="hidden-xs hidden-sm hidden-md">My Account</span> <span class="caret"></span></a>
          <ul class="dropdown-menu dropdown-menu-right">{account}</ul>
        </li>
      </ul>
    </div>
  </div>
</nav>
<header>
  <div class="container">
    <div class="row">
      <div class="col-sm-4"><div id="logo"><a href="{sb._link("common/home")}"><img src="image/catalog/logo.png" title="{STORE_NAME}" alt="{STORE_NAME}" class="img-responsive" /></a></div></div>
    </div>
  </div>
</header>
{content}<footer>
  <div class="container">
    <hr>
    <p>{STORE_NAME} &copy; 2024</p>
  </div>
</footer>
</body></html>
"""


def _breadcrumbs(sb: ChopniSandbox, *crumbs: tuple[str, str]) -> str:
    items = [f'<li><a href="{sb._link("common/home")}"><i class="fa fa-home"></i></a></li>']
    items += [f'<li><a href="{sb._link(route)}">{text}</a></li>' for route, text in crumbs]
    return '  <ul class="breadcrumb">\n' + "\n".join("    " + i for i in items) + "\n  </ul>\n"


def _login_page(sb: ChopniSandbox, error: str, form: dict[str, str], redirect: str) -> str:
    alert = (f'  <div class="alert alert-danger"><i class="fa fa-exclamation-circle"></i> {esc(error)}</div>\n'
             if error else "")
    hidden = (f'\n              <input type="hidden" name="redirect" value="{redirect}" />'
              if redirect else "")
    return ('<div class="container">\n'
            + _breadcrumbs(sb, ("account/account", "Account"), ("account/login", "Login")) + alert +
            f"""  <div class="row">
    <div id="content" class="col-sm-12">
      <div class="row">
        <div class="col-sm-6">
          <div class="well">
            <h2>New Customer</h2>
            <p><strong>Register Customer Account</strong></p>
            <p>By creating an account you will be able to shop faster, be up to date on an order's status, and keep track of the orders you have previously made.</p>
            <a href="{sb._link("account/register")}" class="btn btn-primary">Continue</a></div>
        </div>
        <div class="col-sm-6">
          <div class="well">
            <h2>Account Login</h2>
            <p><strong> </strong></p>
            <form action="{sb._link("account/login")}" method="post" enctype="multipart/form-data">
              <div class="form-group">
                <label class="control-label" for="input-email">E-Mail Address</label>
                <input type="text" name="email" value="{esc(form.get("email", ""))}" placeholder="E-Mail Address" id="input-email" class="form-control" />
              </div>
              <div class="form-group">
                <label class="control-label" for="input-password">Password</label>
                <input type="password" name="password" value="{esc(form.get("password", ""))}" placeholder="Password" id="input-password" class="form-control" />
                <a href="{sb._link("account/forgotten")}">Forgotten Password</a></div>
              <input type="submit" value="Login" class="btn btn-primary" />{hidden}
            </form>
          </div>
        </div>
      </div>
    </div>
  </div>
</div>
""")


def _list_page(sb: ChopniSandbox) -> str:
    return ('<div class="container">\n'
            + _breadcrumbs(sb, ("account/account", "Account"), ("seller/account-order", "Your Orders")) +
            """  <div class="row">
    <div id="content" class="col-sm-12 ms-account-dashboard">
      <div class="mm_dashboard">
        <h1><i class="fa fa-shopping-cart"></i>Your Orders</h1>
        <div class="table-responsive">
          <table class="mm_dashboard_table table table-borderless table-hover" id="mm_orders">
            <thead>
              <tr>
                <td class="mm_size_tiny">#</td>
                <td class="mm_size_small">Status</td>
                <td class="mm_size_medium">Date</td>
                <td class="mm_size_large">Customer</td>
                <td>Products</td>
                <td class="mm_size_small">Total</td>
                <td class="mm_size_small"></td>
              </tr>
              <tr class="filter">
                <td></td>
                <td><input type="text"/></td>
                <td><input type="text" class="input-date-datepicker"/></td>
                <td><input type="text" /></td>
                <td><input type="text"/></td>
                <td><input type="text"/></td>
                <td></td>
              </tr>
            </thead>
            <tbody></tbody>
          </table>
        </div>
      </div>
    </div>
  </div>
</div>
<script>
  $(function() {
    $('#mm_orders').dataTable( {
      "sAjaxSource": $('base').attr('href') + "index.php?route=seller/account-order/getTableData",
      "aoColumns": [
        { "mData": "order_id" },
        { "mData": "suborder_status", "bSortable": false },
        { "mData": "date_created" },
        { "mData": "customer_name" },
        { "mData": "products", "bSortable": false, "sClass": "products" },
        { "mData": "total_amount" },
        { "mData": "view_order", "bSortable": false, "sClass": "action" }
      ],
      "aaSorting":  [[4,'desc']]
    });
  });
</script>
""")


def _products_fragment(sb: ChopniSandbox, order: _Order) -> str:
    """The list's products cell: one paragraph per line (note the single quotes, as MultiMerch writes them)."""
    out = []
    for line in order.lines:
        count = f"{line.quantity} x " if line.quantity > 1 else ""
        href = sb._link("product/product", product_id=line.product_id)
        part = f"<p style='text-align:left'><span class='name'>{count}<a href='{href}'>{esc(line.name)}</a></span>"
        for name, value in line.options:
            value = value if len(value) <= 20 else value[:20] + ".."
            part += f"<br /><small> - {esc(name)} : {esc(value)} </small>"
        # seller's net + per-line shipping; the sandbox keeps shipping at the seller level, so 0 here (inferred)
        part += f"<span class='total'>{money(line.net)}</span></p>"
        out.append(part)
    return "".join(out)


def _address(order: _Order) -> str:
    b = order.buyer
    parts = [f"{esc(b['firstname'])} {esc(b['lastname'])}<br />"]
    parts += [f"{esc(b[k])}<br />" for k in ("company", "address_1", "address_2") if b.get(k)]
    parts.append(f"{esc(b['city'])} {esc(b['postcode'])}<br />")
    parts += [f"{esc(b[k])}<br />" for k in ("zone", "country", "telephone") if b.get(k)]
    return "\n".join("                " + p for p in parts)


def _order_page(sb: ChopniSandbox, o: _Order) -> str:
    status = sb.marketplace_statuses.get(o.order_status_id, "")
    products = "\n".join(
        "            <tr>\n"
        f'              <td class="text-left"><a href="{sb._link("product/product", product_id=line.product_id)}">'
        f"{esc(line.name)}</a>"
        + "".join(f"\n                <br />\n                &nbsp;<small> - {esc(n)}: {esc(v)}</small>"
                  for n, v in line.options) + "</td>\n"
        f'              <td class="left">{esc(line.model)}</td>\n'
        f'              <td class="right">{line.quantity}</td>\n'
        f'              <td class="right">{money(line.price)}</td>\n'
        f'              <td class="right">{money(line.total)}</td>\n'
        "            </tr>" for line in o.lines)
    # Sub-Total is the seller's net (commission deducted); the info icon only shows when the whole order's
    # sub-total differs from this seller's lines (stock logic: a multi-seller order), never for a single seller.
    totals = [("Sub-Total", money(o.net)), ("Shipping", money(o.shipping)), ("Total", money(o.net + o.shipping))]
    tfoot = "\n".join("            <tr>\n              <td colspan=\"3\"></td>\n"
                      f"              <td><b>{title}</b></td>\n              <td>{text}</td>\n            </tr>"
                      for title, text in totals)
    if o.transactions:
        transactions = "\n".join(
            "            <tr>\n"
            f'              <td class="col-sm-3">{short_date(d)}</td>\n'
            f'              <td class="col-sm-6">{esc(text if len(text) <= 80 else text[:80] + "...")}</td>\n'
            f'              <td class="col-sm-3">{money(amount)}</td>\n'
            "            </tr>" for d, text, amount in o.transactions)
    else:  # stock markup: the placeholder cell sits in tbody without a row
        transactions = (f'            <td colspan="3" style="padding: 25px;border: 1px solid #e8e8e8;">'
                        f"{NO_TRANSACTIONS}</td>")
    if o.history:
        history = "\n".join(
            "            <tr>\n"
            f'              <td class="col-md-3">{short_date(d)}</td>\n'
            f'              <td class="col-md-6">{nl2br(comment)}</td>\n'
            f'              <td class="col-md-3">{esc(sb._vendor_name(sid))}</td>\n'
            "            </tr>" for d, comment, sid in o.history)
    else:
        history = f'            <td colspan="3" style="padding: 25px;border: 1px solid #e8e8e8;">{NO_HISTORY}</td>'
    options = "\n".join(f'                  <option value="{sid}">{esc(name)}</option>'
                        for name, sid in sorted(sb.status_ids.items(), key=lambda kv: kv[1]))
    ship_head = '<td class="left">Delivery Address</td>' if o.buyer.get("address_1") else ""
    ship_cell = f'\n              <td class="left">\n{_address(o)}\n              </td>' if ship_head else ""
    return ('<div class="container ms-account-order-info">\n'
            + _breadcrumbs(sb, ("account/account", "Account"), ("seller/account-order", "Your Orders")) +
            f"""  <div class="row">
    <div id="content" class="col-sm-12">
      <div class="panel panel-default">
        <div class="panel-heading">
          <h3 class="panel-title"><i class="fa fa-book"></i> Order Details</h3>
        </div>
        <table class="table table-responsive table-bordered">
          <tbody>
            <tr>
              <td style="width: 50%;"><b>Marketplace order status: {esc(status)}</b><br />
                <b>Invoice No.:</b> INV-2024-00{o.invoice_no}<br />
                <b>Order ID:</b> #{o.order_id}-{o.suborder_id}<br />
                <b>Date Added:</b> {short_date(o.date_added)}</td>
              <td style="width: 50%;"><b>Payment Method:</b> {esc(o.payment_method)}<br />
                <b>Fulfillment Method:</b> {esc(o.shipping_method)}</td>
            </tr>
          </tbody>
        </table>
      </div>
      <div class="panel panel-default">
        <div class="panel-heading">
          <h3 class="panel-title"><i class="fa fa-map-marker"></i> Addresses</h3>
        </div>
        <table class="table table-responsive table-bordered">
          <thead>
            <tr>
              <td class="left">Payment Address</td>
              {ship_head}
            </tr>
          </thead>
          <tbody>
            <tr>
              <td class="left">
{_address(o)}
              </td>{ship_cell}
            </tr>
          </tbody>
        </table>
      </div>
      <div class="panel panel-default">
        <div class="panel-heading">
          <h3 class="panel-title"><i class="fa fa-shopping-cart"></i> Products</h3>
        </div>
        <table class="table table-responsive table-bordered text-center">
          <thead>
            <tr>
              <td class="left">Product Name</td>
              <td class="left">Model</td>
              <td class="right">Quantity</td>
              <td class="right">Price</td>
              <td class="right">Total</td>
            </tr>
          </thead>
          <tbody>
{products}
          </tbody>
          <tfoot style="text-align: center;">
{tfoot}
          </tfoot>
        </table>
      </div>
      <div class="panel panel-default">
        <div class="panel-heading">
          <h3 class="panel-title"><i class="fa fa-money"></i> Transactions</h3>
        </div>
        <table class="table table-responsive table-bordered text-center">
          <thead>
            <tr>
              <td>Date</td>
              <td>Description</td>
              <td>Amount</td>
            </tr>
          </thead>
          <tbody>
{transactions}
          </tbody>
        </table>
      </div>
      <div class="panel panel-default">
        <div class="panel-heading">
          <h3 class="panel-title"><i class="fa fa-history"></i> Order status history</h3>
        </div>
        <table class="table table-responsive table-bordered text-center">
          <thead>
            <tr>
              <td class="col-md-3">Date added</td>
              <td class="col-md-6">Comment</td>
              <td class="col-md-3">Status</td>
            </tr>
          </thead>
          <tbody>
{history}
          </tbody>
          <tfoot>
            <tr>
              <td>Change order status</td>
              <td>
                <input type="hidden" name="suborder_id" id="suborder_id" value="{o.suborder_id}" />
                <textarea class="form-control" name="order_comment" id="order_comment" placeholder="{ADD_COMMENT}" rows="3"></textarea>
              </td>
              <td>
                <select name="order_status" id="order_status" class="form-control">
                  <option value="0" disabled="disabled" selected="selected">{SELECT_NEW_STATUS}</option>
{options}
                </select>
                <button style="width: 100%; margin-top: 5px;" type="button" id="button-history" data-loading-text="Loading..." class="btn btn-primary" disabled="disabled"><i class="fa fa-plus-circle"></i> Change order status</button>
              </td>
            </tr>
          </tfoot>
        </table>
      </div>
      <div id="seller_history"></div>
      <script>
        $('#seller_history').load('index.php?route=multimerch/account_order/sellerOrderConversation&order_id={o.order_id}&seller_id={o.seller_id}');
      </script>
      <div class="buttons">
        <div class="pull-left"><a href="{sb._link("seller/account-order")}" class="btn btn-default"><span>Back</span></a></div>
      </div>
    </div>
  </div>
</div>
<script type="text/javascript">
  $(function() {{
    $('#order_status').change(function() {{
      $('#button-history').attr('disabled', $(this).val() !== 0 ? false : true);
    }});
    $("#button-history").click(function() {{
      $.ajax({{
        type: "POST",
        dataType: "json",
        url: $('base').attr('href') + 'index.php?route=seller/account-order/jxAddHistory',
        data: $("#order_comment,#order_status,#suborder_id").serialize(),
        success: function() {{ window.location.reload(); }},
        error: function() {{ window.location.reload(); }}
      }});
    }});
  }});
</script>
""")


def _conversation_panel(sb: ChopniSandbox, o: _Order) -> str:
    conversation = sb._conversations.get((o.order_id, o.suborder_id))
    messages = conversation.messages if conversation else []
    buyer = f"{o.buyer['firstname']} {o.buyer['lastname']}"
    heading = f"Conversation with {buyer}" if messages else f"Start a new conversation with customer {buyer}"
    items = []
    for m in messages:
        kind = "seller" if m.sender_id == o.seller_id else ""
        sender = sb._sender_name(o, m.sender_id)
        sender = sender if len(sender) <= 20 else sender[:20] + ".."
        items.append(f"""          <div class="row ms-message {kind}">
            <div class="col-sm-12 ms-message-body">
              <div class="title">
                {esc(ucwords(sender))}
                <span class="date">{long_stamp(m.date)}</span>
              </div>
              <div class="body">
                {nl2br(m.text)}
              </div>
            </div>
          </div>""")
    body = "\n".join(items)
    return f"""<div class="panel panel-default">
  <div class="panel-heading">
    <h3 class="panel-title"><i class="fa fa-envelope"></i> {esc(heading)}</h3>
  </div>
  <div class="panel-body">
    <div class="ms-messages">
{body}
    </div>
    <div class="row ms-message-form">
      <form id="ms-message-form{o.suborder_id}" class="ms-form form-horizontal">
        <input type="hidden" name="order_id" value="{o.order_id}" />
        <input type="hidden" name="suborder_id" value="{o.suborder_id}" />
        <input type="hidden" name="seller_id" value="{o.seller_id}" />
        <div class="col-sm-10">
          <textarea class="form-control ms-message-text" rows="5" cols="50" name="ms-message-text" placeholder="Enter your message..."></textarea>
          <div class="list">
            <ul class="attachments"></ul>
          </div>
        </div>
        <div class="col-sm-2">
          <div class="buttons text-center">
            <button type="button" class="btn btn-default ms-message-upload"><i class="fa fa-upload"></i> Upload File</button>
            <button data-suborder_id="{o.suborder_id}" type="button" class="btn btn-primary ms-order-message">Send message</button>
          </div>
        </div>
      </form>
    </div>
  </div>
</div>
"""


def _invoice_page(sb: ChopniSandbox, o: _Order, seller: _Customer) -> str:
    rows = "\n".join(f"<tr><td>{esc(line.name)}</td><td>{esc(line.model)}</td><td>{line.quantity}</td>"
                     f"<td>{money(line.price)}</td><td>{money(line.total)}</td></tr>" for line in o.lines)
    b = o.buyer
    return f"""<!DOCTYPE html>
<html dir="ltr" lang="en">
<head><meta charset="UTF-8" /><title>Order Invoice</title><base href="{sb._base()}" /></head>
<body>
<div class="container">
  <h1>Order Invoice #{o.order_id}</h1>
  <p><b>{esc(seller.nickname)}</b></p>
  <p><b>Date Added:</b> {short_date(o.date_added)}<br /><b>Invoice No.:</b> INV-2024-00{o.invoice_no}</p>
  <p>{esc(b['firstname'])} {esc(b['lastname'])}<br />{esc(b['address_1'])}<br />{esc(b['city'])} {esc(b['postcode'])}<br />{esc(b['country'])}</p>
  <table class="table table-bordered">
    <thead><tr><td>Product Name</td><td>Model</td><td>Quantity</td><td>Price</td><td>Total</td></tr></thead>
    <tbody>
{rows}
    </tbody>
    <tfoot>
      <tr><td colspan="4"><b>Sub-Total</b></td><td>{money(o.net)}</td></tr>
      <tr><td colspan="4"><b>Shipping</b></td><td>{money(o.shipping)}</td></tr>
      <tr><td colspan="4"><b>Total</b></td><td>{money(o.net + o.shipping)}</td></tr>
    </tfoot>
  </table>
</div>
</body>
</html>
"""


def _not_found(base: str) -> Response:
    body = (f'<!DOCTYPE html>\n<html dir="ltr" lang="en">\n<head><meta charset="UTF-8" />'
            f'<title>The page you requested cannot be found!</title><base href="{base}" /></head>\n'
            '<body class="error-not_found">\n<div class="container">\n  <div class="row">\n'
            '    <div id="content" class="col-sm-12">\n      <h1>The page you requested cannot be found!</h1>\n'
            '      <p>The page you requested cannot be found.</p>\n    </div>\n  </div>\n</div>\n</body></html>\n')
    return Response(404, body.encode())


# -- realistic seeded data ----------------------------------------------------------------------------------------

SEED_MARKETPLACE = ("PROCESSED", "Payment Confirmed", "COD", "Pending", "Canceled")
SEED_MARKETPLACE_WEIGHTS = (55, 20, 15, 5, 5)
SEED_VENDOR_WEIGHTS = (3, 3, 3, 5, 1, 1, 0.5)  # in VENDOR_STATUSES' order

FLOW_COMMENTS = {
    "PROCESSING": ("", "Thank you for your order! We are preparing it.", "Preparing your order, ships within 2 days.",
                   "Handmade to order: ready in 3 working days."),
    "COMPLETE": ("", "Delivered.", "The parcel was collected from the office."),
    "refunded": ("refunded: full amount returned to the card", "exchanged: sent a replacement in another size",
                 "refunded: the buyer returned one item"),
    "Cancelled": ("Out of stock, sorry.", "Cancelled at the buyer's request."),
    # Stock MultiMerch's "Failed" (id 5, STATE_FAILED) is an order that failed before fulfilment, beside
    # Cancelled; a parcel the courier could not deliver is a carrier event, not a vendor status.
    "Failed": ("We could not fulfil this order.", "The order could not be completed, sorry."),
}
BUYER_COMMENTS = ("", "", "", "Please call before delivery.", "Gift wrapping, please.", "Deliver after 18:00.")
BUYER_MESSAGES = ("Hello, when will my order be shipped?", "Can you send it with Speedy instead?",
                  "Здравейте, може ли доставка до офис на Еконт?")
SELLER_MESSAGES = ("Hello, thank you for your order! It will be shipped tomorrow.",
                   "Hello, the item in your colour is being made, it takes two more days.")

FIRST_NAMES = {
    "Bulgaria": ("Ivan", "Maria", "Georgi", "Elena", "Dimitar", "Petya", "Nikolay", "Desislava", "Иван", "Мария",
                 "Георги", "Радост"),
    "Romania": ("Andrei", "Ioana", "Mihai", "Elena", "Alexandru", "Ana-Maria", "Bogdan", "Cristina"),
}
LAST_NAMES = {
    "Bulgaria": ("Testov", "Primerov", "Ivanova", "Georgiev", "Dimitrova", "Petrov", "Тестов", "Примерова"),
    "Romania": ("Exemplu", "Popescu-Test", "Ionescu", "Testoiu", "Dumitru", "Radu"),
}
CITIES = {
    "Bulgaria": (("Sofia", "1000", "Sofia - town"), ("Plovdiv", "4000", "Plovdiv"), ("Varna", "9000", "Varna"),
                 ("Burgas", "8000", "Burgas"), ("Ruse", "7000", "Ruse"), ("Veliko Tarnovo", "5000", "Veliko Tarnovo")),
    "Romania": (("Bucharest", "010011", "Bucuresti"), ("Cluj-Napoca", "400000", "Cluj"), ("Iasi", "700000", "Iasi"),
                ("Timisoara", "300000", "Timis"), ("Constanta", "900000", "Constanta")),
}
STREETS = {"Bulgaria": ("ul. Primerna", "bul. Testov", "ul. Rakovski", "ul. Vitosha"),
           "Romania": ("Str. Exemplului", "Bd. Testului", "Str. Lunga", "Str. Florilor")}
PHONES = {"Bulgaria": "+359 88 000 {:04d}", "Romania": "+40 700 000 {:03d}"}
COUNTRY_IDS = {"Bulgaria": "33", "Romania": "175"}
ACCEPT_LANGUAGE = {"Bulgaria": "bg-BG,bg;q=0.9,en;q=0.8", "Romania": "ro-RO,ro;q=0.9,en;q=0.8"}
USER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/122.0.0.0 Safari/537.36")

SHIPPING_METHODS = ("Econt - to office", "Econt - to address", "Speedy - to office", "Speedy - to address")
SHIPPING_CODES = {"Econt - to office": "econt.office", "Econt - to address": "econt.address",
                  "Speedy - to office": "speedy.office", "Speedy - to address": "speedy.address"}
SHIPPING_PRICES = ("4.90", "5.90", "6.90", "8.50", "13.90")
PAYMENT_CODES = {"Credit / Debit Card": "stripe", "Bank Transfer": "bank_transfer", "Cash On Delivery": "cod"}

CATALOGUE = (  # product id, name, model, price (EUR), an option a buyer may pick
    (1187, 'Ceramic mug "Rila" 350 ml', "MUG-RILA-350", "18.50", ("Colour", "Cobalt blue")),
    (1203, "Linen tablecloth 140x180 cm", "LIN-TC-140", "79.00", ("Colour", "Natural")),
    (1142, "Rose oil soap 100 g", "SOAP-ROSE-100", "6.50", None),
    (1151, "Lavender sachet", "SACH-LAV", "4.90", None),
    (1098, "Walnut cutting board 35x25 cm", "BRD-WAL-35", "45.00", ("Engraving", "Initials on the back side")),
    (1220, "Handmade leather wallet", "WAL-LTH-01", "39.90", ("Colour", "Cognac")),
    (1231, "Embroidered blouse (shevitsa)", "BLS-SHV-02", "64.00", ("Size", "M")),
    (1075, "Acacia honey 500 g", "HNY-ACA-500", "9.80", None),
    (1260, "Copper cezve 300 ml", "CZV-CU-300", "27.50", None),
    (1266, "Wool socks, hand-knitted", "SCK-WOOL", "14.00", ("Size", "39-41")),
)


def _random_buyer(rng: random.Random) -> dict[str, str]:
    country = "Bulgaria" if rng.random() < 0.7 else "Romania"
    city, postcode, zone = rng.choice(CITIES[country])
    number = rng.randint(1, 999)
    return {
        "firstname": rng.choice(FIRST_NAMES[country]), "lastname": rng.choice(LAST_NAMES[country]),
        "email": f"buyer{rng.randint(1000, 99999)}@example.com",
        "telephone": PHONES[country].format(number), "company": "",
        "address_1": f"{rng.choice(STREETS[country])} {rng.randint(1, 120)}",
        "address_2": rng.choice(("", "", f"ap. {rng.randint(1, 40)}")),
        "city": city, "postcode": postcode, "zone": zone, "country": country,
    }


# -- HTTP ---------------------------------------------------------------------------------------------------------

HTML_TYPE = "text/html; charset=utf-8"
# session_start()'s nocache limiter, on every OpenCart page
NO_CACHE = [("Expires", "Thu, 19 Nov 1981 08:52:00 GMT"), ("Cache-Control", "no-store, no-cache, must-revalidate"),
            ("Pragma", "no-cache")]


class _Handler(SandboxHandler):
    # A web site, not an API: every answer (nginx's error pages and JSON too: MultiMerch sets no header of its own)
    # is text/html with a charset, and a HEAD gets the headers alone.
    error_type = HTML_TYPE
    body_on_head = False

    def serve(self) -> None:
        sandbox: ChopniSandbox = self.server.sandbox  # type: ignore[attr-defined]
        path, query, headers = self.split_request()
        raw = self.read_body()
        request = Request(self.command, path, query.get("route", "common/home"), query,
                          _parse_form(raw, self.headers.get("Content-Type", "")),
                          headers, _cookies(self.headers.get_all("Cookie")))
        # Drawn on the route, not the path: index.php is the site's only path.
        fault = sandbox.faults.draw(request.method, request.route)
        sandbox.record(request)
        if self.common_fault(fault):
            return
        kind = fault.kind if fault else None
        if kind == "expire_token":
            sandbox.expire_sessions()
        response = sandbox.dispatch(request)
        # Not send_json's cut: an HTML page or a redirect is cut too, and keeps its status.
        if kind == "malformed" and response.body:
            response.body = response.body[: len(response.body) // 2]
        self.send(response.status, response.body, HTML_TYPE, response.headers)


ChopniSandbox.handler = _Handler


def _parse_form(raw: bytes, content_type: str) -> dict[str, str]:
    """A urlencoded or multipart form (the login page posts multipart), last value of each field."""
    if not raw:
        return {}
    if content_type.startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        form = {}
        for part in message.iter_parts() if message.is_multipart() else ():
            name = part.get_param("name", header="content-disposition")
            if name:
                form[str(name)] = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
        return form
    return {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}


def _cookies(headers: list[str] | None) -> dict[str, str]:
    jar: dict[str, str] = {}
    for header in headers or ():
        for part in header.split(";"):
            name, sep, value = part.strip().partition("=")
            if sep:
                jar.setdefault(name, value)
    return jar


# -- command line ---------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = sandbox_parser(
        "python -m adapters.chopni.sandbox",
        "Run a fake Chopni seller panel (OpenCart 2.3 + MultiMerch 8.14) in the foreground (Ctrl-C stops it). Point "
        "the connector's Chopni account at the printed URL and log in with the printed e-mail and password.", 8082,
        kinds=FAULT_KINDS, seeded="orders, status ids")
    parser.add_argument("--orders", type=int, default=20, help="how many realistic orders to seed for the seller "
                        "(default: %(default)s)")
    parser.add_argument("--email", default="shop@example.com", help="the seller's login e-mail "
                        "(default: %(default)s)")
    parser.add_argument("--password", default="password", help="the seller's password (default: %(default)s)")
    parser.add_argument("--nickname", default="Test Shop", help="the seller's shop name (default: %(default)s)")
    parser.add_argument("--session-ttl", type=int, default=1800, help="seconds an idle session lives "
                        "(default: %(default)s)")
    parser.add_argument("--page-size-cap", type=int, default=100, help="largest iDisplayLength honoured; a request "
                        "without iDisplayLength still gets every order (default: %(default)s)")
    args = parser.parse_args(argv)

    sandbox = ChopniSandbox(host=args.host, port=args.port, seed=args.seed, orders=args.orders,
                            page_size_cap=args.page_size_cap, session_ttl=args.session_ttl)
    seller_id = sandbox.add_seller(args.email, args.password, nickname=args.nickname)
    return serve_from_args(sandbox, parser, args, [
        f"Chopni sandbox on {{url}} with {args.orders} orders",
        f"  e-mail: {args.email}   password: {args.password}   seller id: {seller_id}",
        "  vendor status ids: " + ", ".join(f"{k}={v}" for k, v in sandbox.status_ids.items()),
    ])


if __name__ == "__main__":
    raise SystemExit(main())
