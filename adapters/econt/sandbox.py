"""A faithful fake of Econt's shipment-status service on 127.0.0.1, for `connector demo`, tests and benchmarks.

Modelled on the reference (shared/reference/econt-speedy-tracking.md §1) and the cassettes in tests/cassettes/econt,
never on the adapter: ``POST {base}/Shipments/ShipmentService.getShipmentStatuses.json`` (POST only) with HTTP Basic,
``{"shipmentNumbers": [...]}`` in, ``{"shipmentStatuses": [{status, error}, ...]}`` out in the order asked, times as
epoch milliseconds, the text fields in Bulgarian and English pairs, the 14 short statuses, ``destinationType`` per
event. A number the sandbox does not know gets a per-number error with ``status: null``, as Econt answers a number
not found or not scanned yet; a wrong login gets Econt's Error object.

Where the reference is silent the sandbox does what Econt most plausibly does; each such place says "inferred":
the HTTP status of errors, the error ``type`` of an unknown number, the wording of event details, and the batch limit
(none by default: Econt documents none; ``max_batch=`` sets one).

Parcels move along realistic routes (office or door delivery, a refusal, an unclaimed parcel coming back, a
cancellation): ``add_parcel`` creates one, ``move`` takes its next step at the sandbox's clock, ``advance`` forces
an event of a given ``destinationType``. Fault switches imitate a bad day (``Faults``).

Run it in the foreground: ``python -m adapters.econt.sandbox --help``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from adapters.sandbox import (
    FaultSwitches,
    RoutedParcelHandler,
    RoutedParcelSandbox,
    loads_body,
    sandbox_parser,
    serve_from_args,
)

ROUTE = re.compile(r"(?:/ee)?/services/Shipments/ShipmentService\.getShipmentStatuses\.json")
BASE_PATH = "/services"  # the production base is https://ee.econt.com/services (the demo's is /ee/services)

# The 14 documented short statuses, Bulgarian and English, in the documented order (reference §1.3).
SHORT: dict[int, tuple[str, str]] = {
    1: ("Подготвена в eEcont", "Prepared in eEcont"),
    2: ("Приета в Еконт", "Accepted in Econt"),
    3: ("Пътува по линия", "In route"),
    4: ("В куриер", "In courier"),
    5: ("В офис на приемащ куриер", "In pick up courier"),
    6: ("Приета в офис", "Accepted in office"),
    7: ("в офис на предаващ куриер", "In delivery courier's office"),
    8: ("Пристигнала в офис", "Arrived in office"),
    9: ("Постъпила за обработка в Логистичен център", "Arrival departure from hub"),
    10: ("Доставена", "Delivered"),
    11: ("Анулирана след изпращане", "Cancelled after sending"),
    12: ("Анулирана преди изпращане", "Cancelled before sending"),
    13: ("Връща се към подател", "Is returning to sender"),
    14: ("Върната и доставена към подател", "Returned to sender"),
}

# Offices: code, name (BG, EN), city (BG, EN). Real cities, made-up office names.
OFFICES = (
    ("1000", "София - Център", "Sofia - Center", "София", "Sofia"),
    ("1407", "София - Лозенец", "Sofia - Lozenets", "София", "Sofia"),
    ("4000", "Пловдив - Тракия", "Plovdiv - Trakia", "Пловдив", "Plovdiv"),
    ("9000", "Варна - Чайка", "Varna - Chayka", "Варна", "Varna"),
    ("8000", "Бургас - Център", "Burgas - Center", "Бургас", "Burgas"),
    ("7000", "Русе - Център", "Ruse - Center", "Русе", "Ruse"),
)
HUB = ("1001", "Логистичен център София", "Logistics center Sofia", "София", "Sofia")


@dataclass(frozen=True)
class Step:
    """One move along a route: the event it adds (None: only the short status changes), the short status after it,
    where it happens (origin, hub or destination office), the event's details (inferred wording) and what else
    changes on the record."""

    event: str | None
    short: int
    where: str = "origin"
    details: tuple[str, str] = ("", "")
    effect: str = ""


STEPS: dict[str, Step] = {
    "accepted": Step("office", 2, "origin", ("Приета в офис", "Accepted in office"), "send"),
    "line": Step("courier_direction", 3, "origin", ("Пътува по линия", "In route")),
    "hub": Step("arrival_departure_from_hub", 9, "hub",
                ("Пристигнала/заминала от логистичен център", "Arrival/departure from hub")),
    "arrived": Step("in_delivery_office", 8, "destination", ("Пристигнала в офис", "Arrived in office")),
    "courier": Step("in_delivery_courier", 4, "destination",
                    ("Предадена на куриер за доставка", "Handed to a courier for delivery")),
    "delivered": Step("client", 10, "destination", ("Доставена", "Delivered"), "deliver"),
    "refused": Step("return", 13, "destination", ("Отказана от получателя", "Refused by the recipient"), "refuse"),
    "unclaimed": Step("return", 13, "destination", ("Непотърсена пратка", "Not collected"), "unclaimed"),
    "returning": Step("is_returning_to_sender", 13, "hub", ("Връща се към подател", "Is returning to sender")),
    "returned": Step("returned_to_sender", 14, "origin", ("Върната на подателя", "Returned to sender")),
    "cancelled": Step(None, 12, "origin", effect=""),
}
ROUTES: dict[str, tuple[str, ...]] = {
    "office": ("accepted", "line", "hub", "arrived", "delivered"),
    "door": ("accepted", "line", "hub", "courier", "delivered"),
    "refused": ("accepted", "line", "hub", "arrived", "refused", "returning", "returned"),
    "unclaimed": ("accepted", "line", "hub", "arrived", "unclaimed", "returning", "returned"),
    "cancelled": ("cancelled",),
}
SEED_ROUTES, SEED_WEIGHTS = ("office", "door", "refused", "unclaimed", "cancelled"), (10, 6, 2, 2, 1)
# The short status an event of each destinationType leaves behind, for ``advance`` (inferred pairing).
SHORT_OF_EVENT = {
    "client": 10, "courier": 3, "courier_direction": 3, "office": 6, "first_try": 4, "second_try": 4,
    "instruction": 3, "redirect": 3, "return": 13, "destroy": 11, "failed_delivery": 8, "in_pickup_courier": 5,
    "in_pickup_office": 6, "in_delivery_courier": 4, "in_delivery_office": 8, "arrival_departure_from_hub": 9,
    "is_returning_to_sender": 13, "returned_to_sender": 14,
}


class Faults(FaultSwitches):
    """The Econt sandbox's fault switches.

    Kinds: ``server_error`` (HTTP 500/502/503 with an HTML page; ``status=`` picks one), ``rate_limit`` (HTTP 429,
    ``Retry-After: retry_after``; Econt is not known to send it, clients guard against it), ``slow`` (answers after
    ``seconds``), ``reset`` (the connection closes with no answer; the request is not handled), ``malformed`` (the
    request is handled; the JSON answer arrives cut in half). ``path=`` and ``method=`` narrow a fault.
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"server_error", "rate_limit", "slow", "reset", "malformed"})


