"""What every sandbox shares: an HTTP server on 127.0.0.1 in a background thread, started and stopped the same way.

A sandbox subclasses ``Sandbox`` and names its request handler; the handler reaches the sandbox as
``self.server.sandbox``.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self


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
        if kind not in self.kinds:
            raise ValueError(f"unknown fault {kind!r}; one of: {', '.join(sorted(self.kinds))}")

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


class SandboxHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive as httpx expects, answering as nginx; every method goes to the subclass's
    ``serve``."""

    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    timeout = 60  # an idle keep-alive connection is closed after a minute
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall between

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.serve()  # type: ignore[attr-defined]

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET  # noqa: N815

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""
