"""A faithful fake of Ukrposhta's StatusTracking API (``/status-tracking/0.0.1/``) on 127.0.0.1.

Modelled on the shared reference (shared/reference/novaposhta-tracking.md §8) and the cassettes in
tests/cassettes/ukrposhta, never on the adapter: a bearer token per contract; ``POST statuses/with-not-found`` and
``POST statuses/last/with-not-found`` taking a JSON array of barcodes and answering ``{"found": {barcode:
[events]}, "notFound": [barcodes]}``; ``GET statuses?barcode=`` and ``GET statuses/last?barcode=``. Events carry
the documented fields (``barcode, step, date, index, name, event, eventName, country, eventReason,
eventReason_id, mailType, indexOrder``) with the documented example's types and its ISO local times.

Parcels move along realistic event paths (``move``), or get any event (``advance``); a return ends in 41000 with
``eventReason_id`` 10. What the reference does not give is inferred and says so: the Ukrainian event names, the
error bodies (the API gateway's JSON fault for a bad token; ``{code, message}`` elsewhere, as a public client reads
them) and the history batch's limit of 50.

Run it in the foreground: ``python -m adapters.ukrposhta.sandbox --help``.
"""

from __future__ import annotations

import copy
import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from adapters.sandbox import (FaultSwitches, Sandbox, SandboxHandler, add_move_every, first_numbers, keep_moving,
                              sandbox_parser, serve_from_args)

KYIV = ZoneInfo("Europe/Kyiv")
PREFIX = "/status-tracking/0.0.1"
DEFAULT_TOKEN = "11111111-1111-1111-1111-111111111111"  # the documentation's placeholder bearer
HISTORY_LIMIT = 50  # inferred: public clients chunk the history batch by 50; nothing documents a limit
LAST_LIMIT = 100  # documented for the last-status batch: "You can send up to 100 barcodes in a request"
DOMESTIC_MAIL = 1048576  # mailType of the documented example

# Event names in Ukrainian (inferred: the clients list no eventName texts; the API answers in UA by default).
EVENTS: dict[int, str] = {
    10100: "Прийнято", 10600: "Скасовано відправником", 10601: "Створено", 10602: "Скасовано", 10603: "Видалено",
    20700: "Надійшло до сортувального центру", 20800: "Відправлено", 20900: "Відправлено до відділення",
    21400: "Зберігання", 21500: "Відправлено до пункту видачі", 21700: "Надійшло до відділення",
    31100: "Невдала спроба вручення", 31200: "Повертається відправнику", 31300: "Переадресовано",
    31400: "Переадресовано після невдалої спроби вручення", 41000: "Вручено",
    48000: "Вручено в країні призначення",
}
REASONS: dict[int, str] = {1: "", 2: "особисто", 10: "повернення відправнику", 11: "адресат відсутній"}

# Paths of (event, eventReason_id) (inferred from the event meanings, reference §8).
PATHS: dict[str, tuple[tuple[int, int], ...]] = {
    "branch": ((10601, 1), (10100, 1), (20700, 1), (20800, 1), (20900, 1), (21700, 1), (41000, 2)),
    "pickup_point": ((10601, 1), (10100, 1), (20700, 1), (20800, 1), (21500, 1), (21700, 1), (21400, 1),
                     (41000, 2)),
    "failed": ((10601, 1), (10100, 1), (20700, 1), (20800, 1), (21500, 1), (31100, 11), (31400, 1), (21700, 1),
               (41000, 2)),
    "returned": ((10601, 1), (10100, 1), (20700, 1), (20800, 1), (21700, 1), (21400, 1), (31200, 1), (20800, 1),
                 (21700, 1), (41000, 10)),
    "cancelled": ((10601, 1), (10600, 1)),
}
PATH_WEIGHTS = {"branch": 10, "pickup_point": 3, "failed": 2, "returned": 2, "cancelled": 1}
OFFICES = (("03505", "DKD KYIV"), ("65501", "DKD ODESSA"), ("79000", "LVIV 1"), ("61001", "KHARKIV 1"),
           ("49000", "DNIPRO 1"), ("21001", "VINNYTSIA 1"))
FAULT_KINDS = frozenset({"server_error", "rate_limit", "slow", "reset", "malformed"})


class Faults(FaultSwitches):
    """The Ukrposhta sandbox's fault switches. Kinds: ``server_error`` (HTTP 500/502/503 with nginx's HTML;
    ``status=`` picks one), ``rate_limit`` (HTTP 429 with ``Retry-After: retry_after``; inferred, nothing documents
    Ukrposhta's throttling), ``slow`` (answers after ``seconds``), ``reset`` (the connection closes with no answer),
    ``malformed`` (the request is handled, its JSON arrives cut in half with HTTP 200)."""

    kinds = FAULT_KINDS


