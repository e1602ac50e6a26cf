"""A faithful fake of the Rozetka Seller API on 127.0.0.1, for `connector demo`, tests and benchmarks.

It speaks the wire format of the shared reference (shared/reference/rozetka-seller-api.md) and of the cassettes in
tests/cassettes/rozetka: the success/errors envelope, HTTP 401 for stale tokens, HTTP 200 + ``success: false`` for
business errors, ``/orders/search`` with its filters, ``expand`` and ``_meta``, the ``PUT /orders/{id}`` transition
rules, and the order chat. Fault switches imitate what the real API does on a bad day.

Where the reference is silent the sandbox does what the real API most plausibly does; each such place says
"inferred" in a comment.

Run it in the foreground: ``python -m adapters.rozetka.sandbox --help``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import math
import random
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from adapters.sandbox import (
    INVALID_BODY,
    FaultSwitches,
    JsonApiHandler,
    JsonRequest,
    OrderBook,
    Sandbox,
    parse_json_body,
    sandbox_parser,
    serve_from_args,
)

KYIV = ZoneInfo("Europe/Kyiv")
STAMP = "%Y-%m-%d %H:%M:%S"  # every timestamp on the wire: Kyiv wall-clock time (reference §8)

# -- statuses (reference §5): id → (Ukrainian cabinet name, English gloss, status_group) ---------------------------
# Groups: 1 in processing, 2 successful, 3 unsuccessful. The reference gives no Russian names, so ``name`` repeats
# ``name_uk`` (the cassettes show Russian there; clients read name_uk).
STATUSES: dict[int, tuple[str, str, int]] = {
    1: ("Нове замовлення", "New order", 1),
    2: ("Комплектується. Дані підтверджені", "Being packed, data confirmed", 1),
    3: ("Передано до служби доставки", "Handed to the carrier", 1),
    4: ("Доставляється", "In delivery", 1),
    5: ("Очікує в пункті самовивозу", "Waiting at pickup point", 1),
    6: ("Посилку отримано", "Completed, parcel received", 2),
    7: ("Не оброблено продавцем протягом дня", "Not processed by seller within a day", 3),
    10: ("Відправлення протерміновано", "Shipment overdue", 3),
    11: ("Не забрано посилку", "Buyer did not collect", 3),
    12: ("Відмова від товару", "Refused on receipt", 3),
    13: ("Скасовано Адміністратором", "Cancelled by Rozetka admin", 3),
    15: ("Некоректний ТТН", "Invalid TTN", 1),
    16: ("Немає в наявності / брак", "Out of stock / defect", 3),
    17: ("Скасування. Не влаштовує оплата", "Cancelled: payment terms", 3),
    18: ("Скасування. Не вдалося зв'язатися з покупцем", "Cancelled: buyer unreachable", 3),
    19: ("Повернення", "Returned", 3),
    20: ("Товар не підходить за характеристиками", "Cancelled: product specs unsuitable", 3),
    24: ("Скасування. Не влаштовує доставка", "Cancelled: delivery unsuitable", 3),
    25: ("Тестове замовлення", "Test order", 3),
    26: ("Обробляється менеджером", "Being processed by manager", 1),
    27: ("Вимагає доукомплектації", "Needs completion of the set", 1),
    28: ("Некоректні контактні дані", "Cancelled: wrong contact data", 3),
    29: ("Скасування. Некоректна ціна на сайті", "Cancelled: price changed or wrong", 3),
    30: ("Закінчився термін резерву", "Reserve expired", 3),
    31: ("Скасування. Замовлення відновлено", "Cancelled: duplicate created / restored", 3),
    32: ("Скасування. Не влаштовує розгрупування замовлення", "Cancelled: order split unsuitable", 3),
    33: ("Скасування. Не влаштовує вартість доставки", "Cancelled: delivery terms or cost", 3),
    34: ("Скасування. Не влаштовує перевізник, спосіб доставки", "Cancelled: carrier or method", 3),
    35: ("Скасування. Не влаштовує термін доставки", "Cancelled: delivery time", 3),
    36: ("Скасування. Клієнт хоче безготівкову оплату", "Cancelled: buyer wants invoice payment", 3),
    37: ("Передоплата не влаштовує", "Cancelled: prepayment unacceptable", 3),
    38: ("Скасування. Не влаштовує якість товару", "Cancelled: product or quality", 3),
    39: ("Скасування. Не підійшли характеристики товару (колір, розмір)", "Cancelled: colour or size", 3),
    40: ("Клієнт передумав", "Cancelled: buyer changed mind", 3),
    41: ("Скасування. Придбав на іншому сайті", "Cancelled: bought elsewhere", 3),
    42: ("Немає в наявності", "Cancelled: out of stock", 3),
    43: ("Брак", "Cancelled: defect", 3),
    44: ("Скасування. Фейкове замовлення", "Cancelled: fake order", 3),
    45: ("Скасовано покупцем", "Cancelled by buyer", 3),
    46: ("Відновлено під час продзвонювання", "Restored during call", 2),
    47: ("Планується повторний дзвінок", "Call-back scheduled", 1),
    49: ("Скасування. Дубль замовлення", "Cancelled: duplicate", 3),
    50: ("Клієнт не оплатив", "Buyer did not pay", 3),
    51: ("У кредиті відмовлено", "Credit refused", 3),
    52: ("Нове замовлення за 1 клік", "New one-click order", 1),
    53: ("Очікує підтвердження клієнтом", "Awaiting buyer confirmation", 1),
    54: ("Опрацьовано автоматично", "Processed automatically", 1),
    55: ("Очікує отримання оплати", "Awaiting payment", 1),
    56: ("Комплектується перевізником", "Being packed by carrier", 1),
    57: ("Заплановано доставку", "Delivery scheduled", 1),
    58: ("Передано до служби доставки в Польщі", "Handed to carrier in Poland", 1),
    59: ("На митному контролі", "At customs", 1),
    60: ("Передано до служби доставки в Україні", "Handed to carrier in Ukraine", 1),
    61: ("Заплановано передачу перевізникові", "Handover to carrier planned", 1),
    62: ("Змінено дату видачі", "Pickup date changed", 1),
    63: ("Обробляється службою доставки", "Processed by carrier", 1),
    64: ("Доставляється в місто отримувача", "In transit to recipient city", 1),
    65: ("Перебуває в місті отримувача", "In recipient city", 1),
    66: ("Перебуває в місті отримувача", "In recipient city", 1),
    67: ("Видано кур'єру в місті отримувача", "Out with courier", 1),
    68: ("Отримано частково", "Partially received", 2),
    69: ("Змінено дату чи адресу доставки", "Delivery date or address changed", 1),
    70: ("Планується повторний дзвінок", "Call-back scheduled (legacy)", 1),
    71: ("Скасування. Товар повернувся", "Cancelled: goods returned", 3),
    72: ("Скасування. Здійснено повернення коштів", "Cancelled: money refunded", 3),
    73: ("У черзі на отримання", "Queued for pickup", 1),
    74: ("Сьогодні закінчується термін резерву", "Reserve ends today", 1),
    75: ("Скасування. Скасовано КЦ", "Cancelled by call centre", 3),
    76: ("Очікує клієнта у почтоматі", "Waiting in parcel locker", 1),
    77: ("Скасування. Відмовлено банком", "Cancelled: bank refused", 3),
    78: ("Змінено час видачі", "Pickup time changed", 1),
    79: ("Очікує модерації КЦ", "Awaiting call-centre moderation", 1),
    80: ("Чекає на отримання від Продавця", "Awaiting pickup from seller", 1),
    81: ("Прийнятий від Продавця", "Accepted from seller", 1),
    82: ("Знаходиться у РЦ", "At distribution centre", 1),
    83: ("Буде повернено відправнику", "Will be returned to sender", 1),
    84: ("Знаходиться у точці для повернення", "At return point", 1),
    85: ("Повернено продавцю", "Returned to seller", 3),
    86: ("Очікується повернення товару", "Return of goods expected", 1),
    87: ("Виконано. Минув термін обробки", "Auto-completed, processing window passed", 2),
    88: ("Втрачена перевізником", "Lost by carrier", 3),
    89: ("Повернення доставляється до розподільчого центру", "Return in transit to DC", 1),
    90: ("Повернення знаходиться у розподільчому центрі", "Return at DC", 1),
    91: ("Доставляється у точку повернення", "Return in transit to return point", 1),
}
# Only group 1's colour is documented ("#FFAB00"); the other two are Rozetka's green and red (inferred).
GROUP_COLOURS = {1: "#FFAB00", 2: "#00A046", 3: "#F84147"}

# -- what a seller may do: the status_available child lists (reference §4.1) --------------------------------------
# The cancellation statuses of the live list for an order in 26, in that list's order.
CANCELLATIONS = (42, 43, 28, 33, 40, 49, 20, 18, 29, 17, 37, 38)
TRANSITIONS: dict[int, tuple[int, ...]] = {
    1: (26, *CANCELLATIONS),  # "from 1, only 26 and cancellation statuses are reachable: 2 is not"
    26: (55, 47, 2, 61, *CANCELLATIONS),  # the live list, verbatim
    47: (55, 26, 2, 61, *CANCELLATIONS),  # "like 26"; back to 26 in place of itself (inferred)
    55: (2, *CANCELLATIONS),
    2: (61, 3, *CANCELLATIONS),
    # Back to 26 corrects a TTN: 26 clears it and 61 takes the new one (a new TTN sent to an order at 61 is
    # ignored, 15 → 61 is refused, 15 → 26 → 61 works: public evidence, docs/adapters.md; the lists are inferred).
    61: (3, 26),
    15: (26,),
    3: (6,),  # the seller-help flow ends with the seller confirming receipt
    4: (6,),
    5: (6,),
    # every other status (carrier statuses, completions, cancellations) has no seller move: []
}
ADMIN_ONLY = 13  # "Скасовано Адміністратором": never settable by a seller, whatever a list says
NEEDS_TTN = frozenset({3, 61})
PACKING, HANDOVER_PLANNED, DUPLICATE, MANAGER = 2, 61, 49, 26

# types=N of /orders/search. 5 "being delivered" is the carrier statuses of the table.
DELIVERING = frozenset({3, 4, 5, 56, 57, 58, 59, 60, 62, 63, 64, 65, 66, 67, 69, 73, 76, 78, 80, 81, 82})
TYPES: dict[int, Callable[[dict], bool]] = {
    1: lambda o: True,
    2: lambda o: o.get("status_group") == 1,
    3: lambda o: o.get("status_group") == 2,
    4: lambda o: o.get("status") == 1,
    5: lambda o: o.get("status") in DELIVERING,
    6: lambda o: o.get("status_group") == 3,
}
SORTS = frozenset({"id", "changed", "created"})
# *_from / *_to filters → the order field they compare with
DATE_FILTERS = {"created": "created", "changed": "changed", "status_updated": "last_update_status"}

# Keys an order carries only when ``expand`` names them (reference §3.1). ``carrier`` and ``last_update_status``
# are in that list too, but every documented example and cassette returns them unasked, so they stay base fields.
EXPANDABLE = frozenset({
    "status_data", "order_status_history", "status_available", "status_available_detailed", "chatUser",
    "chatMessages", "user", "delivery", "delivery_service", "purchases", "is_access_change_order", "can_edit",
    "payment", "payment_type", "payment_method_id", "payment_type_name", "payment_type_title", "status_payment",
    "payment_status", "payment_invoice_id", "is_payed", "credit_info", "credit_status", "credit_broker", "is_promo",
    "feedback", "feedback_count", "is_fixed_campaign_order", "is_free_delivery", "is_receiver_edit_available",
    "delivery_prices", "market_review", "reminder_to_check_payment_for_duplicates", "invoice_exist",
    "can_create_invoice", "need_label", "delivery_commission_info", "rz_delivery_ttn_sender", "count_buyer_orders",
    "is_reserve_ending", "has_kit", "has_auto_message", "auto_refund", "is_smart",
})

# Roles that open /orders/* and the order chat (reference §2); any other role gets 1010.
ORDER_ROLES = frozenset({"default_owner", "default_admin", "default_orders", "default_owner_c2c"})

ERRORS = {
    1001: "required_parameter",
    1002: "incorrect_data_format",
    1004: "incorrect_username_password",
    1005: "check_correctness_of_data",
    1010: "access_denied",
    1019: "entity_not_found",
    5401: "invalid_credentials",  # "an attempt to reach methods that need authorisation" (apiDoc, errors)
    5404: "not_found",
}

MARKET = {"id": 1086, "business_model": "b2c", "title": "sandbox_shop"}
FAULT_KINDS = frozenset({"server_error", "rate_limit", "slow", "reset", "malformed", "expire_token", "repeat_page"})


def kyiv(moment: datetime) -> str:
    return moment.astimezone(KYIV).strftime(STAMP)


def status_object(status: int) -> dict[str, Any]:
    """The ``status_data`` / history ``status`` object. Unknown ids (new ones appear over time) get a neutral name."""
    name, name_en, group = STATUSES.get(status, (f"Статус {status}", f"Status {status}", 1))
    return {"id": status, "name": name, "name_uk": name, "name_en": name_en, "status_group": group, "status": 1,
            "color": GROUP_COLOURS[group]}


def status_available(status: int) -> list[dict[str, Any]]:
    # delivery_type is 0 (an external carrier) for every seeded order; clients read only child_id.
    return [{"parent_id": status, "child_id": child, "id": n, "delivery_type": 0, "market_group": 0}
            for n, child in enumerate(TRANSITIONS.get(status, ()), 1)]


class ApiError(Exception):
    """A refusal in Rozetka's words: HTTP 200 + ``success: false`` unless ``http`` says otherwise."""

    def __init__(self, code: int, details: Any = None, *, http: int = 200) -> None:
        super().__init__(ERRORS.get(code, str(code)))
        self.code, self.details, self.http = code, details, http

    def envelope(self) -> dict[str, Any]:
        return {"success": False, "errors": {"message": ERRORS.get(self.code, "error"), "code": self.code,
                                             "details": self.details}}


