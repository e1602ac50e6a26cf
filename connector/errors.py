"""Every exception the connector raises on purpose, in one tree.

Grouped by what the caller can do about it, not by where it was raised::

    ConnectorError                 base; carries a ``hint`` telling the user what to do
    ├── ConfigError                a configuration value is wrong or missing        → exit code 2
    ├── CommandInvalid             a seller command lacks data or cannot be sent    → refused before any request
    ├── OrderNotFound              a REF names no order in the store                → exit code 2
    ├── StoreError                 the store is unreachable or not migrated         → exit code 1
    │   └── StoreNotMigrated       the schema is older than this version's head     → run ``connector db upgrade``
    ├── StartupError               the daemon cannot start (health port taken)      → exit code 1, no job run
    ├── PayloadError               a marketplace or carrier payload does not parse; the raw data is kept
    │   └── OrderIdError           not even its order id is usable: it is kept in quarantine, not as an order
    └── RemoteError                a marketplace or carrier failed or refused; carries its own code, message, details
        ├── TransientError         may work later: 5xx, timeouts, dropped connections, 429 (``retry_after``)
        ├── PermanentError         retrying cannot help: validation, a forbidden transition; the remote's text kept
        │   └── ConflictError      the remote order moved somewhere the command cannot follow (buyer cancelled)
        └── AuthError              credentials wrong, expired beyond one re-login, or lacking a permission:
                                   pause the account and tell a person

Which remote codes fall in which class is data, one table per adapter (``adapters/<name>/errors.py``).
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base class. ``hint`` is a sentence that tells the user what to do next."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(ConnectorError):
    """A configuration key is missing, malformed or not allowed; ``path`` names the key."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message, hint=hint)
        self.path = path


class CommandInvalid(ConnectorError):
    """A seller command cannot be accepted as given; ``missing`` names the fields it needs."""

    exit_code = 2

    def __init__(self, message: str, *, missing: tuple[str, ...] = (), hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.missing = missing


class OrderNotFound(ConnectorError):
    exit_code = 2


class StoreError(ConnectorError):
    pass


class StoreNotMigrated(StoreError):
    pass


class StartupError(ConnectorError):
    """The daemon cannot start as configured, found out before it does any work."""


class PayloadError(ConnectorError):
    """A payload that does not parse. ``raw`` keeps the original so nothing is lost."""

    def __init__(self, message: str, *, raw: str | bytes | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.raw = raw


class OrderIdError(PayloadError):
    """A record whose order id cannot identify an order (missing, overlong, not the marketplace's form)."""


class RemoteError(ConnectorError):
    """A remote system's failure, with its own words kept for the user."""

    def __init__(self, message: str, *, code: str | int | None = None, details: object = None,
                 status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.details = details
        self.status = status


class TransientError(RemoteError):
    """``delivered`` says whether the request may have reached the remote: False only when it certainly did not
    (the connection was never made, or the remote refused it unprocessed with 429). A write that may have been
    delivered is never re-sent blindly: the caller re-reads the remote state first."""

    def __init__(self, message: str, *, retry_after: float | None = None, delivered: bool = True, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after
        self.delivered = delivered


class PermanentError(RemoteError):
    pass


class ConflictError(PermanentError):
    pass


class AuthError(RemoteError):
    pass


def describe(exc: BaseException) -> str:
    """A one-line account of an error for logs and health reports. A database error's own text lists every bound
    parameter (buyer names, phones); only the driver's message is kept."""
    orig = getattr(exc, "orig", None)
    if orig is not None:
        return f"{type(orig).__name__}: {str(orig).splitlines()[0] if str(orig) else ''}"
    return str(exc) if isinstance(exc, ConnectorError) else f"{type(exc).__name__}: {exc}"