@dataclass
class _Parcel:
    barcode: str
    path: tuple[tuple[int, int], ...]
    events: list[tuple[int, int, datetime]]  # (event, eventReason_id, when)
    origin: tuple[str, str]
    destination: tuple[str, str]
    step: int = -1  # where on ``path`` it is; -1: off the path


class ApiError(Exception):
    def __init__(self, http: int, body: dict[str, Any]) -> None:
        super().__init__(str(body))
        self.http, self.body = http, body


class UkrposhtaSandbox(Sandbox):
    """Ukrposhta's StatusTracking in one process. State lives in memory behind one lock."""

    thread_name = "ukrposhta-sandbox"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, seed: int | None = None, parcels: int = 0,
                 tokens: tuple[str, ...] = (DEFAULT_TOKEN,), clock: Callable[[], datetime] | None = None) -> None:
        self.host, self.port = host, port
        self.clock = clock or (lambda: datetime.now(UTC))
        self.tokens = set(tokens)
        self.requests: list[dict[str, Any]] = []  # every request: method, path, query, body
        self.faults = Faults(seed)
        self.log_requests = False
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._parcels: dict[str, _Parcel] = {}
        for _ in range(parcels):
            name = self._rng.choices(list(PATH_WEIGHTS), list(PATH_WEIGHTS.values()))[0]
            self.add_parcel(code=self._rng.choice(PATHS[name])[0], path=name)

    # -- set-up and inspection ----------------------------------------------------------------------------------

    def add_parcel(self, barcode: str | None = None, phone: str = "", code: int = 10100, *,
                   path: str | None = None) -> str:
        """A parcel whose latest event is ``code``, the earlier steps of its path stamped before now. ``phone`` is
        accepted for symmetry with other carriers (StatusTracking's batch does not use it). Returns its barcode."""
        with self._lock:
            name = path or self._path_through(code)
            steps = PATHS[name]
            codes = [c for c, _ in steps]
            walked = list(steps[: codes.index(code) + 1]) if code in codes else [(code, 1)]
            now, moments = self.clock(), []
            for _ in walked:
                moments.insert(0, (moments[0] if moments else now) - timedelta(minutes=self._rng.randint(20, 600)))
            moments[-1] = now
            origin, destination = self._rng.sample(OFFICES, 2)
            number = barcode or self._new_barcode()
            self._parcels[number] = _Parcel(number, steps, [(c, r, m) for (c, r), m in zip(walked, moments,
                                                                                             strict=True)],
                                            origin, destination, step=len(walked) - 1 if code in codes else -1)
            return number

    def advance(self, barcode: str, code: int, reason_id: int = 1) -> None:
        """The carrier's move: a new event ``code`` (any code), stamped now."""
        with self._lock:
            parcel = self._parcels[barcode]
            parcel.events.append((code, reason_id, self.clock()))
            later = [i for i in range(parcel.step + 1, len(parcel.path)) if parcel.path[i] == (code, reason_id)]
            parcel.step = later[0] if later else -1

    def move(self, barcode: str) -> int:
        """One step along the parcel's path; at its end (or off it) nothing happens. Returns the latest event."""
        with self._lock:
            parcel = self._parcels[barcode]
            if 0 <= parcel.step < len(parcel.path) - 1:
                parcel.step += 1
                code, reason = parcel.path[parcel.step]
                parcel.events.append((code, reason, self.clock()))
            return parcel.events[-1][0]

    def numbers(self) -> list[str]:
        with self._lock:
            return sorted(self._parcels)

    def history(self, barcode: str, lang: str = "UA") -> list[dict[str, Any]]:
        with self._lock:
            return self._history(self._parcels[barcode], lang)

    # -- request handling ---------------------------------------------------------------------------------------

    def note(self, method: str, path: str, query: dict[str, str], body: Any) -> None:
        with self._lock:
            self.requests.append({"method": method, "path": path, "query": dict(query), "body": copy.deepcopy(body)})

    def dispatch(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
                 body: Any) -> tuple[int, Any]:
        """One request → (HTTP status, JSON body)."""
        try:
            self._authenticate(headers)
            route = path[len(PREFIX):] if path.startswith(PREFIX) else path
            lang = query.get("lang", "UA")
            with self._lock:
                if method == "POST" and route == "/statuses/with-not-found":
                    return 200, self._batch(body, HISTORY_LIMIT, lang, last=False)
                if method == "POST" and route == "/statuses/last/with-not-found":
                    return 200, self._batch(body, LAST_LIMIT, lang, last=True)
                if method == "GET" and route in ("/statuses", "/statuses/last"):
                    parcel = self._parcels.get(str(query.get("barcode", "")).strip().upper())
                    if parcel is None:  # inferred: the reference gives no single-barcode not-found answer
                        raise ApiError(404, {"code": "404", "message": "Barcode not found"})
                    events = self._history(parcel, lang)
                    return 200, events if route == "/statuses" else events[-1]
            raise ApiError(404, {"code": "404", "message": f"No resource for {method} {route}"})  # inferred
        except ApiError as exc:
            return exc.http, exc.body

    def _authenticate(self, headers: dict[str, str]) -> None:
        header = headers.get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        if token not in self.tokens:
            # Inferred: the /<api>/0.0.1/ paths are an API gateway's, which refuses a bad token with HTTP 401 and
            # this JSON fault before the API sees the request.
            raise ApiError(401, {"fault": {"code": 900901, "message": "Invalid Credentials",
                                           "description": "Invalid Credentials. Make sure you have provided the "
                                                          "correct security credentials"}})

    def _batch(self, body: Any, limit: int, lang: str, *, last: bool) -> dict[str, Any]:
        if not isinstance(body, list) or not all(isinstance(b, str) for b in body):
            raise ApiError(400, {"code": "400", "message": "The body must be a JSON array of barcodes"})  # inferred
        if len(body) > limit:
            raise ApiError(400, {"code": "400", "message": f"Too many barcodes: at most {limit} per request"})
        found: dict[str, Any] = {}
        not_found: list[str] = []
        for raw in body:
            number = "".join(raw.split()).upper()
            parcel = self._parcels.get(number)
            if parcel is None:
                if raw not in not_found:
                    not_found.append(raw)
                continue
            events = self._history(parcel, lang)
            found[raw] = [events[-1]] if last else events
        return {"found": found, "notFound": not_found}

    def _history(self, parcel: _Parcel, lang: str) -> list[dict[str, Any]]:
        events = []
        for step, (code, reason_id, when) in enumerate(parcel.events, 1):
            at_origin = code < 20800 or (code == 20800 and step <= 4)
            index, name = parcel.origin if at_origin else parcel.destination
            english = lang.lower() == "en"
            reason = REASONS.get(reason_id, "")
            events.append({
                "barcode": parcel.barcode, "step": step,
                "date": when.astimezone(KYIV).strftime("%Y-%m-%dT%H:%M:%S"),
                "index": index, "name": name, "event": code,
                "eventName": EVENTS.get(code, f"Подія {code}") if not english else f"Event {code}",
                "country": "Україна" if not english else "Ukraine",
                "eventReason": reason or None, "eventReason_id": reason_id, "mailType": DOMESTIC_MAIL,
                "indexOrder": 1 if at_origin else 2,
            })
        return events

    def _path_through(self, code: int) -> str:
        names = [n for n in PATH_WEIGHTS if code in (c for c, _ in PATHS[n])] or list(PATH_WEIGHTS)
        return self._rng.choices(names, [PATH_WEIGHTS[n] for n in names])[0]

    def _new_barcode(self) -> str:
        while True:
            number = f"05{self._rng.randrange(10**11):011d}"
            if number not in self._parcels:
                return number


