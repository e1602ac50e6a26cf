"""A faithful fake of Speedy's web API ``/track`` on 127.0.0.1, for `connector demo`, tests and benchmarks.

Modelled on the reference (shared/reference/econt-speedy-tracking.md §2), the vendor's sample response and the
cassettes in tests/cassettes/speedy, never on the adapter: ``POST {base}/track`` with ``userName``/``password`` in
the JSON body, ``parcels: [{id}]`` (at most 10: "Allowed are up to 10 parcels"), ``language``, ``lastOperationOnly``;
``{"parcels": [TrackedParcel]}`` out, with ``operations`` (``dateTime`` as ``yyyy-MM-ddTHH:mm:ss+0200``, Sofia
time; ``operationCode``; ``description``; ``place``; ``comment``; ``exceptionCodes``; ``returnShipmentId``;
``additionalInfo``). Errors are Speedy's Error object ``{context?, message, id, code, component?}`` on HTTP 200, at
the top level (the call failed) or per parcel (that number).

Inferred where the reference is silent (each place says so): the error code and words of a refused login (code 1,
as woo-bg reads it), of an oversized batch and of an unknown number (a per-parcel error), and the BG wording: the
sandbox answers descriptions in English whatever ``language`` says, as the reference gives only English ones.

Parcels move along realistic routes (office pickup, door delivery, a failed attempt then the office, a refusal, an
unclaimed return): ``add_parcel`` creates one with its "Shipment data received" operation, ``move`` takes the next
step at the sandbox's clock, ``advance`` appends any operation code. Fault switches imitate a bad day (``Faults``).

Run it in the foreground: ``python -m adapters.speedy.sandbox --help``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from adapters.sandbox import (
    FaultSwitches,
    RoutedParcelHandler,
    RoutedParcelSandbox,
    loads_body,
    sandbox_parser,
    serve_from_args,
)

SOFIA = ZoneInfo("Europe/Sofia")
ROUTE = re.compile(r"(?:/v1)?/track/?")
BASE_PATH = "/v1"
MAX_PARCELS = 10  # "Allowed are up to 10 parcels" (doc)

# Appendix 1 descriptions (English, as the reference gives them).
DESCRIPTIONS: dict[int, str] = {
    148: "Shipment data received", 164: "Unsuccessful shipment pickup", 39: "Courier Pick-up",
    11: "Received in Office", 1: "Arrival Scan", 2: "Departure Scan", 21: "Processed in Office",
    38: "Returned to Office", 44: "Unsuccessful Delivery", 69: "Deferred delivery", 181: "Unexpected delay",
    190: "Address problem", 169: "Capacity reached", 115: "Redirected", 116: "Forwarded",
    176: "Export to foreign provider", 217: "Handover to midway carrier", 144: "Handover for contents check/test",
    175: "Predict", 12: "Out for Delivery", 134: "Prepared for Self-collecting Consignee",
    1134: "Office/Locker ready for pickup message sent", -14: "Delivered", 123: "Refused by recipient",
    195: "Refuse contents check/test", 111: "Return to Sender", 121: "Stopped by Sender",
    124: "Delivered Back to Sender", 112: "Insurance dept.", 114: "For destruction", 125: "Destroyed", 127: "Theft",
    129: "Administrative closure", 128: "Canceled",
}
# Offices: id, name, street, city as Speedy prints places ("GR. SOFIA"). Real cities, made-up offices.
OFFICES = (
    (261, "SOFIA - SREBARNA", "ul. SREBARNA Nr 15", "SOFIA"),
    (183, "NOVI ISKAR", "ul. ISKARSKO DEFILE Nr 281", "NOVI ISKAR"),
    (402, "PLOVDIV - TRAKIA", "bul. OSVOBOZHDENIE Nr 30", "PLOVDIV"),
    (903, "VARNA - CHAYKA", "ul. CHAYKA Nr 12", "VARNA"),
    (801, "BURGAS - CENTER", "ul. ALEKSANDROVSKA Nr 2", "BURGAS"),
)
# Routes: the operation codes after 148, in order. 44 and 111 come with exception codes (Appendix 2).
ROUTES: dict[str, tuple[int, ...]] = {
    "office": (39, 11, 2, 1, 134, 1134, -14),
    "door": (39, 11, 2, 1, 175, 12, -14),
    "failed": (39, 11, 2, 1, 12, 44, 38, 134, -14),
    "refused": (39, 11, 2, 1, 12, 123, 111, 124),
    "unclaimed": (39, 11, 2, 1, 134, 111, 124),
}
SEED_ROUTES, SEED_WEIGHTS = tuple(ROUTES), (8, 8, 3, 2, 2)
EXCEPTIONS = {  # route → (operation, exception codes, the comment's words)
    ("failed", 44): (["19", "1020"], "Consignee not present - informed first time [#19]\r\n"
                                     "Consignee not reachable - routed to office [#1020]"),
    ("failed", 38): (["19", "1020"], ""),
    ("refused", 111): (["12"], "Refused by consignee [#12]"),  # wording inferred
    ("unclaimed", 111): (["1004"], "In office - not claimed [#1004]"),
}


class Faults(FaultSwitches):
    """The Speedy sandbox's fault switches.

    Kinds: ``server_error`` (HTTP 500/502/503 with an HTML page; ``status=`` picks one), ``rate_limit`` (HTTP 429,
    ``Retry-After: retry_after``; Speedy documents no rate limit), ``slow`` (answers after ``seconds``), ``reset``
    (the connection closes with no answer; the request is not handled), ``malformed`` (the request is handled; the
    JSON answer arrives cut in half). ``path=`` and ``method=`` narrow a fault.
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"server_error", "rate_limit", "slow", "reset", "malformed"})