def _refused(current: int, target: Any) -> ApiError:
    # The exact text mirrored from a live response (reference §4.1).
    return ApiError(1005, {"status": [f"Неможливо змінити статус. З {current} на {target}. "
                                      "Наступний статус недоступний."]})


# -- faults ---------------------------------------------------------------------------------------------------------

class Faults(FaultSwitches):
    """The Rozetka sandbox's fault switches. Kinds: ``server_error`` (HTTP 500/502/503 with nginx's HTML; ``status=`` picks one), ``rate_limit`` (HTTP 429,
    ``Retry-After: retry_after``), ``slow`` (answers after ``seconds``), ``reset`` (the connection closes with no
    answer; the request is not handled), ``malformed`` (the request is handled, its JSON arrives cut in half with
    HTTP 200), ``expire_token`` (every /sites token expires first, so a call with one gets 401; static cabinet tokens
    live on, as only their owner revokes them), ``repeat_page`` (/orders/search ignores ``page`` and answers page 1,
    as one client saw live). ``path=`` limits a fault to requests whose path starts with it, ``method=`` to one
    HTTP method.
    Faults keep their own lock: they are drawn before the state's lock is taken, so a slow answer never holds it.
    """

    kinds = FAULT_KINDS
    default_paths = {"repeat_page": "/orders/search"}  # it only makes sense on the search