# -- HTTP ---------------------------------------------------------------------------------------------------------

_INVALID = object()


class _Handler(SandboxHandler):
    json_type = "application/json"

    def serve(self) -> None:
        sandbox: UkrposhtaSandbox = self.server.sandbox  # type: ignore[attr-defined]
        path, query, headers = self.split_request()
        raw = self.read_body()
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            body = _INVALID
        fault = sandbox.faults.draw(self.command, path)
        sandbox.note(self.command, path, query, None if body is _INVALID else body)
        if self.common_fault(fault):
            return
        status, answer = sandbox.dispatch(self.command, path, query, headers, body)
        self.send_json(status, answer, malformed=fault is not None and fault.kind == "malformed")


UkrposhtaSandbox.handler = _Handler


# -- command line ---------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = sandbox_parser(
        "python -m adapters.ukrposhta.sandbox",
        "Run a fake Ukrposhta StatusTracking API in the foreground (Ctrl-C stops it). Point the ukrposhta carrier's "
        "base_url at the printed URL + /status-tracking/0.0.1/.", 8084, kinds=FAULT_KINDS)
    parser.add_argument("--parcels", type=int, default=20, help="how many parcels to seed (default: %(default)s)")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the bearer token accepted (default: %(default)s)")
    add_move_every(parser)
    args = parser.parse_args(argv)

    sandbox = UkrposhtaSandbox(host=args.host, port=args.port, seed=args.seed, parcels=args.parcels,
                               tokens=(args.token,))
    keep_moving(sandbox, args.move_every, "ukrposhta-mover")
    numbers = sandbox.numbers()
    return serve_from_args(sandbox, parser, args, [
        f"Ukrposhta sandbox on {{url}}{PREFIX}/ with {len(numbers)} parcels",
        f"  token: {args.token}",
        first_numbers("barcodes", numbers),
    ])


if __name__ == "__main__":
    raise SystemExit(main())