class ApiError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message"))
        self.error = error


@dataclass
class _Parcel:
    parcel_id: str
    route: str
    origin: tuple[int, str, str, str]
    destination: tuple[int, str, str, str]
    operations: list[dict[str, Any]] = field(default_factory=list)
    done: int = 0


class SpeedySandbox(RoutedParcelSandbox):
    """Speedy's tracking in one process. State lives in memory behind one lock. Set-up, logins and seeding are
    shared with Econt's fake (adapters/sandbox.py)."""

    thread_name = "speedy-sandbox"
    base_path = BASE_PATH
    routes, seed_routes, seed_weights = ROUTES, SEED_ROUTES, SEED_WEIGHTS
    _parcels: dict[str, _Parcel]

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, seed: int | None = None, parcels: int = 0,
                 clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(Faults(seed), host=host, port=port, seed=seed, clock=clock)
        self.seed_parcels(parcels)

    # -- set-up and inspection (``add_login`` is shared) --------------------------------------------------------

    def add_parcel(self, parcel_id: str | None = None, *, route: str = "office", steps: int = 0,
                   destination: int | None = None) -> str:
        """A shipment whose data Speedy has just received (operation 148), then ``steps`` moves along ``route``
        (office, door, failed, refused, unclaimed). Returns its parcel id."""
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; one of: {', '.join(ROUTES)}")
        with self._lock:
            parcel_id = parcel_id or self._new_id()
            origin = self._rng.choice(OFFICES)
            dest = OFFICES[destination] if destination is not None else \
                self._rng.choice([o for o in OFFICES if o != origin])
            parcel = _Parcel(parcel_id, route, origin, dest)
            self._parcels[parcel_id] = parcel
            expected = (self.clock() + timedelta(days=1)).astimezone(SOFIA).strftime("%d.%m.%Y")
            self._operate(parcel, 148, comment=f"gr. {dest[3]}\r\nExpected Delivery Date: {expected}", place=False)
        for _ in range(steps):
            self.move(parcel_id)
        return parcel_id

    def move(self, parcel_id: str) -> int | None:
        """The parcel's next operation along its route, now; returns its code, or None when the route is done."""
        with self._lock:
            parcel = self._parcels[parcel_id]
            route = ROUTES[parcel.route]
            if parcel.done >= len(route):
                return None
            code = route[parcel.done]
            parcel.done += 1
            self._step(parcel, code)
            return code

    def advance(self, parcel_id: str, code: int, *, exception_codes: list[str] | None = None,
                comment: str = "") -> None:
        """Append any operation now (a code from Appendix 1), e.g. 128 Canceled or 125 Destroyed."""
        if code not in DESCRIPTIONS:
            raise ValueError(f"operation code {code} is not in Appendix 1")
        with self._lock:
            self._operate(self._parcels[parcel_id], code, exception_codes=exception_codes, comment=comment)

    def operations(self, parcel_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._parcels[parcel_id].operations)

    def parcel_ids(self) -> list[str]:
        with self._lock:
            return list(self._parcels)

    # -- request handling (called by the HTTP handler's threads) -----------------------------------------------

    def record_request(self, method: str, path: str, _headers: dict[str, str], raw: bytes,
                       fault: str | None) -> None:
        """Every request as it arrives, faulty or not (the password is not kept): tests count them."""
        body = loads_body(raw)
        if isinstance(body, dict):
            body = {k: ("***" if k == "password" else copy.deepcopy(v)) for k, v in body.items()}
        with self._lock:
            self.requests.append({"method": method, "path": path, "body": body if body is not ValueError else None,
                                  "fault": fault})

    def handle(self, method: str, path: str, _headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        """One request → (HTTP status, JSON body)."""
        if not ROUTE.fullmatch(path):
            return 404, {"error": self._error("Unknown service", 1)}  # inferred
        body = loads_body(raw)
        try:
            if method != "POST" or not isinstance(body, dict):
                raise ApiError(self._error("Invalid request", 1))  # inferred: the URL GET form is not modelled
            with self._lock:
                if self._logins.get(str(body.get("userName") or "")) != body.get("password") or \
                        not body.get("userName"):
                    # Code 1 is what woo-bg reads as refused access (client); the words are inferred.
                    raise ApiError(self._error("Invalid username or password", 1))
                refs = body.get("parcels")
                if not isinstance(refs, list) or not refs:
                    raise ApiError(self._error("parcels: at least one parcel is required", 1, "parcels"))
                if len(refs) > MAX_PARCELS:
                    # The limit is documented; the error's code and component are inferred, the words are the doc's.
                    raise ApiError(self._error("Allowed are up to 10 parcels", 1, "parcels"))
                last_only = bool(body.get("lastOperationOnly"))
                return 200, {"parcels": [self._tracked(ref, last_only) for ref in refs]}
        except ApiError as exc:
            return 200, {"error": exc.error}

    def _tracked(self, ref: Any, last_only: bool) -> dict[str, Any]:
        parcel_id = str(ref.get("id") or "").strip() if isinstance(ref, dict) else ""
        parcel = self._parcels.get(parcel_id)
        if parcel is None:
            # An unknown id: a per-parcel error (reference §2.4: "expect a per-parcel error"); code and words inferred.
            return {"parcelId": parcel_id, "error": self._error("Parcel not found", 1)}
        ops = parcel.operations[-1:] if last_only else parcel.operations
        return {"parcelId": parcel.parcel_id, "operations": copy.deepcopy(ops)}

    def _error(self, message: str, code: int, component: str | None = None) -> dict[str, Any]:
        error: dict[str, Any] = {"message": message, "id": f"{self._rng.getrandbits(64):016x}", "code": code}
        if component:
            error["component"] = component
        return error

    # -- the parcel model --------------------------------------------------------------------------------------

    def _step(self, parcel: _Parcel, code: int) -> None:
        exceptions, comment = EXCEPTIONS.get((parcel.route, code), (None, ""))
        extra: dict[str, Any] = {}
        if code in (134, 1134):
            office = parcel.destination
            comment = f"{office[0]} - {office[1]}\r\n{office[2]}"
            if code == 134:
                extra["additionalInfo"] = {"officeURL": f"https://services.speedy.bg/officesmap_v2/?lang=en&id="
                                                        f"{office[0]}", "geoPUDOId": f"BG00{office[0]}"}
        if code == 175:
            visit = (self.clock() + timedelta(hours=13)).replace(minute=0, second=0, microsecond=0)
            extra["additionalInfo"] = {"predict": {"predictedVisitDateTimeFrom": _stamp(visit),
                                                   "predictedVisitDateTimeTo": _stamp(visit + timedelta(hours=1)),
                                                   "canceled": False}}
            comment = f"Predict for {visit.astimezone(SOFIA):%d.%m.%Y} - delivery between " \
                      f"{visit.astimezone(SOFIA):%H:%M} and {(visit + timedelta(hours=1)).astimezone(SOFIA):%H:%M}"
        if code in (111, 124):
            back = parcel.operations[-1].get("returnShipmentId") if code == 124 else self._new_id()
            extra["returnShipmentId"] = back
            comment = f"awb: {back}" + (f"\r\n{comment}" if comment else "")
        if code == -14:
            extra["consignee"] = "ТЕСТОВ ПОЛУЧАТЕЛ"  # the recipient's name, as Speedy shows it (made up)
        self._operate(parcel, code, exception_codes=exceptions, comment=comment, extra=extra,
                      place=code not in (175, 195))

    def _operate(self, parcel: _Parcel, code: int, *, exception_codes: list[str] | None = None, comment: str = "",
                 extra: dict[str, Any] | None = None, place: bool = True) -> None:
        now = self.clock()
        where = parcel.origin if code in (39, 11) or (code == 124) else parcel.destination
        op: dict[str, Any] = {"dateTime": _stamp(now), "operationCode": code, "description": DESCRIPTIONS[code]}
        if place:
            op["place"] = f"GR. {where[3]}"
        if comment:
            op["comment"] = comment
        if exception_codes:
            op["exceptionCodes"] = list(exception_codes)
        op.update({k: v for k, v in (extra or {}).items() if k != "additionalInfo"})
        op["additionalInfo"] = (extra or {}).get("additionalInfo", {})
        parcel.operations.append(op)

    def _new_id(self) -> str:
        while True:
            parcel_id = f"{self._rng.randrange(10**10, 10**11)}"  # 11 digits, as production numbers are said to be
            if parcel_id not in self._parcels:
                return parcel_id


def _stamp(moment: datetime) -> str:
    """Speedy's format: Sofia time with a colon-less offset, e.g. 2022-02-24T08:59:12+0200."""
    return moment.astimezone(SOFIA).strftime("%Y-%m-%dT%H:%M:%S%z")


# -- HTTP ---------------------------------------------------------------------------------------------------------

# Served as Econt's fake is (adapters/sandbox.py); Speedy's login travels in the body, so the headers go unread.
SpeedySandbox.handler = RoutedParcelHandler


# -- command line ---------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = sandbox_parser(
        "python -m adapters.speedy.sandbox",
        "Run a fake Speedy /track API in the foreground (Ctrl-C stops it). Point the connector's speedy carrier "
        "base_url at the printed URL.", 8084, kinds=Faults.kinds)
    parser.add_argument("--parcels", type=int, default=10, help="how many parcels to seed at random stages "
                        "(default: %(default)s)")
    parser.add_argument("--username", default="speedy-user", help="the userName accepted (default: %(default)s)")
    parser.add_argument("--password", default="speedy-pass", help="its password (default: %(default)s)")
    args = parser.parse_args(argv)

    sandbox = SpeedySandbox(host=args.host, port=args.port, seed=args.seed, parcels=args.parcels)
    sandbox.add_login(args.username, args.password)
    lines = [f"Speedy sandbox on {{url}}{BASE_PATH} with {args.parcels} parcels",
             f"  userName: {args.username}   password: {args.password}"]
    lines += [f"  {p}: {sandbox.operations(p)[-1]['description']}" for p in sandbox.parcel_ids()]
    return serve_from_args(sandbox, parser, args, lines)


if __name__ == "__main__":
    raise SystemExit(main())