# -- the sandbox ----------------------------------------------------------------------------------------------------

@dataclass
class _Token:
    roles: tuple[str, ...]
    seller: dict[str, Any]  # {id, fio}: who the messages sent with this token come from
    expires_at: datetime | None  # None: a static cabinet token


@dataclass
class _Seller:
    id: int
    password: str
    fio: str
    email: str
    roles: tuple[str, ...]


Request = JsonRequest  # shared with Prom's fake (adapters/sandbox.py), as are its parsing and serving


class RozetkaSandbox(OrderBook, Sandbox):
    """The Rozetka Seller API in one process. State lives in memory behind one lock."""

    thread_name = "rozetka-sandbox"


    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, page_size: int = 20, token_ttl: int = 24 * 3600,
                 seed: int | None = None, orders: int = 0, clock: Callable[[], datetime] | None = None) -> None:
        self.host, self.port = host, port
        self.page_size, self.token_ttl = page_size, token_ttl
        self.clock = clock or (lambda: datetime.now(UTC))  # must return an aware datetime
        self.fixed_token: str | None = None
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.messages_sent: list[dict[str, Any]] = []
        self.faults = Faults(seed)
        self.log_requests = False
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._orders: dict[int, dict[str, Any]] = {}
        self._sellers: dict[str, _Seller] = {}
        self._tokens: dict[str, _Token] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._chat_of_order: dict[int, int] = {}
        # The last search's result, reused for its next page while no order changed (a benchmark's 100,000 orders
        # would otherwise be filtered and sorted again for every page): a speed-up only, never a different answer.
        self._writes = 0
        self._last_search: tuple[Any, list[dict[str, Any]]] | None = None
        self._seed_orders(orders)

    # -- set-up and inspection --------------------------------------------------------------------------------

    def add_seller(self, username: str, password: str, *, fio: str = "Test Seller", email: str | None = None,
                   roles: tuple[str, ...] = ("default_owner",)) -> None:
        """A cabinet user who may log in with ``POST /sites`` (the API receives base64 of ``password``)."""
        with self._lock:
            seller_id = 111 + len(self._sellers)
            self._sellers[username] = _Seller(seller_id, password, fio, email or username, tuple(roles))

    def add_api_token(self, token: str, roles: tuple[str, ...] = ("default_owner",)) -> None:
        """A static cabinet token (Settings → API security), bound to ``roles``; it does not expire here."""
        with self._lock:
            self._tokens[token] = _Token(tuple(roles), {"id": 100, "fio": "API"}, None)

    def expire_tokens(self) -> None:
        """Every token issued by ``/sites`` is now expired: the next call with one gets HTTP 401."""
        with self._lock:
            self._tokens = {t: v for t, v in self._tokens.items() if v.expires_at is None}

    def add_order(self, status: int = 1) -> int:
        """An order arriving now: realistic (seeded RNG), its last step to ``status`` taken now, the earlier ones
        minutes apart before it. Returns its id."""
        with self._lock:
            now = self.clock()
            moments = [now]
            for _ in _path_to(status)[1:]:
                moments.insert(0, moments[0] - timedelta(minutes=self._rng.randint(5, 90)))
            order = _realistic_order(self._rng, self._next_id(), status, moments)
            self._orders[order["id"]] = order
            self._writes += 1
            return order["id"]

    def set_status(self, order_id: int | str, status: int, *, ttn: str | None = None) -> None:
        """Rozetka's, the carrier's or the buyer's own move: no seller rule applies."""
        with self._lock:
            order = self._orders[int(order_id)]
            now = kyiv(self.clock())
            if ttn is not None:
                order["ttn"] = ttn
            _enter_status(order, status, now)
            order["changed"] = now
            self._writes += 1

    def put_order(self, payload: dict[str, Any]) -> None:
        with self._lock:
            super().put_order(payload)
            self._writes += 1

    # -- request handling (called by the HTTP handler's threads; ``record`` is OrderBook's) -------------------

    def dispatch(self, request: Request, *, repeat_page: bool = False) -> tuple[int, dict[str, Any]]:
        """One request → (HTTP status, JSON body)."""
        for method, pattern, handler, guarded in ROUTES:
            match = pattern.fullmatch(request.path)
            if match and request.method == method:
                break
        else:
            # Rozetka's answer to an unknown route is not documented: an HTTP 404 in the envelope (inferred).
            return 404, ApiError(5404, http=404).envelope()
        try:
            with self._lock:
                token = self._authenticate(request) if guarded else None
                if guarded and not ORDER_ROLES & set(token.roles):
                    raise ApiError(1010)
                if request.body is INVALID_BODY:
                    raise ApiError(1002, {"body": ["Некоректний формат даних."]})
                content = handler(self, request, token, *match.groups(), repeat_page=repeat_page)
                return 200, {"success": True, "content": content}
        except ApiError as exc:
            return exc.http, exc.envelope()

    def _authenticate(self, request: Request) -> _Token:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        known = self._tokens.get(token)
        if known is None or (known.expires_at is not None and self.clock() >= known.expires_at):
            self._tokens.pop(token, None)
            # HTTP 401 as clients see live; the body is not published, so it carries the documented 5401 (inferred)
            raise ApiError(5401, http=401)
        return known

    # -- endpoints (under the lock) ----------------------------------------------------------------------------

    def _login(self, request: Request, _token: None, **_: Any) -> dict[str, Any]:
        body = request.body or {}
        missing = [k for k in ("username", "password") if not str(body.get(k) or "").strip()]
        if missing:
            raise ApiError(1001, {k: [f"Необхідно заповнити «{k}»."] for k in missing})
        seller = self._sellers.get(str(body["username"]).strip())
        try:
            given = base64.b64decode(str(body["password"]), validate=True)
        except (binascii.Error, ValueError):
            given = None
        if seller is None or given != seller.password.encode():
            raise ApiError(1004)
        token = self.fixed_token or secrets.token_urlsafe(27)
        self._tokens[token] = _Token(seller.roles, {"id": seller.id, "fio": seller.fio},
                                     self.clock() + timedelta(seconds=self.token_ttl))
        orders = bool(ORDER_ROLES & set(seller.roles))
        return {"id": seller.id, "access_token": token,
                # which permissions each role carries is not documented: orders roles get the two seen (inferred)
                "permissions": ["order_edit", "correspondence"] if orders else [],
                "roles": ["guest", *seller.roles], "seller": {"fio": seller.fio, "email": seller.email},
                "market": dict(MARKET), "lang": "ru"}

    def _search(self, request: Request, _token: _Token, *, repeat_page: bool) -> dict[str, Any]:
        query = request.query
        # Validation errors come back only with this header set true (the apiDoc: "if you do not need validation
        # errors, do not send this header, or send it with 0 (false)"); otherwise a filter that does not validate
        # is dropped and the search answers unfiltered (inferred: what Yii2 does with a model that fails to
        # validate; the apiDoc does not say).
        strict = _truthy(request.headers.get("accept-validate-exception"))
        tests = _filters(query, strict)
        key, descending = _sort(query.get("sort"), strict)
        asked = (self._writes, strict,
                 tuple(sorted((k, v) for k, v in query.items() if k not in ("page", "expand"))))
        if self._last_search is not None and self._last_search[0] == asked:
            found = self._last_search[1]
        else:
            found = [o for o in self._orders.values() if all(test(o) for test in tests)]
            found.sort(key=lambda o: (str(o.get(key) or ""), o["id"]) if key != "id" else o["id"],
                       reverse=descending)
            self._last_search = (asked, found)
        page_count = math.ceil(len(found) / self.page_size)
        page = 1 if repeat_page else _page(query.get("page"), page_count)
        rows = found[(page - 1) * self.page_size: page * self.page_size]
        expand = _expand(query.get("expand"))
        return {
            "orders": [_view(o, expand) for o in rows],
            # Yii2 (which Rozetka runs) gives pageCount 0 for an empty result, and a page past the end is the last
            # page again, with currentPage saying so (yii\data\Pagination, validatePage).
            "_meta": {"totalCount": len(found), "pageCount": page_count,
                      "currentPage": page, "perPage": self.page_size},
            # The two-page example sums the page's orders, not the whole result: so does the sandbox.
            "totalFields": {k: _sum(rows, k) for k in ("amount", "amount_with_discount", "cost",
                                                       "cost_with_discount")},
        }

    def _get_order(self, request: Request, _token: _Token, order_id: str, **_: Any) -> dict[str, Any]:
        return _view(self._find(order_id), _expand(request.query.get("expand")))

    def _update_order(self, request: Request, _token: _Token, order_id: str, **_: Any) -> dict[str, Any]:
        order = self._find(order_id)
        body = request.body or {}
        if body.get("status") in (None, ""):
            raise ApiError(1001, {"status": ["Необхідно заповнити «status»."]})
        try:
            target = int(body["status"])
        except (TypeError, ValueError):
            raise ApiError(1002, {"status": ["Значення «status» має бути цілим числом."]}) from None
        current = int(order["status"])
        ttn = str(body.get("ttn") or "").strip()
        comment = str(body.get("seller_comment") or "").strip()

        if target == current:
            # The current status again is accepted and changes nothing: neither the comment nor a new TTN is kept
            # (inferred from a public client's tests, which describe a same-status PUT as a no-op; nothing documents
            # that it stores a comment). So a TTN sent to an order already at 61 is silently ignored.
            return _view(order, EXPANDABLE)

        if target == ADMIN_ONLY or target not in TRANSITIONS.get(current, ()):
            raise _refused(current, target)
        # "A TTN sent with status 2 moves the order to 61 automatically" (reference §4); the history shows the
        # passage through 2 (inferred).
        route = [PACKING, HANDOVER_PLANNED] if target == PACKING and ttn else [target]
        # The TTN is "required при статусі 3": one already on the order counts (inferred).
        if route[-1] in NEEDS_TTN and not (ttn or str(order.get("ttn") or "").strip()):
            raise ApiError(1005, {"ttn": [f"Для статусу {target} необхідно вказати ТТН."]})
        if target == DUPLICATE:
            duplicate = body.get("duplicate_order_id")
            if not str(duplicate or "").isdigit() or int(duplicate) == order["id"]:
                raise ApiError(1005, {"duplicate_order_id": [
                    "Для статусу 49 необхідно вказати номер замовлення, яке дублюється."]})
            order["duplicate_order_id"] = int(duplicate)
        if ttn:
            order["ttn"] = ttn  # kept whatever the status: Rozetka tracks any attached TTN (reference §4)
        if route[-1] == MANAGER:
            order["ttn"] = ""  # back to the manager: the TTN is dropped, so a corrected one can be set at 61

        now = kyiv(self.clock())
        for status in route:
            _enter_status(order, status, now)
        if comment:
            order["seller_comment"] = [*(order.get("seller_comment") or []), {"comment": comment, "created": now}]
            order["current_seller_comment"], order["seller_comment_created"] = comment, now
        order["changed"] = now
        self._writes += 1
        return _view(order, EXPANDABLE)  # the answer carries the whole order, as the documented example does

    def _order_chat(self, request: Request, _token: _Token, order_id: str, **_: Any) -> dict[str, Any]:
        chat = copy.deepcopy(self._chat_for(self._find(order_id)))
        if "messages" not in _expand(request.query.get("expand")):
            del chat["messages"]  # an expand field (the apiDoc's chat lists it among "Extra fields")
        return chat

    def _create_message(self, request: Request, token: _Token, **_: Any) -> dict[str, Any]:
        body = request.body or {}
        text = str(body.get("body") or "").strip()
        if not text:
            raise ApiError(1001, {"body": ["Необхідно заповнити «body»."]})
        if body.get("chat_id") not in (None, ""):
            chat = self._chats.get(_int(body["chat_id"]))
            if chat is None:
                raise ApiError(1019)
        elif body.get("order_id") not in (None, ""):
            chat = self._chat_for(self._find(body["order_id"]))
        else:
            raise ApiError(1001, {"chat_id": ["Необхідно заповнити «chat_id»."]})
        message = {"chat_id": chat["id"], "body": text, "created": kyiv(self.clock()),
                   "sender": 2,  # the seller's side, as the documented answer shows (1 would be the buyer: inferred)
                   "seller": dict(token.seller), "seller_id": token.seller["id"], "files": []}
        # Inside the chat a message also names its receiver, as the apiDoc's chat example shows.
        chat["messages"].append({**copy.deepcopy(message), "receiver_id": body.get("receiver_id")})
        self.messages_sent.append({**copy.deepcopy(message), "order_id": chat["order_id"],
                                   "receiver_id": body.get("receiver_id")})
        return message

    # -- helpers ------------------------------------------------------------------------------------------------

    def _find(self, order_id: Any) -> dict[str, Any]:
        order = self._orders.get(_int(order_id))
        if order is None:
            raise ApiError(1019)
        return order

    def _chat_for(self, order: dict[str, Any]) -> dict[str, Any]:
        """The order's chat, opened on first use (the buyer side of a chat is not modelled).

        ``user_id`` is the buyer, as the apiDoc defines it. ``user`` ("the chat's user") is someone else in the
        apiDoc's first example (another id, a seller-looking login and e-mail); who it is is not documented, so
        here it is a person with an id of their own, never the buyer's (inferred).
        """
        chat_id = self._chat_of_order.get(order["id"])
        if chat_id is None:
            chat_id = 5501 + len(self._chats)
            user = order.get("user") or {}
            fio = user.get("contact_fio") or (order.get("user_title") or {}).get("full_name", "")
            now = kyiv(self.clock())
            self._chats[chat_id] = {
                "id": chat_id, "created": now, "updated": now, "subject": f"Замовлення №{order['id']}",
                "user": {"id": 545_000 + chat_id, "email": "manager@example.com", "login": "manager",
                         "contact_fio": fio},
                "read_market": now, "trash_market": 0, "star_market": 0, "order_id": order["id"], "type": 0,
                "item_id": None, "user_id": user.get("id"), "messages": []}
            self._chat_of_order[order["id"]] = chat_id
        return self._chats[chat_id]

    def _next_id(self) -> int:
        return max(self._orders, default=903_700_000) + self._rng.randint(1, 9)

    def _seed_orders(self, count: int) -> None:
        now = self.clock()
        # created times spread over the last two weeks; ids grow with them, as Rozetka's do
        starts = sorted(now - timedelta(seconds=self._rng.uniform(600, 14 * 86400)) for _ in range(count))
        for created in starts:
            status = self._rng.choices(SEED_STATUSES, SEED_WEIGHTS)[0]
            # the later steps fall between creation and now, strictly before now
            span = (now - created).total_seconds()
            later = sorted(created + timedelta(seconds=self._rng.uniform(1, span - 1))
                           for _ in _path_to(status)[1:])
            order = _realistic_order(self._rng, self._next_id(), status, [created, *later])
            self._orders[order["id"]] = order


