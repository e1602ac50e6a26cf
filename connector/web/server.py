"""Serving the page with uvicorn: in the foreground (``connector ui``) or in a thread (the demo, the tests).

The socket is bound here, before uvicorn starts, so a taken port is one clear error and port 0 (any free port) can
be printed as the address it became.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import threading

import uvicorn

from connector.config import Settings
from connector.errors import ConfigError, StartupError
from connector.store import Store
from connector.web.app import LOCAL_HOSTS, create_app

PASSWORD_ENV = "CONNECTOR_UI_PASSWORD"  # HTTP Basic password, required to bind anywhere but this machine


def is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def remote_password(host: str, allow_remote: bool) -> str | None:
    """None for a local address; for any other, the password from $CONNECTOR_UI_PASSWORD, and only with
    ``--allow-remote``: the page shows buyers' data and can retry pushes, so it is never exposed by accident."""
    if is_local(host):
        return None
    if not allow_remote:
        raise ConfigError(f"refusing to serve the page on {host}: it would be reachable from other machines",
                          hint=f"use --host 127.0.0.1 (the default), or add --allow-remote and set "
                               f"${PASSWORD_ENV} (HTTP Basic; put TLS in front of it)")
    password = os.environ.get(PASSWORD_ENV, "")
    if len(password) < 12:
        raise ConfigError(f"--allow-remote needs a password of at least 12 characters in ${PASSWORD_ENV}",
                          hint=f"e.g. export {PASSWORD_ENV}=$(openssl rand -base64 18)")
    return password


class UiServer:
    """``connector ui``'s server. ``start()`` serves in a thread and returns; ``serve()`` blocks until Ctrl-C."""

    def __init__(self, store: Store, settings: Settings | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 password: str | None = None) -> None:
        hosts = None if not is_local(host) else [*LOCAL_HOSTS, "[::1]", host]
        self.app = create_app(store, settings, password=password, allowed_hosts=hosts)
        self.host, self.socket = host, self._bind(host, port)
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @staticmethod
    def _bind(host: str, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            why = "the port is taken" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise StartupError(f"cannot serve the page on {host}:{port}: {why}",
                               hint="choose another --port (0: any free port)") from None
        sock.listen(128)
        sock.set_inheritable(True)
        return sock

    @property
    def url(self) -> str:
        host, port = self.socket.getsockname()[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/"

    def serve(self) -> None:
        try:
            self.server.run(sockets=[self.socket])
        finally:
            self.socket.close()

    def start(self) -> UiServer:
        self._thread = threading.Thread(target=self.serve, name="ui", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> UiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
