"""What every sandbox shares: an HTTP server on 127.0.0.1 in a background thread, started and stopped the same way,
the faults every sandbox injects the same way, and the command line every ``python -m adapters.<name>.sandbox``
offers.

A sandbox subclasses ``Sandbox`` and names its request handler; the handler reaches the sandbox as
``self.server.sandbox``. Sandboxes never import each other: what two of them share lives here.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, urlsplit


class QuietServer(ThreadingHTTPServer):
    """One daemon thread per connection; a client hanging up mid-answer (it timed out on a slow one) is normal."""

    daemon_threads = True
    sandbox: Any

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Sandbox:
    handler: ClassVar[type[BaseHTTPRequestHandler]]
    thread_name: ClassVar[str] = "sandbox"
    host: str
    port: int
    _server: QuietServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> Self:
        server = QuietServer((self.host, self.port), self.handler)
        server.sandbox = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is not None and thread is not None:
            server.shutdown()  # returns within one poll_interval
            server.server_close()
            thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run_until_interrupted(self, banner: list[str]) -> int:
        """For `python -m adapters.<name>.sandbox`: serve in the foreground, print ``banner`` to stderr, stop on
        Ctrl-C."""
        self.start()
        for line in banner:
            print(line.format(url=self.url), file=sys.stderr)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopping", file=sys.stderr)
        finally:
            self.stop()
        return 0


@dataclass
class Fault:
    kind: str
    options: dict[str, Any]
    remaining: int = 0  # count-based faults
    probability: float = 0.0  # rate-based faults

    def matches(self, method: str, path: str, default_path: str = "") -> bool:
        return path.startswith(self.options.get("path", default_path)) and \
            self.options.get("method", method) == method


# Faults every sandbox has, acted out by SandboxHandler.common_fault whatever the sandbox's own kinds are.
SHARED_KINDS = frozenset({"drip"})


class FaultSwitches:
    """Fault switches: count-based for deterministic tests, probabilities (seeded) for demos. A sandbox subclasses
    it, names its ``kinds`` and documents them. ``path=`` limits a fault to requests whose path starts with it,
    ``method=`` to one HTTP method; ``status=`` picks a server error's code.

    The switches keep their own lock: they are drawn before a sandbox's state lock is taken, so a slow answer never
    holds it.
    """

    kinds: ClassVar[frozenset[str]] = frozenset()
    default_paths: ClassVar[dict[str, str]] = {}  # kind → the path it applies to unless ``path=`` says otherwise

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._next: list[Fault] = []
        self._rates: list[Fault] = []

    def _check(self, kind: str) -> None:
        allowed = self.kinds | SHARED_KINDS
        if kind not in allowed:
            raise ValueError(f"unknown fault {kind!r}; one of: {', '.join(sorted(allowed))}")

    def _options(self, options: dict[str, Any]) -> dict[str, Any]:
        return options

    def next(self, kind: str, times: int = 1, **options: Any) -> None:
        """The next ``times`` requests (matching ``path=`` if given) get the fault."""
        self._check(kind)
        with self._lock:
            self._next.append(Fault(kind, self._options(options), remaining=times))

    def rate(self, kind: str, probability: float, **options: Any) -> None:
        """Every request (matching ``path=`` if given) gets the fault with this probability."""
        self._check(kind)
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"a probability is between 0 and 1, not {probability}")
        with self._lock:
            self._rates.append(Fault(kind, self._options(options), probability=probability))

    def clear(self) -> None:
        with self._lock:
            self._next.clear()
            self._rates.clear()

    def draw(self, method: str, path: str) -> Fault | None:
        """The fault this request gets, if any: queued faults first, in the order they were set, then rates."""
        with self._lock:
            for fault in self._next:
                if fault.matches(method, path, self.default_paths.get(fault.kind, "")):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._next.remove(fault)
                    return fault
            for fault in self._rates:
                if fault.matches(method, path, self.default_paths.get(fault.kind, "")) and \
                        self._rng.random() < fault.probability:
                    return fault
            return None

    def pick_status(self, options: dict[str, Any]) -> int:
        with self._lock:
            return int(options.get("status") or self._rng.choice((500, 502, 503)))


def apply_fault_rates(faults: Any, specs: list[str], parser: argparse.ArgumentParser) -> None:
    """``--fault KIND=PROBABILITY`` options → fault rates, or a usage error naming the bad one."""
    for spec in specs:
        kind, _, probability = spec.partition("=")
        try:
            faults.rate(kind.strip(), float(probability))
        except ValueError as exc:
            parser.error(f"--fault {spec}: {exc}")


# -- HTTP ---------------------------------------------------------------------------------------------------------

# The page nginx answers for an error of its own: every sandbox names nginx as its Server, so most show this one
# for server_error and rate_limit.
NGINX_PAGE = ("<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1>"
              "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")

# A page that names no server, for a sandbox whose service's front server is not known.
PLAIN_PAGE = "<html><head><title>{code} {reason}</title></head><body><h1>{code} {reason}</h1></body></html>\r\n"


def error_page(code: int, template: str = NGINX_PAGE) -> bytes:
    """An HTML error page for ``code`` with its standard reason phrase (``Error`` for a code http.server lacks)."""
    reason = BaseHTTPRequestHandler.responses.get(code, ("Error",))[0]
    return template.format(code=code, reason=reason).encode()


class SandboxHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive as httpx expects, answering as nginx; every method goes to the subclass's
    ``serve``, which draws its fault, lets ``common_fault`` answer the kinds every sandbox answers alike, and
    handles the rest itself."""

    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    timeout = 60  # an idle keep-alive connection is closed after a minute
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall between

    error_template: ClassVar[str] = NGINX_PAGE  # the page of server_error and rate_limit
    error_type: ClassVar[str] = "text/html"  # its Content-Type
    json_type: ClassVar[str] = "application/json; charset=utf-8"  # the Content-Type of ``send_json``
    rate_limit_kind: ClassVar[str] = "rate_limit"  # the fault kind answered with HTTP 429
    # The JSON APIs' fakes have always written the body on HEAD too (no client of theirs sends one); a fake of a
    # web site turns this off so a HEAD gets the headers alone, as HTTP wants.
    body_on_head: ClassVar[bool] = True

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._drip = 0.0  # one handler serves every request of a keep-alive connection: each starts undripped
        self.serve()  # type: ignore[attr-defined]

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET  # noqa: N815

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def split_request(self) -> tuple[str, dict[str, str], dict[str, str]]:
        """The request's path, its query (the last value of a repeated name; blank values kept) and its headers
        (names lower-cased). Shared because every fake that routes by path and query reads them so."""
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        return split.path, query, {k.lower(): v for k, v in self.headers.items()}

    def send(self, status: int, body: bytes, content_type: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        """One whole answer. ``headers`` are pairs, not a dict, so a name may repeat (``Set-Cookie``)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if not (self.body_on_head or self.command != "HEAD"):
            return
        if not self._drip:
            self.wfile.write(body)
            return
        try:  # the ``drip`` fault: the answer trickles in a byte at a time, as from a dying link or a tarpit
            for i in range(len(body)):
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
                time.sleep(self._drip)
        except (BrokenPipeError, ConnectionError):
            self.close_connection = True  # the client gave up waiting: as it should

    def send_json(self, status: int, answer: Any, *, malformed: bool = False) -> None:
        """``answer`` as JSON. ``malformed`` (the fault) sends the handled answer cut in half with HTTP 200: the
        request took effect, the client cannot parse what it says."""
        text = json.dumps(answer, ensure_ascii=False)
        if malformed:
            status, text = 200, text[: len(text) // 2]
        self.send(status, text.encode(), self.json_type)

    def common_fault(self, fault: Fault | None) -> bool:
        """Act out the faults every sandbox shares; True when that finished the request (the caller stops).

        ``reset`` drops the connection with an RST and no answer, so the request is not handled; ``slow`` waits
        ``seconds`` and lets the request go on; ``drip`` lets it go on and sends its answer a byte every
        ``seconds`` (1 by default); ``server_error`` answers an error page (``status=`` or a random 500/502/503); the
        rate-limit kind answers HTTP 429 with ``Retry-After: retry_after``. Any other kind is the caller's.
        """
        if fault is None or fault.kind not in ("reset", "slow", "drip", "server_error", self.rate_limit_kind):
            return False
        kind = fault.kind
        if kind == "drip":
            self._drip = float(fault.options.get("seconds", 1.0))
            return False
        if kind == "reset":
            # SO_LINGER 0: close() sends an RST, so the client sees a reset connection, not a clean close
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return True
        if kind == "slow":
            time.sleep(float(fault.options.get("seconds", 2)))
            return False
        if kind == "server_error":
            code = self.server.sandbox.faults.pick_status(fault.options)  # type: ignore[attr-defined]
            self.send(code, error_page(code, self.error_template), self.error_type)
            return True
        self.send(429, error_page(429, self.error_template), self.error_type,
                  [("Retry-After", str(fault.options.get("retry_after", 1)))])
        return True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        """One line per request on stderr, unless the sandbox was started ``--quiet``."""
        if self.server.sandbox.log_requests:  # type: ignore[attr-defined]
            sys.stderr.write(f"{self.address_string()} {format % args}\n")


# -- carrier fakes whose parcels walk seeded routes (Econt, Speedy) --------------------------------------------------

class RoutedParcelSandbox(Sandbox):
    """What Econt's and Speedy's fakes share: an API root under ``base_path``, logins (username → password), parcels
    by number that walk routes, and seeding: ``seed_parcels`` makes parcels at random stages of ``seed_routes``
    (drawn by ``seed_weights``), their steps at moments spread over the last hours. Shared because both fakes set
    up, log in and seed exactly so; what a parcel is, its routes and steps (``add_parcel``, ``move``) and the wire
    format stay in each carrier's sandbox.

    A subclass calls ``__init__`` with its fault switches, sets its own attributes, then ``seed_parcels``; it
    defines ``add_parcel(route=…)`` (→ the new parcel's number) and ``move(number)``, which seeding calls."""

    base_path: ClassVar[str] = ""
    routes: ClassVar[dict[str, tuple[Any, ...]]] = {}
    seed_routes: ClassVar[tuple[str, ...]] = ()
    seed_weights: ClassVar[tuple[int, ...]] = ()

    def __init__(self, faults: FaultSwitches, *, host: str, port: int, seed: int | None,
                 clock: Callable[[], datetime] | None) -> None:
        self.host, self.port = host, port
        self.clock = clock or (lambda: datetime.now(UTC))  # must return an aware datetime
        self.requests: list[dict[str, Any]] = []
        self.faults = faults
        self.log_requests = False
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._logins: dict[str, str] = {}
        self._parcels: dict[str, Any] = {}

    @property
    def base_url(self) -> str:
        """What a carrier configuration's ``base_url`` should say to use this sandbox."""
        return self.url + self.base_path

    def add_login(self, username: str, password: str) -> None:
        with self._lock:
            self._logins[username] = password

    def seed_parcels(self, count: int) -> None:
        for _ in range(count):
            self._seed_parcel()

    def _seed_parcel(self) -> None:
        route = self._rng.choices(self.seed_routes, self.seed_weights)[0]
        steps = self._rng.randint(0, len(self.routes[route]))
        real_clock, now = self.clock, self.clock()
        start = now - timedelta(hours=self._rng.uniform(6, 96))
        moments = sorted(start + (now - start) * self._rng.random() for _ in range(steps))
        try:
            self.clock = lambda: start
            number = self.add_parcel(route=route)
            for moment in moments:
                self.clock = lambda m=moment: m
                self.move(number)
        finally:
            self.clock = real_clock


def loads_body(raw: bytes) -> Any:
    """A request body as JSON: None when there is none, the ``ValueError`` class (a marker) when it does not parse."""
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        return ValueError


class RoutedParcelHandler(SandboxHandler):
    """``serve`` for Econt's and Speedy's fakes: the path without its query, the fault drawn, every request recorded
    (``record_request``: method, path, headers, body, fault kind) before the shared faults act, then ``handle``
    (method, path, headers, body → HTTP status, JSON), cut in half by ``malformed``. Neither service's front server
    is known, so its error pages name none. Shared because both fakes serve exactly so."""

    error_template = PLAIN_PAGE

    def serve(self) -> None:
        sandbox = self.server.sandbox  # type: ignore[attr-defined]
        raw = self.read_body()
        path = self.path.split("?", 1)[0]
        fault = sandbox.faults.draw(self.command, path)
        kind = fault.kind if fault else None
        headers = {k.lower(): v for k, v in self.headers.items()}
        sandbox.record_request(self.command, path, headers, raw, kind)
        if self.common_fault(fault):
            return
        status, body = sandbox.handle(self.command, path, headers, raw)
        self.send_json(status, body, malformed=kind == "malformed")


# -- the JSON marketplaces' fakes (Rozetka, Prom) ------------------------------------------------------------------

@dataclass
class JsonRequest:
    """One request to a JSON marketplace's fake, as its ``dispatch`` reads it."""

    method: str
    path: str
    query: dict[str, str]
    body: Any  # a dict, None (no body), or INVALID_BODY
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased


INVALID_BODY = object()  # a body that is not a JSON object: the fake answers it as its API answers bad JSON


def parse_json_body(raw: bytes) -> Any:
    """A request body → a dict, None when there is none, INVALID_BODY when it is not a JSON object."""
    if not raw.strip():
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return INVALID_BODY
    return body if isinstance(body, dict) else INVALID_BODY


class OrderBook:
    """The orders of a JSON marketplace's fake by numeric id, and the requests it received, behind the sandbox's
    ``_lock``: what tests set up and inspect. Shared because Rozetka's and Prom's fakes keep them alike (a mixin
    beside ``Sandbox``; the sandbox creates ``_lock``, ``_orders`` and ``requests``)."""

    _lock: Any
    _orders: dict[int, dict[str, Any]]
    requests: list[tuple[str, str, dict[str, str], Any]]

    def put_order(self, payload: dict[str, Any]) -> None:
        """Insert or replace an order payload as-is (the full model, as in the cassettes)."""
        with self._lock:
            self._orders[int(payload["id"])] = copy.deepcopy(payload)

    def order(self, order_id: int | str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._orders[int(order_id)])

    def order_ids(self) -> list[int]:
        with self._lock:
            return sorted(self._orders)

    def record(self, request: JsonRequest) -> None:
        body = request.body if isinstance(request.body, dict) else None
        with self._lock:
            self.requests.append((request.method, request.path, dict(request.query), copy.deepcopy(body)))


class JsonApiHandler(SandboxHandler):
    """``serve`` for a JSON marketplace's fake: the request parsed (``parse_body``, JSON by default), its fault
    drawn and recorded, the shared faults acted out, then the marketplace's own kinds: ``expire_token`` (the
    sandbox's ``expire_tokens``), ``repeat_page`` (passed to ``dispatch``), ``malformed`` (the answer cut in half).
    ``dispatch`` answers (HTTP status, JSON body); None for a body sends the error page of that status.

    Shared because Rozetka's and Prom's fakes serve a request exactly so; their routes and rules stay theirs."""

    def parse_body(self, raw: bytes) -> Any:
        return parse_json_body(raw)

    def serve(self) -> None:
        sandbox = self.server.sandbox  # type: ignore[attr-defined]
        path, query, headers = self.split_request()
        request = JsonRequest(self.command, path, query, self.parse_body(self.read_body()), headers)
        fault = sandbox.faults.draw(request.method, request.path)
        sandbox.record(request)
        if self.common_fault(fault):
            return
        # The marketplace's own kinds: its auth and pagination faults act inside the handled request.
        kind = fault.kind if fault else None
        if kind == "expire_token":
            sandbox.expire_tokens()
        status, body = sandbox.dispatch(request, repeat_page=kind == "repeat_page")
        if body is None:
            self.send(status, error_page(status, self.error_template), self.error_type)
            return
        self.send_json(status, body, malformed=kind == "malformed")


# -- command line ---------------------------------------------------------------------------------------------------

def sandbox_parser(prog: str, description: str, default_port: int, *, kinds: Iterable[str],
                   seeded: str = "parcels", fault_example: str = "server_error=0.05") -> argparse.ArgumentParser:
    """The options every ``python -m adapters.<name>.sandbox`` has: ``--host``, ``--port``, ``--seed``,
    ``--fault KIND=PROBABILITY`` and ``--quiet``; the sandbox adds its own. ``seeded`` names what a seed
    reproduces besides the fault draws; ``kinds`` are the fault kinds the help lists."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=default_port, help="port to listen on; 0 picks a free one "
                        "(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=None, help=f"random seed: the same seed gives the same {seeded} "
                        "and fault draws (default: random)")
    parser.add_argument("--fault", action="append", default=[], metavar="KIND=PROBABILITY",
                        help=f"inject a fault into that share of requests, e.g. {fault_example}; repeatable. "
                             f"Kinds: {', '.join(sorted({*kinds, *SHARED_KINDS}))}")
    parser.add_argument("--quiet", action="store_true", help="do not log each request to stderr")
    return parser


def serve_from_args(sandbox: Any, parser: argparse.ArgumentParser, args: argparse.Namespace,
                    banner: list[str]) -> int:
    """The end of every sandbox's ``main``: the ``--fault`` rates (a bad one is a usage error), ``--quiet``, then
    serve in the foreground until Ctrl-C."""
    apply_fault_rates(sandbox.faults, args.fault, parser)
    sandbox.log_requests = not args.quiet
    return sandbox.run_until_interrupted(banner)


def add_move_every(parser: argparse.ArgumentParser) -> None:
    """``--move-every SECONDS``, for a carrier sandbox whose parcels can walk their paths by themselves."""
    parser.add_argument("--move-every", type=float, default=0.0, metavar="SECONDS",
                        help="move every parcel one step along its path this often (default: never)")


def keep_moving(sandbox: Any, every: float, thread_name: str) -> None:
    """``--move-every``: a daemon thread moves every parcel one step along its path every ``every`` seconds, so a
    demo's tracking changes on its own. ``every`` <= 0 moves nothing."""
    if every <= 0:
        return

    def mover() -> None:
        while True:
            time.sleep(every)
            for number in sandbox.numbers():
                sandbox.move(number)

    threading.Thread(target=mover, name=thread_name, daemon=True).start()


def first_numbers(label: str, numbers: list[str]) -> str:
    """A banner line naming the first ten parcel numbers, enough to try by hand without flooding the terminal."""
    return f"  {label}: " + " ".join(numbers[:10]) + (" …" if len(numbers) > 10 else "")