ROUTES: list[tuple[str, re.Pattern[str], Callable[..., Any], bool]] = [
    # method, path, handler, guarded (needs a Bearer token with an orders role)
    ("POST", re.compile(r"/sites"), RozetkaSandbox._login, False),
    ("GET", re.compile(r"/orders/search"), RozetkaSandbox._search, True),
    ("GET", re.compile(r"/orders/(\d+)"), RozetkaSandbox._get_order, True),
    ("PUT", re.compile(r"/orders/(\d+)"), RozetkaSandbox._update_order, True),
    ("GET", re.compile(r"/messages/(\d+)/order-chat"), RozetkaSandbox._order_chat, True),
    ("POST", re.compile(r"/messages/create"), RozetkaSandbox._create_message, True),
]


# -- the order model ----------------------------------------------------------------------------------------------

def _enter_status(order: dict[str, Any], status: int, now: str) -> None:
    """Everything that follows a status change: group, status object, history, the moment it changed."""
    obj = status_object(status)
    order["status"], order["status_group"] = status, obj["status_group"]
    order["status_data"] = obj
    order["status_available"] = status_available(status)
    order["order_status_history"] = [*(order.get("order_status_history") or []),
                                     {"status_id": status, "created": now, "status": copy.deepcopy(obj)}]
    order["last_update_status"] = now


