"""Structured logs on stderr: JSON for machines, readable on a terminal, never a buyer's personal data or a secret.

Per-job context (account, order, job) is bound once with ``bound_contextvars`` and rides along every event.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, TextIO

import structlog
from structlog.contextvars import bound_contextvars

from connector.domain.personal import EMAIL, PHONE

__all__ = ["bound_contextvars", "configure", "get_logger", "redact", "strip_userinfo"]

REDACTED = "[redacted]"

# Keys whose values are personal data or secrets wherever they appear (marketplace payloads included).
_SENSITIVE_KEYS = frozenset({
    "buyer", "buyer_name", "buyer_phone", "buyer_email", "phone", "email", "telephone", "user_phone",
    "recipient_phone", "recipient_title", "recipient_first_name", "recipient_last_name", "recipient_second_name",
    "user_title", "first_name", "last_name", "second_name", "full_name", "firstname", "lastname", "fio",
    "contact_fio", "customer_name", "recipientfullname", "phonerecipient", "phonesender",
    "password", "token", "access_token", "api_key", "apikey", "authorization", "cookie", "phpsessid",
})

# The ``user:password@`` of any URL in a text: a login and a secret, never part of where the URL leads.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s]*@")


def strip_userinfo(text: str) -> str:
    """Every URL in ``text`` without its ``user:password@`` (``https://u:p@host/x`` → ``https://host/x``)."""
    return _USERINFO.sub(r"\1", text)


def redact(value: Any, key: str | None = None) -> Any:
    if key is not None and key.lower() in _SENSITIVE_KEYS and value not in (None, "", [], {}):
        return REDACTED
    if isinstance(value, str):
        # userinfo first: the e-mail pattern would otherwise take "password@host" and leave the login behind
        return PHONE.sub(REDACTED, EMAIL.sub(REDACTED, strip_userinfo(value)))
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


# C0 controls but tab and newline, DEL, and C1: what a terminal would obey rather than print.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _strip_controls(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    # Readable logs print text values as they are, and these quote marketplaces: an escape sequence in a product
    # name would recolour (or retitle) the operator's terminal. JSON escapes them by itself.
    return {k: _CONTROLS.sub("", v) if isinstance(v, str) else v for k, v in event.items()}


def _redact_event(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if k in ("timestamp", "level") else redact(v, None if k == "event" else k))
            for k, v in event.items()}


class _Stderr:
    """Whatever ``sys.stderr`` is at the moment of writing (it is replaced under test runners and daemons)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    pretty = fmt == "console" or (fmt == "auto" and (stream or sys.stderr).isatty())
    stream = stream or _Stderr()
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _redact_event,
        *([_strip_controls] if pretty else []),
    ]
    renderer = structlog.dev.ConsoleRenderer() if pretty else structlog.processors.JSONRenderer(ensure_ascii=False)
    # Libraries that log through the standard library (APScheduler, httpx) come out the same way: same format,
    # same redaction, same level.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer]))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(max(getattr(logging, level.upper()), logging.WARNING))  # their info is noise; ours is not
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name) if name else structlog.get_logger()
