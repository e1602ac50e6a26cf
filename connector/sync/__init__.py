"""The jobs: pull (marketplace → store), push (outbox → marketplace), track (carrier → store). Each is a plain
function of (store, adapter) so the daemon, the CLI and the tests run the same code."""

import os
import socket
import threading
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta
from typing import Iterator
import uuid

from connector.logs import get_logger

log = get_logger(__name__)

# The longest a request we sent can still land at the remote after we stopped waiting for it: the HTTP policy's
# total deadline per request (adapters/base.py: HttpPolicy.deadline) and a margin. A push taken over from a holder
# that died waits this long before re-reading, so a write still in flight lands first and is seen, not repeated.
WRITE_SETTLE = timedelta(seconds=45)
# Leases are short and renewed by a heartbeat while their holder works: a dead holder's lease runs out in a minute.
LEASE_TTL = timedelta(seconds=60)
HEARTBEAT = timedelta(seconds=15)


def owner_id() -> str:
    """Who holds a lease: ``host:pid:nonce``. Unique per process run, so two overlapping CLI runs never share a
    lease, and a daemon restarted on the same host can tell that a holder's process is gone."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


@contextmanager
def heartbeat(renew: Callable[[], bool], every: timedelta | None = None) -> Iterator[threading.Event]:
    """Renew a lease every ``every`` while the body runs. The event it yields is set when a renewal found the
    lease gone (another holder took it): the body should stop before writing anything more."""
    stop, lost = threading.Event(), threading.Event()
    interval = (every or HEARTBEAT).total_seconds()

    def beat() -> None:
        while not stop.wait(interval):
            try:
                if not renew():
                    lost.set()
                    return
            except Exception as exc:  # noqa: BLE001  (a store blip: the next beat tries again)
                log.warning("lease renewal failed; trying again", error=str(exc))

    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join(timeout=5)