def _view(order: dict[str, Any], expand: frozenset[str] | set[str]) -> dict[str, Any]:
    """The order as the API shows it: base fields always, expandable ones only when asked for."""
    shown = {k: copy.deepcopy(v) for k, v in order.items() if k not in EXPANDABLE or k in expand}
    if "status_available" in expand:
        # always from the transition table, so what the API reports is what PUT enforces
        shown["status_available"] = status_available(int(order["status"]))
    return shown


def _expand(value: str | None) -> frozenset[str]:
    return frozenset(part.strip() for part in (value or "").split(",") if part.strip())


def _filters(query: dict[str, str], strict: bool) -> list[Callable[[dict], bool]]:
    """The search's filters as predicates. Filters the sandbox does not model (delivery, payment…) are ignored."""
    tests: list[Callable[[dict], bool]] = []

    def bad(name: str, text: str) -> None:
        if strict:
            raise ApiError(1002, {name: [text]})

    types = query.get("types") or query.get("type")  # clients send type=1/2/3 as a status group
    if types:
        kind = _int(types)
        if "types" not in query and kind in (1, 2, 3):
            tests.append(lambda o, g=kind: o.get("status_group") == g)
        elif kind in TYPES:
            tests.append(TYPES[kind])
        else:
            bad("types", "Значення «types» неправильне.")
    for name, key in (("id", "id"), ("status", "status")):
        if query.get(name):
            wanted = {_int(v) for v in query[name].split(",")}
            tests.append(lambda o, k=key, w=wanted: _int(o.get(k)) in w)
    if query.get("ttn"):
        tests.append(_ttn_filter(query["ttn"]))
    for prefix, key in DATE_FILTERS.items():
        for edge in ("from", "to"):
            value = query.get(f"{prefix}_{edge}")
            if not value:
                continue
            bound = _date_bound(value, upper=edge == "to")
            if bound is None:
                bad(f"{prefix}_{edge}", "Формат дати: YYYY-MM-DD або YYYY-MM-DD HH:MM:SS.")
            elif edge == "from":
                tests.append(lambda o, k=key, b=bound: str(o.get(k) or "")[:19] >= b)
            else:
                tests.append(lambda o, k=key, b=bound: str(o.get(k) or "")[:19] <= b)
    return tests


