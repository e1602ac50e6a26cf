"""A faithful fake of Nova Poshta's JSON API v2.0 (``TrackingDocument.getStatusDocuments``) on 127.0.0.1.

Modelled on the shared reference (shared/reference/novaposhta-tracking.md) and the cassettes in
tests/cassettes/novaposhta, never on the adapter: one POST endpoint taking the ``{apiKey, modelName, calledMethod,
methodProperties}`` envelope; every answer HTTP 200 with the nine-key envelope (``success``, ``data``, ``errors``,
``warnings``, ``info``, ``messageCodes``, ``errorCodes``, ``warningCodes``, ``infoCodes``); errors as
``success:false`` with NP's message codes; records with loose typing (``StatusCode`` a string, weights a number next
to a string) and the four date formats; personal fields only with the key and the matching phone, with the
per-document warning object otherwise; an unknown well-formed number as a ``StatusCode "3"`` record; a malformed
number failing the whole batch as in the public fixtures; more than 100 documents refused with 20001401153.

Parcels move along realistic paths (``move``), or jump to any code (``advance``); a redirect or a return
re-issues the parcel under a new number (``LastCreatedOnTheBasisNumber``). Where the reference is silent the
sandbox does what the real API most plausibly does; each such place says "inferred".

Run it in the foreground: ``python -m adapters.novaposhta.sandbox --help``.
"""

from __future__ import annotations

import copy
import json
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from adapters.sandbox import (FaultSwitches, Sandbox, SandboxHandler, add_move_every, error_page, first_numbers,
                              keep_moving, sandbox_parser, serve_from_args)

KYIV = ZoneInfo("Europe/Kyiv")
MAX_DOCUMENTS = 100
DEFAULT_KEY = "0123456789abcdef0123456789abcdef"  # NP keys are 32 hex characters

# -- status texts (reference §3), templated as NP's live texts are ------------------------------------------------
TEXTS: dict[int, str] = {
    1: "Відправник самостійно створив цю накладну, але ще не надав до відправки",
    2: "Видалено",
    3: "Номер не знайдено",
    4: "Відправлення у місті {city_sender}",
    41: "Відправлення у місті {city_sender}",
    5: "Відправлення прямує до міста {city_recipient}",
    6: "Відправлення у місті {city_recipient}, орієнтовна доставка до ВІДДІЛЕННЯ-{branch} {eta}. Очікуйте додаткове "
       "повідомлення про прибуття",
    7: "Прибув на відділення",
    8: "Прибув на відділення (завантажено в Поштомат)",
    9: "Відправлення отримано",
    10: "Відправлення отримано {received}. Протягом доби ви одержите SMS-повідомлення про надходження грошового "
        "переказу та зможете отримати його в касі відділення «Нова пошта»",
    11: "Відправлення отримано {received}. Грошовий переказ видано одержувачу.",
    12: "Нова Пошта комплектує ваше відправлення",
    14: "Посилка видана для огляду одержувачем",
    101: "На шляху до одержувача",
    102: "Відмова від отримання (Відправником створено замовлення на повернення)",
    103: "Відмова одержувача (отримувач відмовився від відправлення)",
    104: "Змінено адресу",
    105: "Припинено зберігання",
    106: "Одержано і створено ЄН зворотньої доставки",
    108: "Відмова від посилки",
    111: "Невдала спроба доставки через відсутність Одержувача на адресі або зв'язку з ним",
    112: "Дата доставки перенесена Одержувачем",
}

# Realistic paths a parcel takes (inferred from the code meanings, reference §3).
PATHS: dict[str, tuple[int, ...]] = {
    "branch": (1, 4, 5, 6, 7, 9),
    "locker": (1, 4, 5, 6, 8, 9),
    "cod": (1, 12, 4, 5, 6, 7, 10, 11),
    "courier": (1, 4, 5, 6, 101, 111, 112, 101, 9),
    "local": (1, 41, 7, 9),
    "refused": (1, 4, 5, 6, 7, 103, 102),
    "uncollected": (1, 4, 5, 6, 7, 105),
    "redirected": (1, 4, 5, 6, 7, 104),
    "return": (4, 5, 6, 7, 9),  # the return waybill a refusal or an expired storage creates
}
PATH_WEIGHTS = {"branch": 10, "locker": 4, "cod": 5, "courier": 2, "local": 1, "refused": 1, "uncollected": 1,
                "redirected": 1}