class ApiError(Exception):
    """Econt's Error object ``{type, message, fields, innerErrors}`` with the HTTP status it travels on."""

    def __init__(self, http: int, error_type: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.http = http
        self.body = {"type": error_type, "message": message, "fields": fields or [], "innerErrors": []}


@dataclass
class _Parcel:
    number: str
    route: str
    origin: tuple[str, str, str, str, str]
    destination: tuple[str, str, str, str, str]
    record: dict[str, Any]
    done: int = 0  # steps of the route taken
    history: list[str] = field(default_factory=list)


class EcontSandbox(RoutedParcelSandbox):
    """Econt's tracking service in one process. State lives in memory behind one lock. Set-up, logins and seeding
    are shared with Speedy's fake (adapters/sandbox.py); the batch limit and anonymous tracking are Econt's."""

    thread_name = "econt-sandbox"
    base_path = BASE_PATH
    routes, seed_routes, seed_weights = ROUTES, SEED_ROUTES, SEED_WEIGHTS
    _parcels: dict[str, _Parcel]

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, seed: int | None = None, parcels: int = 0,
                 clock: Callable[[], datetime] | None = None, max_batch: int | None = None,
                 anonymous: bool = False) -> None:
        super().__init__(Faults(seed), host=host, port=port, seed=seed, clock=clock)
        self.max_batch = max_batch  # None: no limit, as documented (there is none documented)
        self.anonymous = anonymous  # tracking without a login (ha-econt does it; unverified)
        self.seed_parcels(parcels)

    # -- set-up and inspection (``add_login`` is shared) --------------------------------------------------------

    def add_parcel(self, number: str | None = None, *, route: str = "office", steps: int = 0,
                   destination: int | None = None) -> str:
        """A waybill created now ("Prepared in eEcont", no events yet), then ``steps`` moves along ``route``
        (office, door, refused, unclaimed, cancelled). Returns its number."""
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; one of: {', '.join(ROUTES)}")
        with self._lock:
            number = number or self._new_number()
            origin = self._rng.choice(OFFICES)
            dest = OFFICES[destination] if destination is not None else \
                self._rng.choice([o for o in OFFICES if o != origin])
            now = self.clock()
            record = {
                "shipmentNumber": number,
                "storageOfficeName": origin[1],
                "createdTime": _ms(now), "sendTime": None, "deliveryTime": None,
                "shortDeliveryStatus": SHORT[1][0], "shortDeliveryStatusEn": SHORT[1][1],
                "receiverDeliveryType": "door" if route == "door" else "office",
                "receiverOfficeCode": None if route == "door" else dest[0],
                "deliveryAttemptCount": 0,
                "expectedDeliveryDate": None,
                "lastProcessedInstruction": None,
                "nextShipments": [], "previousShipment": None,
                "rejectOriginalParcelPaySide": None, "rejectReturnParcelPaySide": None,
                "trackingEvents": [],
            }
            self._parcels[number] = _Parcel(number, route, origin, dest, record)
        for _ in range(steps):
            self.move(number)
        return number

    def move(self, number: str) -> str | None:
        """The parcel's next step along its route, now; returns the new English short status, or None when the
        route is done (the parcel stays as it is)."""
        with self._lock:
            parcel = self._parcels[number]
            route = ROUTES[parcel.route]
            if parcel.done >= len(route):
                return None
            name = route[parcel.done]
            parcel.done += 1
            self._apply(parcel, STEPS[name], name)
            return SHORT[STEPS[name].short][1]

    def advance(self, number: str, destination_type: str, *, receipt: bool = False) -> None:
        """Force an event of ``destination_type`` now, with the short status it most plausibly leaves (inferred);
        ``receipt`` marks it as a return-receipt event (isReceipt), which leaves the short status alone."""
        if destination_type not in SHORT_OF_EVENT:
            raise ValueError(f"unknown destinationType {destination_type!r}")
        with self._lock:
            parcel = self._parcels[number]
            effect = {"client": "deliver", "return": "unclaimed"}.get(destination_type, "")
            step = Step(destination_type, SHORT_OF_EVENT[destination_type], "destination",
                        ("", ""), "" if receipt else effect)
            self._apply(parcel, step, destination_type, receipt=receipt)

    def record(self, number: str) -> dict[str, Any]:
        """The parcel's ShipmentStatus as the API shows it."""
        with self._lock:
            return copy.deepcopy(self._parcels[number].record)

    def numbers(self) -> list[str]:
        with self._lock:
            return list(self._parcels)

    def put_record(self, record: dict[str, Any]) -> None:
        """A ShipmentStatus as-is (a cassette's), answered verbatim; ``move`` has no route for it."""
        with self._lock:
            number = str(record["shipmentNumber"])
            self._parcels[number] = _Parcel(number, "cancelled", OFFICES[0], OFFICES[1], copy.deepcopy(record),
                                            done=1)

    # -- request handling (called by the HTTP handler's threads) -----------------------------------------------

    def record_request(self, method: str, path: str, headers: dict[str, str], raw: bytes, fault: str | None) -> None:
        """Every request as it arrives, faulty or not: tests count them."""
        login = _basic_user(headers.get("authorization", ""))
        body = loads_body(raw)
        with self._lock:
            self.requests.append({"method": method, "path": path, "user": login[0] if login else None,
                                  "body": None if body is ValueError else copy.deepcopy(body), "fault": fault})

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        """One request → (HTTP status, JSON body)."""
        username = _basic_user(headers.get("authorization", ""))
        body = loads_body(raw)
        if not ROUTE.fullmatch(path):
            # An unknown service: Econt's answer is not documented (inferred: a 404 with its Error object).
            return 404, ApiError(404, "ExNotFound", f"Unknown service {path}").body
        try:
            if method != "POST":  # "only POST is accepted" (doc); the status is inferred
                raise ApiError(405, "ExInvalidParam", "Only POST requests are accepted")
            with self._lock:
                self._authenticate(username)
                numbers = _numbers(body)
                if self.max_batch is not None and len(numbers) > self.max_batch:
                    raise ApiError(400, "ExInvalidParam", f"Too many shipment numbers (at most {self.max_batch})",
                                   ["shipmentNumbers"])
                return 200, {"shipmentStatuses": [self._status_element(n) for n in numbers]}
        except ApiError as exc:
            return exc.http, exc.body

    def _authenticate(self, login: tuple[str, str] | None) -> None:
        if login is None and self.anonymous:
            return
        if login is None or self._logins.get(login[0]) != login[1]:
            # The Error object Econt answers a rejected login with: ExInvalidParam (client: woo-bg reads it so).
            # The HTTP status and the words are inferred.
            raise ApiError(401, "ExInvalidParam", "Невалидно потребителско име или парола")

    def _status_element(self, number: str) -> dict[str, Any]:
        parcel = self._parcels.get(str(number).strip())
        if parcel is None:
            # Not found, or not scanned yet: Econt says the same for both and does not name the number here
            # (reference §1.2). The error type is inferred: Econt's is not documented.
            return {"status": None, "error": {"type": "ExShipmentNotFound", "message": "Пратката не е намерена",
                                              "fields": [], "innerErrors": []}}
        return {"status": copy.deepcopy(parcel.record), "error": None}

    # -- the parcel model --------------------------------------------------------------------------------------

    def _apply(self, parcel: _Parcel, step: Step, name: str, *, receipt: bool = False) -> None:
        now, record = self.clock(), parcel.record
        office = {"origin": parcel.origin, "hub": HUB, "destination": parcel.destination}[step.where]
        if step.event is not None:
            record["trackingEvents"].append({
                "time": _ms(now), "isReceipt": receipt, "destinationType": step.event,
                "destinationDetails": step.details[0] or None, "destinationDetailsEn": step.details[1] or None,
                "officeName": office[1], "officeNameEn": office[2], "officeCode": office[0],
                "cityName": office[3], "cityNameEn": office[4], "countryCode": "BGR",
            })
        parcel.history.append(name)
        if receipt:
            return
        record["shortDeliveryStatus"], record["shortDeliveryStatusEn"] = SHORT[step.short]
        if step.event is not None:
            record["storageOfficeName"] = office[1]
        if step.effect == "send" or (step.event and record["sendTime"] is None):
            record["sendTime"] = _ms(now)
            record["expectedDeliveryDate"] = _ms(_midnight(now + timedelta(days=1)))  # next working day (inferred)
        if step.event in ("in_delivery_courier", "in_delivery_office"):
            record["deliveryAttemptCount"] = (record["deliveryAttemptCount"] or 0) + 1
        if step.effect == "deliver":
            record["deliveryTime"] = _ms(now)
        if step.effect in ("refuse", "unclaimed"):
            record["lastProcessedInstruction"] = "return"
            reason = "Отказ от получателя" if step.effect == "refuse" else "Непотърсена пратка"  # inferred wording
            back = self._new_number()
            record["nextShipments"].append({"shipmentNumber": back, "reason": reason,
                                            "pdfURL": f"https://ee.econt.com/pdf/{back}.pdf"})
            if step.effect == "refuse":
                # Filled when the recipient refused (doc); which side is inferred: the sender pays both ways.
                record["rejectOriginalParcelPaySide"] = "sender"
                record["rejectReturnParcelPaySide"] = "sender"

    def _new_number(self) -> str:
        while True:
            number = f"105{self._rng.randrange(10**10):010d}"  # 13 digits starting 105, as every sample (§3)
            if number not in self._parcels:
                return number


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _basic_user(header: str) -> tuple[str, str] | None:
    if header[:6].lower() != "basic ":
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return user, password