def _ttn_filter(value: str) -> Callable[[dict], bool]:
    """ttn=0 no TTN, 1 has one, ≥ 4 characters a (partial) TTN; anything shorter matches nothing (reference §3.1)."""
    has = lambda o: bool(str(o.get("ttn") or "").strip())  # noqa: E731
    if value == "0":
        return lambda o: not has(o)
    if value == "1":
        return has
    if len(value) >= 4:
        return lambda o: value in str(o.get("ttn") or "")
    return lambda o: False


def _date_bound(value: str, *, upper: bool) -> str | None:
    """A filter's bound as a Kyiv timestamp string, inclusive. A bare date spans the whole day (inferred)."""
    value = value.strip()
    for form, suffix in (("%Y-%m-%d %H:%M:%S", ""), ("%Y-%m-%d", " 23:59:59" if upper else " 00:00:00")):
        try:
            datetime.strptime(value, form)
        except ValueError:
            continue
        return value + suffix
    return None


def _sort(value: str | None, strict: bool) -> tuple[str, bool]:
    value = (value or "-id").strip()
    key = value.lstrip("-")
    if key not in SORTS:
        if strict:
            raise ApiError(1002, {"sort": [f"Сортування за «{key}» недоступне."]})
        return "id", True  # the default order, newest first
    return key, value.startswith("-")


def _page(value: str | None, page_count: int) -> int:
    """The 1-based page shown: clamped to [1, pageCount] like yii\\data\\Pagination with validatePage (its 0-based
    page is clamped to [0, pageCount − 1]), so a page past the end is the last one again."""
    return max(1, min(_int(value) or 1, page_count))


def _truthy(value: str | None) -> bool:
    """A boolean header: absent, "0" or "false" is false."""
    return (value or "").strip().lower() not in ("", "0", "false")


def _int(value: Any) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return 0


def _sum(orders: list[dict[str, Any]], key: str) -> str:
    return f"{sum((Decimal(str(o.get(key) or 0)) for o in orders), Decimal(0)):.2f}"


# -- realistic seeded data ----------------------------------------------------------------------------------------

# Statuses seeded, and how often: mostly live orders, some finished, a few cancelled.
SEED_STATUSES = (1, 26, 2, 61, 3, 4, 5, 6, 7, 18, 40, 45)
SEED_WEIGHTS = (4, 3, 2, 2, 2, 2, 1, 4, 1, 1, 1, 1)
MAIN_ROAD = (1, 26, 2, 61, 3, 4, 5, 6)
SIDE_ROADS = {7: (1, 7), 45: (1, 45), 18: (1, 26, 18), 40: (1, 26, 40)}