REISSUE = frozenset({102, 104, 105})  # a new waybill is created on the basis of this one
ARRIVED = frozenset({7, 8})
WAITING = frozenset({7, 8, 14})  # at the branch or in the locker, waiting for the buyer
RECEIVED = frozenset({9, 10, 11, 106})
FREE_STORAGE = timedelta(days=8)  # the public fixture: arrival 08-03 14:29:04, paid keeping 16-03 14:29:04
BLANK = frozenset({2, 3})  # a deleted or unknown number: a record with the fields empty (inferred)
STUB = 80

# Every record carries these keys in this order: the tracker's fields of reference §2.2, with the public fixtures'
# types. A number-like field keeps its type whether filled or not (inferred: NP's fixtures never mix them).
FIELDS: dict[str, Any] = {
    "Number": "", "StatusCode": "", "Status": "", "DateCreated": "", "ScheduledDeliveryDate": "",
    "ActualDeliveryDate": "", "RecipientDateTime": "", "TrackingUpdateDate": "", "DateScan": "",
    "DateFirstDayStorage": "", "DatePayedKeeping": "", "CitySender": "", "CityRecipient": "", "WarehouseSender": "",
    "WarehouseRecipient": "", "WarehouseRecipientNumber": "", "WarehouseRecipientRef": "", "CategoryOfWarehouse": "",
    "RecipientFullName": "", "RecipientFullNameEW": "", "PhoneRecipient": "", "PhoneSender": "",
    "SenderFullNameEW": "", "RecipientAddress": "", "Redelivery": 0, "RedeliverySum": "", "RedeliveryNum": "",
    "LastCreatedOnTheBasisNumber": "", "UndeliveryReasons": "", "UndeliveryReasonsSubtypeDescription": "",
    "UndeliveryReasonsDate": "", "DocumentCost": "", "DocumentWeight": 0, "FactualWeight": "", "SeatsAmount": "",
    "ServiceType": "", "PayerType": "", "PaymentMethod": "", "CargoType": "", "AnnouncedPrice": "",
    "CargoDescriptionString": "", "PossibilityCreateReturn": False, "PossibilityCreateRefusal": False,
    "PossibilityChangeEW": False, "PossibilityCreateRedirecting": False, "PossibilityTermExtensio": False,
}
PERSONAL = ("RecipientFullName", "RecipientFullNameEW", "PhoneRecipient", "PhoneSender", "SenderFullNameEW",
            "RecipientAddress", "CargoDescriptionString", "AnnouncedPrice")
# Without a key, since February 2025, the return-delivery data and the personal data are gone (reference §2.1).
KEYED = (*PERSONAL, "RedeliverySum", "RedeliveryNum", "LastCreatedOnTheBasisNumber")
PHONE_WARNING = "Please enter a valid phone number from the express invoice to show full information"

# Message codes and texts (reference §4, §5).
ERRORS: dict[str, str] = {
    "20000200068": "API auth fail",
    "20000401501": "To many requests",
    "20000501331": "The daily requests limit is exceeded",
    "20000200795": "documentTracking service error",
    "20001401153": "Error: Param Documents must not be more than 100 item",
    "20001401442": "Document number is not correct",
    "20000200157": "Document number empty",
}
FAULT_KINDS = frozenset({"server_error", "rate_limit", "http_rate_limit", "quota", "service_error", "slow", "reset",
                         "malformed"})

CITIES = (("Київ", "Відділення №1: вул. Пирогівський шлях, 135"),
          ("Львів", "Відділення №1: вул. Городоцька, 355/6"),
          ("Харків", "Відділення №3: вул. Полтавський Шлях, 56"),
          ("Одеса", "Відділення №2: вул. Базова, 16"),
          ("Дніпро", "Відділення №5: вул. Кожем'яки, 12"),
          ("Вінниця", "Відділення №4: вул. Київська, 136"))
NAMES = ("Петренко Олена", "Коваленко Іван", "Шевчук Марія", "Бондаренко Андрій", "Мельник Оксана", "Ткаченко Олег")
GOODS = ("Навушники", "Книга", "Павербанк", "Чохол для телефону", "Кавоварка", "Рюкзак")


def stamp(moment: datetime, fmt: str) -> str:
    return moment.astimezone(KYIV).strftime(fmt)


# Which of the four observed formats each field uses (reference §2.2).
DMY, DOTS, ISO, SCAN, DAY = "%d-%m-%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%H:%M %d.%m.%Y", "%Y-%m-%d"