def _numbers(body: Any) -> list[str]:
    numbers = body.get("shipmentNumbers") if isinstance(body, dict) else None
    if not isinstance(numbers, list) or not all(isinstance(n, str | int) for n in numbers):
        # What Econt answers a malformed request is not documented (inferred: its Error object, HTTP 400).
        raise ApiError(400, "ExInvalidParam", "shipmentNumbers: a list of shipment numbers is required",
                       ["shipmentNumbers"])
    return [str(n) for n in numbers]


# -- HTTP ---------------------------------------------------------------------------------------------------------

# Served as Speedy's fake is (adapters/sandbox.py); Econt's login travels in the headers (HTTP Basic).
EcontSandbox.handler = RoutedParcelHandler


# -- command line ---------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = sandbox_parser(
        "python -m adapters.econt.sandbox",
        "Run a fake Econt shipment-status service in the foreground (Ctrl-C stops it). Point the connector's econt "
        "carrier base_url at the printed URL.", 8083, kinds=Faults.kinds)
    parser.add_argument("--parcels", type=int, default=10, help="how many parcels to seed at random stages "
                        "(default: %(default)s)")
    parser.add_argument("--username", default="iasp-dev", help="the login accepted (default: %(default)s, "
                        "Econt's public demo user)")
    parser.add_argument("--password", default="1Asp-dev", help="its password (default: %(default)s)")
    parser.add_argument("--max-batch", type=int, default=None, help="refuse more numbers per call than this "
                        "(default: no limit, as Econt documents none)")
    args = parser.parse_args(argv)

    sandbox = EcontSandbox(host=args.host, port=args.port, seed=args.seed, parcels=args.parcels,
                           max_batch=args.max_batch)
    sandbox.add_login(args.username, args.password)
    lines = [f"Econt sandbox on {{url}}{BASE_PATH} with {args.parcels} parcels",
             f"  username: {args.username}   password: {args.password}"]
    lines += [f"  {n}: {sandbox.record(n)['shortDeliveryStatusEn']}" for n in sandbox.numbers()]
    return serve_from_args(sandbox, parser, args, lines)


if __name__ == "__main__":
    raise SystemExit(main())