FIRST_NAMES = (("Олександр", "Андрій", "Дмитро", "Максим", "Іван", "Тарас", "Богдан", "Сергій"),
               ("Олена", "Наталія", "Ірина", "Оксана", "Марія", "Тетяна", "Юлія", "Софія"))
LAST_NAMES = (("Шевченко", "Коваленко", "Бондаренко", "Ткаченко", "Кравченко", "Олійник", "Мельник", "Петренко"),
              ("Шевченко", "Коваленко", "Бондаренко", "Ткаченко", "Кравчук", "Олійник", "Мельник", "Савчук"))
PATRONYMICS = (("Олександрович", "Іванович", "Петрович", "Миколайович"),
               ("Олександрівна", "Іванівна", "Петрівна", "Миколаївна"))
OPERATORS = ("50", "63", "66", "67", "68", "73", "93", "95", "96", "97", "98", "99")
CITIES = (  # id, Russian, Ukrainian, English, region
    (1, "Киев", "Київ", "Kyiv", ""),
    (2, "Львов", "Львів", "Lviv", "Львівська обл."),
    (3, "Харьков", "Харків", "Kharkiv", "Харківська обл."),
    (4, "Одесса", "Одеса", "Odesa", "Одеська обл."),
    (5, "Днепр", "Дніпро", "Dnipro", "Дніпропетровська обл."),
    (6, "Винница", "Вінниця", "Vinnytsia", "Вінницька обл."),
    (7, "Полтава", "Полтава", "Poltava", "Полтавська обл."),
    (8, "Ивано-Франковск", "Івано-Франківськ", "Ivano-Frankivsk", "Івано-Франківська обл."),
    (9, "Черновцы", "Чернівці", "Chernivtsi", "Чернівецька обл."),
    (10, "Житомир", "Житомир", "Zhytomyr", "Житомирська обл."),
)
STREETS = ("вул. Шевченка", "просп. Перемоги", "вул. Франка", "вул. Соборна", "вул. Грушевського",
           "вул. Лесі Українки", "просп. Незалежності", "вул. Героїв Майдану")
CATALOGUE = (  # item id, name, price, the seller's SKU (price_offer_id)
    (38221768, "Навушники JBL Tune 510BT Black", "1499.00", "JBL-T510BT-BLK"),
    (41250331, "Павербанк Xiaomi Redmi 20000 mAh", "899.00", "XM-PB20K"),
    (29910452, "Електрочайник Philips HD9350/90", "1299.00", "PH-HD9350"),
    (12106, "Книга «Тигролови» Іван Багряний", "245.00", "BOOK-12106"),
    (35014876, "Кавоварка DeLonghi Dedica EC685.M", "8999.00", "DL-EC685M"),
    (30877120, "Рюкзак міський Xiaomi Mi Casual Daypack", "699.00", "XM-BAG-CASUAL"),
    (27754301, "Набір каструль Tefal Intuition 6 предметів", "2799.00", "TF-INT6"),
    (33120987, "Мишка Logitech M185 Wireless Grey", "449.00", "LG-M185-GR"),
    (36448213, "Термос Stanley Classic 1 л", "1899.00", "ST-CLS-1L"),
    (40011234, "Кабель Baseus USB-C 1 м", "199.00", "BS-USBC-1M"),
)
BUYER_COMMENTS = ("", "", "", "Передзвоніть, будь ласка", "Доставка після 18:00", "Подарункова упаковка")


def _path_to(status: int) -> tuple[int, ...]:
    if status in MAIN_ROAD:
        return MAIN_ROAD[: MAIN_ROAD.index(status) + 1]
    return SIDE_ROADS.get(status, (1, status))