class Faults(FaultSwitches):
    """The Nova Poshta sandbox's fault switches. Kinds: ``server_error`` (HTTP 500/502/503 with nginx's HTML;
    ``status=`` picks one), ``rate_limit`` (the documented in-200 answer: ``success:false``, code 20000401501 "To
    many requests"), ``http_rate_limit`` (HTTP 429 with ``Retry-After: retry_after``; inferred, NP documents only
    the in-200 form), ``quota`` (20000501331, the daily limit), ``service_error`` (20000200795 "documentTracking
    service error"), ``slow`` (answers after ``seconds``), ``reset`` (the connection closes with no answer),
    ``malformed`` (the request is handled, its JSON arrives cut in half with HTTP 200)."""

    kinds = FAULT_KINDS


@dataclass
class _Parcel:
    ttn: str
    phone: str  # the recipient's phone: the one that unlocks the personal fields
    path: tuple[int, ...]
    history: list[tuple[int, datetime]]
    city_sender: str
    branch_sender: str
    city_recipient: str
    branch_recipient: str
    recipient: str
    goods: str
    weight: float
    cost: int
    cod: int  # cash on delivery, UAH; 0 = none
    step: int = -1  # where on ``path`` it is; -1: off the path (advanced to a code the path lacks)
    reissued_as: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # fields a test sets as-is

    @property
    def code(self) -> int:
        return self.history[-1][0]


