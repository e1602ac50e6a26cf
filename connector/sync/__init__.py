"""The jobs: pull (marketplace → store), push (outbox → marketplace), track (carrier → store). Each is a plain
function of (store, adapter) so the daemon, the CLI and the tests run the same code."""

import os
import socket
import uuid


def owner_id() -> str:
    """Who holds a lease: ``host:pid:nonce``. Unique per process run, so two overlapping CLI runs never share a
    lease, and a daemon restarted on the same host can tell that a holder's process is gone."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