def _realistic_order(rng: random.Random, order_id: int, status: int, moments: list[datetime]) -> dict[str, Any]:
    """One order in the documented model (the cassettes' shape). ``moments`` are when it took each step of the
    path to ``status``: the first is its creation, the last its latest change."""
    created = moments[0]
    female = rng.random() < 0.5
    first, last = rng.choice(FIRST_NAMES[female]), rng.choice(LAST_NAMES[female])
    second = rng.choice(PATRONYMICS[female])
    phone = f"380{rng.choice(OPERATORS)}{rng.randrange(10**7):07d}"
    city_id, name_ru, name_ua, name_en, region = rng.choice(CITIES)
    user_id = rng.randint(30_000_000, 99_999_999)

    purchases, photos = [], []
    for item_id, name, price, sku in rng.sample(CATALOGUE, rng.randint(1, 3)):
        quantity = rng.choices((1, 2, 3), (8, 3, 1))[0]
        discounted = Decimal(price) * (Decimal("0.9") if rng.random() < 0.2 else 1)
        purchases.append({
            "id": rng.randint(150_000_000, 199_999_999), "item_id": item_id, "item_name": name,
            "quantity": quantity, "price": price, "price_with_discount": f"{discounted:.2f}",
            "cost": f"{Decimal(price) * quantity:.2f}", "cost_with_discount": f"{discounted * quantity:.2f}",
            "kit_id": 0, "conf_details": None, "ttn": None, "order_status": None, "status": 1,
            "is_additional_item": False,
            "item": {"id": item_id, "name": name, "name_ua": name, "article": sku, "price_offer_id": sku,
                     "uploader_offer_id": sku, "price": price, "catalog_id": rng.randint(80_000, 4_700_000),
                     "sla_id": rng.randint(10_000, 12_000), "url": f"https://rozetka.com.ua/{item_id}/p{item_id}"},
        })
        photos.append({"id": item_id, "url": f"https://content.rozetka.com.ua/goods/images/big/{item_id}.jpg",
                       "item_url": f"https://rozetka.com.ua/{item_id}/p{item_id}", "item_name": name})
    amount = sum(Decimal(p["cost"]) for p in purchases)
    with_discount = sum(Decimal(p["cost_with_discount"]) for p in purchases)

    card = rng.random() < 0.4
    order: dict[str, Any] = {
        "id": order_id, "created": kyiv(created), "changed": kyiv(moments[-1]),
        "amount": f"{amount:.2f}", "amount_with_discount": f"{with_discount:.2f}",
        "cost": f"{amount:.2f}", "cost_with_discount": f"{with_discount:.2f}",  # delivery paid at the branch
        "status": status, "status_group": 1,
        "ttn": f"20450{rng.randrange(10**9):09d}" if status in MAIN_ROAD[3:] else "",
        "comment": rng.choice(BUYER_COMMENTS), "total_quantity": sum(p["quantity"] for p in purchases),
        "items_photos": photos, "seller_comment": [], "seller_comment_created": "", "current_seller_comment": "",
        "user_phone": phone,
        "user_title": {"first_name": first, "last_name": last, "second_name": second,
                       "full_name": f"{first} {last}"},
        "from_warehouse": 0, "mk_created": False, "can_copy": False, "created_type": 4,
        "is_viewed": status != 1 or rng.random() < 0.5, "callback_off": int(rng.random() < 0.2),
        "is_fulfillment": False, "duplicate_order_id": None, "can_prolong": 1,
        "order_status_history": [],
        "user": {"id": user_id, "has_email": True, "contact_fio": f"{first} {last}",
                 "email": "true"},  # the documented example carries "true" here, not an address
        "delivery": {
            "delivery_service_id": 5, "delivery_service_name": "Нова Пошта", "delivery_method_id": 1,
            "recipient_title": f"{last} {first} {second}", "recipient_phone": phone, "another_recipient": False,
            "place_id": rng.randint(1_000, 40_000), "pickup_rz_id": "", "place_street": rng.choice(STREETS),
            "place_number": str(rng.randint(1, 180)), "place_house": str(rng.randint(1, 120)), "place_flat": None,
            "cost": None, "reserve_date": (created + timedelta(days=7)).astimezone(KYIV).strftime("%Y-%m-%d"),
            "ref_id": _uuid(rng),
            "city": {"id": city_id, "name": name_ru, "name_ua": name_ua, "name_en": name_en,
                     "region_title": region, "title": name_ru, "status": 1},
            "name_logo": "nova-pochta", "email": None,
        },
        "purchases": purchases,
        "status_available": [], "status_data": {},
        "payment": _payment(rng, order_id, card, kyiv(created)),
        "delivery_service": {"id": 5, "name": "Нова Пошта", "type": 0, "status": 1, "can_edit": False,
                             "can_use": True},
        "last_update_status": "",
        "carrier": {"carrier": None, "carrier_inner_id": None, "carrier_track_num": None,
                    "carrier_return_track_num": None, "is_carrier_meest": False},
    }
    for step, moment in zip(_path_to(status), moments, strict=True):
        _enter_status(order, step, kyiv(moment))
    if status not in (1, 7, 45) and rng.random() < 0.3:
        stamp = kyiv(moments[1])
        note = rng.choice(("Підтвердив по телефону", "Клієнт просить відправити сьогодні", "Уточнити розмір"))
        order["seller_comment"] = [{"comment": note, "created": stamp}]
        order["current_seller_comment"], order["seller_comment_created"] = note, stamp
    return order


def _payment(rng: random.Random, order_id: int, card: bool, created: str) -> dict[str, Any]:
    if not card:  # cash on delivery has no payment status at all (reference §6)
        return {"payment_method_id": 1, "payment_method_name": "Оплата при отриманні товару",
                "payment_type": "cash", "payment_type_title": "Готівкова", "payment_status": None, "credit": None}
    return {"payment_method_id": 2, "payment_method_name": "Оплата карткою онлайн", "payment_type": "card",
            "payment_type_title": "Безготівкова",
            "payment_status": {"order_id": order_id, "status_payment_id": 2, "name": "paid", "title": "Оплачено",
                               "value": "Оплачено", "payment_invoice_id": rng.randint(10**7, 10**8),
                               "created_at": created},
            "credit": None}


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# -- HTTP ---------------------------------------------------------------------------------------------------------

class _Handler(JsonApiHandler):
    """The shared JSON handler (adapters/sandbox.py; Rozetka's reset is the "other side closed" clients see live,
    reference §8). Rozetka's own: its Content-Type spelling, and bodies that may be forms. Its ``dispatch`` always
    answers an envelope, never the error page."""

    json_type = "application/json; charset=UTF-8"

    def parse_body(self, raw: bytes) -> Any:
        return _parse_body(raw, self.headers.get("Content-Type", ""))


RozetkaSandbox.handler = _Handler


def _parse_body(raw: bytes, content_type: str) -> Any:
    """JSON, or a form (which /sites also takes); INVALID_BODY when it does not parse."""
    if raw.strip() and "application/x-www-form-urlencoded" in content_type:
        return {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    return parse_json_body(raw)


# -- command line ---------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = sandbox_parser(
        "python -m adapters.rozetka.sandbox",
        "Run a fake Rozetka Seller API in the foreground (Ctrl-C stops it). Point the connector's Rozetka account at "
        "the printed URL.", 8081, kinds=FAULT_KINDS, seeded="orders")
    parser.add_argument("--orders", type=int, default=40, help="how many realistic orders to seed "
                        "(default: %(default)s)")
    parser.add_argument("--page-size", type=int, default=20, help="orders per /orders/search page "
                        "(default: %(default)s, as Rozetka)")
    parser.add_argument("--username", default="shop@example.com", help="the seller login POST /sites accepts "
                        "(default: %(default)s)")
    parser.add_argument("--password", default="password", help="that seller's plain password; clients send it "
                        "base64-encoded (default: %(default)s)")
    parser.add_argument("--token", default=None, help="also accept this static API token (the cabinet kind), "
                        "with the owner role")
    parser.add_argument("--token-ttl", type=int, default=24 * 3600, help="seconds a /sites token lives "
                        "(default: %(default)s)")
    args = parser.parse_args(argv)

    sandbox = RozetkaSandbox(host=args.host, port=args.port, page_size=args.page_size, token_ttl=args.token_ttl,
                             seed=args.seed, orders=args.orders)
    sandbox.add_seller(args.username, args.password)
    if args.token:
        sandbox.add_api_token(args.token)
    return serve_from_args(sandbox, parser, args, [
        f"Rozetka sandbox on {{url}} with {args.orders} orders",
        f"  username: {args.username}   password: {args.password}"
        + (f"   API token: {args.token}" if args.token else ""),
    ])


if __name__ == "__main__":
    raise SystemExit(main())