class NovaPoshtaSandbox(Sandbox):
    """Nova Poshta's tracking in one process. State lives in memory behind one lock."""

    thread_name = "novaposhta-sandbox"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, seed: int | None = None, parcels: int = 0,
                 api_keys: tuple[str, ...] = (DEFAULT_KEY,), clock: Callable[[], datetime] | None = None) -> None:
        self.host, self.port = host, port
        self.clock = clock or (lambda: datetime.now(UTC))  # must return an aware datetime
        self.api_keys = set(api_keys)
        self.requests: list[dict[str, Any]] = []  # every request: method, path, body (parsed JSON or None)
        self.faults = Faults(seed)
        self.log_requests = False
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._parcels: dict[str, _Parcel] = {}
        self._seed_parcels(parcels)

    # -- set-up and inspection ----------------------------------------------------------------------------------

    def add_parcel(self, ttn: str | None = None, phone: str = "", code: int = 1, *, path: str | None = None,
                   cod: int | None = None, **fields: Any) -> str:
        """A parcel, now at ``code`` (its earlier steps on its path stamped minutes to hours before now). ``path``
        names one of PATHS (default: a seeded pick that passes through ``code``); ``fields`` override record
        fields as-is (a test's LastCreatedOnTheBasisNumber, say). Returns its number."""
        with self._lock:
            now = self.clock()
            name = path or self._path_through(code)
            steps = PATHS[name]
            walked = list(steps[: steps.index(code) + 1]) if code in steps else [code]
            moments = [now]
            for _ in walked[1:]:
                moments.insert(0, moments[0] - timedelta(minutes=self._rng.randint(30, 600)))
            parcel = self._new(ttn or self._new_number(), phone or self._new_phone(), steps,
                               list(zip(walked, moments, strict=True)), cod=cod if cod is not None else (
                                   self._rng.choice((300, 500, 1250)) if name == "cod" else 0))
            parcel.extra.update(fields)
            self._reissue(parcel)
            return parcel.ttn

    def advance(self, ttn: str, code: int, **fields: Any) -> None:
        """The carrier's move: the parcel is now at ``code`` (any code, documented or not), stamped now."""
        with self._lock:
            parcel = self._parcels[ttn]
            self._enter(parcel, code)
            parcel.extra.update(fields)

    def move(self, ttn: str) -> int:
        """One step along the parcel's path; at the end of it (or off it) the parcel stays. Returns its code."""
        with self._lock:
            parcel = self._parcels[ttn]
            if 0 <= parcel.step < len(parcel.path) - 1:
                self._enter(parcel, parcel.path[parcel.step + 1])
            return parcel.code

    def record(self, ttn: str, *, keyed: bool = True, phone: str = "") -> dict[str, Any]:
        """The record ``getStatusDocuments`` gives for ``ttn`` (unknown numbers: the not-found record)."""
        with self._lock:
            parcel = self._parcels.get(ttn)
            return self._record(ttn, parcel, keyed=keyed, phone=phone)

    def numbers(self) -> list[str]:
        with self._lock:
            return sorted(self._parcels)

    def code(self, ttn: str) -> int:
        with self._lock:
            return self._parcels[ttn].code

    # -- request handling (called by the HTTP handler's threads) ------------------------------------------------

    def note(self, method: str, path: str, body: Any) -> None:
        with self._lock:
            self.requests.append({"method": method, "path": path, "body": copy.deepcopy(body)})

    def dispatch(self, body: Any, fault: str | None = None) -> dict[str, Any]:
        """One request body → the JSON answer (always HTTP 200: errors travel inside it)."""
        if fault == "rate_limit":
            return envelope(errors=["20000401501"])
        if fault == "quota":
            return envelope(errors=["20000501331"])
        if fault == "service_error":
            return envelope(errors=["20000200795"])
        if not isinstance(body, dict):
            # NP's answer to a body that is not a JSON object is not documented: a refusal without data (inferred).
            return envelope(errors=[], texts=["Invalid request body"])
        key = str(body.get("apiKey") or "").strip()
        if key and key not in self.api_keys:
            return envelope(errors=["20000200068"])
        model, method = body.get("modelName"), body.get("calledMethod")
        if (model, method) != ("TrackingDocument", "getStatusDocuments"):
            # Other models exist; this sandbox knows tracking only (inferred wording).
            return envelope(errors=[], texts=[f"Method {model}.{method} is not available in this sandbox"])
        props = body.get("methodProperties")
        documents = props.get("Documents") if isinstance(props, dict) else None
        if not isinstance(documents, list) or not documents:
            return envelope(errors=["20000200157"])
        if len(documents) > MAX_DOCUMENTS:
            return envelope(errors=["20001401153"])
        asked: list[tuple[str, str]] = []
        bad: list[str] = []
        for item in documents:
            item = item if isinstance(item, dict) else {}
            number = "".join(str(item.get("DocumentNumber") or "").split())
            phone = "".join(ch for ch in str(item.get("Phone") or "") if ch.isdigit())
            (asked if number.isdigit() and len(number) == 14 else bad).append((number, phone))
        if bad:
            # One malformed number fails the whole batch, as in the public fixtures; whether NP really refuses the
            # batch or only the number is not established (reference §4): the fixtures' reading is modelled.
            return {"success": False, "data": [], "errors": [ERRORS["20001401442"]],
                    "warnings": [f"Invalid DocumentNumber: {n}" for n, _ in bad], "errorCodes": ["20001401442"],
                    "warningCodes": [], "info": []}
        data, warnings = [], []
        with self._lock:
            for number, phone in asked:
                parcel = self._parcels.get(number)
                data.append(self._record(number, parcel, keyed=bool(key), phone=phone))
                if key and parcel is not None and parcel.code not in BLANK | {STUB} and phone != parcel.phone:
                    warnings.append({f"ID_{number}": PHONE_WARNING})
        return envelope(data=data, warnings=warnings)

    # -- the parcel model -----------------------------------------------------------------------------------------

    def _record(self, number: str, parcel: _Parcel | None, *, keyed: bool, phone: str) -> dict[str, Any]:
        if parcel is None:
            return {**FIELDS, "Number": number, "StatusCode": "3", "Status": TEXTS[3]}
        if parcel.code == STUB:
            # The code-80 stub seen on international numbers that stopped resolving (reference §3): ~9 keys.
            return {"Number": number, "StatusCode": "80", "Status": "", "PossibilityEUReturn": False,
                    "FinalEUReturnDate": "", "EUReturnNumber": "", "ParentBranchCity": "", "ParentBranchName": "",
                    "Edit": False}
        if parcel.code in BLANK:
            return {**FIELDS, "Number": number, "StatusCode": str(parcel.code), "Status": TEXTS[parcel.code],
                    **parcel.extra}
        created, (code, last) = parcel.history[0][1], parcel.history[-1]
        arrived = next((m for c, m in parcel.history if c in ARRIVED), None)
        received = next((m for c, m in parcel.history if c in RECEIVED), None)
        failed = next((m for c, m in parcel.history if c in (103, 111)), None)
        branch_no = parcel.branch_recipient.split("№")[1].split(":")[0]
        eta = created + timedelta(days=2)
        text = TEXTS.get(code, "").format(city_sender=parcel.city_sender, city_recipient=parcel.city_recipient,
                                          branch=branch_no, eta=stamp(eta, "%d-%m"),
                                          received=stamp(received or last, "%d.%m.%Y"))
        record = {
            **FIELDS,
            "Number": number, "StatusCode": str(code), "Status": text,
            "DateCreated": stamp(created, DMY),
            "ScheduledDeliveryDate": stamp(eta.replace(hour=10, minute=0, second=0), DMY),
            "ActualDeliveryDate": stamp(arrived, ISO) if arrived else "",
            "RecipientDateTime": stamp(received, DOTS) if received else "",
            "TrackingUpdateDate": stamp(last, ISO),
            # No scan yet while the sender only created the waybill (the doc sample's placeholder).
            "DateScan": stamp(last, SCAN) if code != 1 else "0001-01-01 00:00:00",
            # Storage dates while the parcel waits at the branch (inferred: the fixtures show them then).
            "DateFirstDayStorage": stamp(arrived + FREE_STORAGE, DAY) if arrived and code in WAITING else "",
            "DatePayedKeeping": stamp(arrived + FREE_STORAGE, ISO) if arrived and code in WAITING else "",
            "CitySender": parcel.city_sender, "CityRecipient": parcel.city_recipient,
            "WarehouseSender": parcel.branch_sender,
            "WarehouseRecipient": parcel.branch_recipient if 8 not in parcel.path else
            f"Поштомат \"Нова Пошта\" №{branch_no}",
            "WarehouseRecipientNumber": branch_no,
            "WarehouseRecipientRef": _ref(parcel.ttn),
            "CategoryOfWarehouse": "Postomat" if 8 in parcel.path else "Branch",
            "RecipientFullName": parcel.recipient, "RecipientFullNameEW": parcel.recipient,
            "PhoneRecipient": parcel.phone, "PhoneSender": "380671234567", "SenderFullNameEW": "ФОП Тестовий Продавець",
            "RecipientAddress": f"м. {parcel.city_recipient}, {parcel.branch_recipient}",
            "Redelivery": 1 if parcel.cod else 0,
            "RedeliverySum": str(parcel.cod) if parcel.cod else "",
            "RedeliveryNum": "",
            "LastCreatedOnTheBasisNumber": parcel.reissued_as,
            "UndeliveryReasons": "Відмова одержувача" if code in (102, 103) else (
                "Відсутній одержувач" if code in (111, 112) else ""),
            "UndeliveryReasonsSubtypeDescription": "",
            "UndeliveryReasonsDate": stamp(failed, ISO) if failed else "",
            "DocumentCost": str(parcel.cost),
            "DocumentWeight": parcel.weight,
            "FactualWeight": f"{parcel.weight:.2f}",
            "SeatsAmount": "1",
            "ServiceType": "WarehouseDoors" if 101 in parcel.path else "WarehouseWarehouse",
            "PayerType": "Recipient", "PaymentMethod": "Cash", "CargoType": "Parcel",
            "AnnouncedPrice": str(max(parcel.cod, 200)),
            "CargoDescriptionString": parcel.goods,
            "PossibilityCreateReturn": code in RECEIVED,
            "PossibilityCreateRefusal": code in ARRIVED,
            "PossibilityChangeEW": code in (1, 4, 5, 6, 12),
            "PossibilityCreateRedirecting": code in ARRIVED,
            "PossibilityTermExtensio": code in ARRIVED,
        }
        blanked = KEYED if not keyed else PERSONAL if phone != parcel.phone else ()
        for name in blanked:
            record[name] = FIELDS[name]
        record.update(parcel.extra)
        return record

    def _enter(self, parcel: _Parcel, code: int) -> None:
        parcel.history.append((code, self.clock()))
        later = [i for i in range(parcel.step + 1, len(parcel.path)) if parcel.path[i] == code]
        parcel.step = later[0] if later else -1
        self._reissue(parcel)

    def _reissue(self, parcel: _Parcel) -> None:
        """A redirect or a return creates a new waybill on the basis of this one (reference §2.2)."""
        if parcel.code not in REISSUE or parcel.reissued_as:
            return
        new = self._new(self._new_number(), parcel.phone, PATHS["return"], [(PATHS["return"][0], self.clock())],
                        cod=0)
        new.city_sender, new.city_recipient = parcel.city_recipient, parcel.city_sender
        new.branch_sender, new.branch_recipient = parcel.branch_recipient, parcel.branch_sender
        parcel.reissued_as = new.ttn

    def _new(self, ttn: str, phone: str, path: tuple[int, ...], history: list[tuple[int, datetime]],
             *, cod: int) -> _Parcel:
        (city_s, branch_s), (city_r, branch_r) = self._rng.sample(CITIES, 2)
        parcel = _Parcel(ttn=ttn, phone=phone, path=path, history=history, city_sender=city_s, branch_sender=branch_s,
                         city_recipient=city_r, branch_recipient=branch_r, recipient=self._rng.choice(NAMES),
                         goods=self._rng.choice(GOODS), weight=round(self._rng.uniform(0.1, 5), 2),
                         cost=self._rng.choice((60, 70, 85, 120)), cod=cod)
        walked = [c for c, _ in history]
        parcel.step = len(walked) - 1 if tuple(walked) == path[: len(walked)] else -1
        self._parcels[ttn] = parcel
        return parcel

    def _path_through(self, code: int) -> str:
        names = [n for n in PATH_WEIGHTS if code in PATHS[n]] or list(PATH_WEIGHTS)
        return self._rng.choices(names, [PATH_WEIGHTS[n] for n in names])[0]

    def _new_number(self) -> str:
        while True:
            number = f"{self._rng.choice(('20450', '20400', '59000'))}{self._rng.randrange(10**9):09d}"
            if number not in self._parcels:
                return number

    def _new_phone(self) -> str:
        return f"380{self._rng.choice(('50', '63', '67', '68', '73', '93', '97'))}{self._rng.randrange(10**7):07d}"

    def _seed_parcels(self, count: int) -> None:
        for _ in range(count):
            name = self._rng.choices(list(PATH_WEIGHTS), list(PATH_WEIGHTS.values()))[0]
            self.add_parcel(code=self._rng.choice(PATHS[name]), path=name)


def _ref(seed: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"novaposhta-sandbox/{seed}"))


def envelope(*, data: list[Any] | None = None, warnings: list[Any] | None = None, errors: list[str] | None = None,
             texts: list[str] | None = None) -> dict[str, Any]:
    """The nine-key answer every call gets (reference §1); ``errors`` are message codes, their texts looked up."""
    failed = errors is not None
    return {"success": not failed, "data": data or [],
            "errors": (texts or []) + [ERRORS[c] for c in errors or []], "warnings": warnings or [], "info": [],
            "messageCodes": [], "errorCodes": list(errors or []), "warningCodes": [], "infoCodes": []}


# -- HTTP ---------------------------------------------------------------------------------------------------------

PATHS_SERVED = ("/", "/v2.0/json/", "/v2.0/json")


class _Handler(SandboxHandler):
    # Nova Poshta throttles inside HTTP 200 (``rate_limit``, answered by ``dispatch`` with its error code); the
    # plain HTTP 429 the other sandboxes answer is the separate, inferred ``http_rate_limit``.
    rate_limit_kind = "http_rate_limit"

    def serve(self) -> None:
        sandbox: NovaPoshtaSandbox = self.server.sandbox  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        raw = self.read_body()
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            body = None
        fault = sandbox.faults.draw(self.command, path)
        sandbox.note(self.command, path, body)
        if self.common_fault(fault):
            return
        # The path form ".../v2.0/json/TrackingDocument/getStatusDocuments" is seen in clients too (reference §1).
        if self.command != "POST" or not (path in PATHS_SERVED or path.startswith("/v2.0/json/")):
            return self.send(404, error_page(404), "text/html")
        kind = fault.kind if fault else None
        self.send_json(200, sandbox.dispatch(body, kind), malformed=kind == "malformed")


NovaPoshtaSandbox.handler = _Handler


# -- command line ---------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = sandbox_parser(
        "python -m adapters.novaposhta.sandbox",
        "Run a fake Nova Poshta API (getStatusDocuments) in the foreground (Ctrl-C stops it). Point the novaposhta "
        "carrier's base_url at the printed URL.", 8083, kinds=FAULT_KINDS, fault_example="rate_limit=0.05")
    parser.add_argument("--parcels", type=int, default=20, help="how many parcels to seed (default: %(default)s)")
    parser.add_argument("--api-key", default=DEFAULT_KEY, help="the API key accepted (default: %(default)s)")
    add_move_every(parser)
    args = parser.parse_args(argv)

    sandbox = NovaPoshtaSandbox(host=args.host, port=args.port, seed=args.seed, parcels=args.parcels,
                                api_keys=(args.api_key,))
    keep_moving(sandbox, args.move_every, "novaposhta-mover")
    numbers = sandbox.numbers()
    return serve_from_args(sandbox, parser, args, [
        f"Nova Poshta sandbox on {{url}} with {len(numbers)} parcels",
        f"  api_key: {args.api_key}",
        first_numbers("numbers", numbers),
    ])


if __name__ == "__main__":
    raise SystemExit(main())
