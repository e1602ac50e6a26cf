"""Typed configuration: YAML for settings, the environment (or files) for secrets.

A wrong value fails at start with the key's path and what is allowed; secrets never live in the YAML itself.
config.example.yaml documents every key.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from adapters import CARRIERS, MARKETPLACE_LOGINS, ON_DELIVERED
from connector.domain.commands import CommandKind
from connector.domain.tracking import TrackingRules
from connector.errors import ConfigError

CONFIG_ENV = "CONNECTOR_CONFIG"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_DURATION_MAX = timedelta(days=3650)  # ten years: longer than any interval or wait the connector needs


def parse_duration(value: Any) -> timedelta:
    """``120s``, ``5m``, ``1.5h``, ``1d`` or a bare number of seconds."""
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(str(value))
    if isinstance(value, bool) or not match:
        raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 5m, 2h or 1d")
    seconds = float(match[1]) * _UNITS[match[2]]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    # Past this, timedelta overflows (or a schedule computed from it does): refuse it here, by the key's path.
    if seconds > _DURATION_MAX.total_seconds():
        raise ValueError(f"{value!r} is too long; at most {_DURATION_MAX.days}d")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _check_base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"{value!r} uses plain http; only the local sandboxes may (use https)")
    return value.rstrip("/")


BaseUrl = Annotated[str, BeforeValidator(_check_base_url)]

_SECRET_KEYS = ("password", "token", "api_key")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in _SECRET_KEYS:
                if key in data:
                    raise ValueError(
                        f"'{key}' must not be written in the config file; put it in an environment variable "
                        f"and name it with '{key}_env' (or a file with '{key}_file')"
                    )
        return data


def _read_secret(env: str | None, file: str | None) -> str | None:
    if env:
        value = os.environ.get(env)
        if value:
            return value
    if file:
        path = Path(file).expanduser()
        try:
            return path.read_text().strip() or None
        except OSError as exc:
            raise ConfigError(f"cannot read secret file {path}: {exc.strerror}") from exc
    return None


class Secret(_Section):
    """Where one secret comes from; the value itself is read only when needed."""

    env: str | None = None
    file: str | None = None

    def describe(self) -> str:
        return " or ".join(x for x in (f"${self.env}" if self.env else "", self.file or "") if x) or "nowhere"

    def value(self) -> str | None:
        return _read_secret(self.env, self.file)


class TrackingSettings(_Section):
    """What carrier reports do to an account's orders (connector/domain/tracking.py; docs/lifecycle.md)."""

    push_on_delivered: Literal["complete", "none"] | None = None  # None: the marketplace's default (ON_DELIVERED)
    return_days: int = Field(default=14, ge=0, le=365)  # the buyer's return window after delivery; 0: none
    storage_alert: Duration = timedelta(days=2)  # alert when free storage at a pickup point ends this soon

    def rules(self, marketplace: str) -> TrackingRules:
        push = self.push_on_delivered or ON_DELIVERED.get(marketplace, "none")
        return TrackingRules(push_on_delivered=None if push == "none" else CommandKind(push),
                             return_days=self.return_days, storage_alert=self.storage_alert)


class AccountSettings(_Section):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    marketplace: str
    base_url: BaseUrl
    enabled: bool = True
    username: str | None = None  # Rozetka login
    email: str | None = None  # Chopni seller-panel login
    password_env: str | None = None
    password_file: str | None = None
    token_env: str | None = None  # Rozetka static API token instead of a login
    token_file: str | None = None
    lookback: Duration = timedelta(minutes=5)
    requests_per_second: float = Field(default=2.0, gt=0, le=50)  # politeness towards a web panel (Chopni)
    mapping: str | None = None  # a mapping file that overrides mappings/<marketplace>.yaml for this account
    tracking: TrackingSettings = TrackingSettings()

    @field_validator("marketplace")
    @classmethod
    def _known_marketplace(cls, value: str) -> str:
        if value not in MARKETPLACE_LOGINS:
            raise ValueError(f"{value!r} is not a supported marketplace; one of: {', '.join(MARKETPLACE_LOGINS)}")
        return value

    @model_validator(mode="after")
    def _credentials_named(self) -> AccountSettings:
        alternatives = MARKETPLACE_LOGINS[self.marketplace]
        if not any(all(self._has(key) for key in keys) for keys in alternatives):
            needs = " or ".join(" and ".join(self._spell(k) for k in keys) for keys in alternatives)
            raise ValueError(f"a {self.marketplace} account needs {needs}")
        return self

    def _has(self, key: str) -> bool:
        if key in _SECRET_KEYS:
            return bool(getattr(self, f"{key}_env") or getattr(self, f"{key}_file"))
        return bool(getattr(self, key))

    @staticmethod
    def _spell(key: str) -> str:
        return f"{key}_env (or {key}_file)" if key in _SECRET_KEYS else key

    @property
    def password(self) -> Secret:
        return Secret(env=self.password_env, file=self.password_file)

    @property
    def token(self) -> Secret:
        return Secret(env=self.token_env, file=self.token_file)

    def secrets(self) -> dict[str, Secret]:
        """The secrets this account's login needs (a token wins over a password where both are named)."""
        if self.token_env or self.token_file:
            return {"token": self.token}
        return {"password": self.password}


class CarrierSettings(_Section):
    """One carrier's API login. Which keys it needs is the carrier's (adapters/<carrier>/__init__.py)."""

    base_url: BaseUrl
    enabled: bool = True
    username: str | None = None
    api_key_env: str | None = None
    api_key_file: str | None = None
    password_env: str | None = None
    password_file: str | None = None

    @property
    def api_key(self) -> Secret:
        return Secret(env=self.api_key_env, file=self.api_key_file)

    @property
    def password(self) -> Secret:
        return Secret(env=self.password_env, file=self.password_file)

    def missing(self, name: str) -> str:
        """What this carrier's login lacks in the file ("" when it names everything one alternative needs)."""
        alternatives = CARRIERS[name].logins
        if any(all(self._has(key) for key in keys) for keys in alternatives):
            return ""
        return "a " + name + " carrier needs " + " or ".join(
            " and ".join(f"{k}_env (or {k}_file)" if k in _SECRET_KEYS else k for k in keys) for keys in alternatives)

    def _has(self, key: str) -> bool:
        if key in _SECRET_KEYS:
            return bool(getattr(self, f"{key}_env") or getattr(self, f"{key}_file"))
        return bool(getattr(self, key, None))

    def unset_secrets(self, name: str) -> list[str]:
        """The secrets the carrier's login names that hold nothing now (read at call time)."""
        needed = {k for keys in CARRIERS[name].logins for k in keys if k in _SECRET_KEYS}
        return [getattr(self, k).describe() for k in sorted(needed) if self._has(k) and not getattr(self, k).value()]


class StoreSettings(_Section):
    url: str = "sqlite:///connector.db"


class ScheduleSettings(_Section):
    pull_every: Duration = timedelta(seconds=120)
    push_every: Duration = timedelta(seconds=5)
    track_every: Duration = timedelta(minutes=30)


class DaemonSettings(_Section):
    health_host: str = "127.0.0.1"  # where /healthz and /metrics listen; keep it local unless a proxy guards it
    health_port: int | None = Field(default=9464, ge=0, le=65535)  # null: no health server; 0: any free port
    # How long a push taken over from a dead pusher waits before the order is re-read: at least the longest a
    # marketplace write can take to land (the HTTP request deadline), or a write still in flight is sent again.
    takeover_wait: Duration = timedelta(seconds=45)
    # /healthz fails when an account's last good pull is this many pull intervals old (bounded: times
    # pull_every it must stay a duration)
    stale_after: int = Field(default=3, ge=1, le=1000)


class RetentionSettings(_Section):
    """How long marketplace payloads and buyers' personal data are kept (docs/security.md)."""

    finished_orders: Duration = timedelta(days=365)  # after an order is finished: its payloads and buyer data go
    raw_versions: int = Field(default=10, ge=1, le=1000)  # newest raw payloads kept per order still in play
    enabled: bool = True


class LogSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"  # auto: readable on a terminal, JSON otherwise


class Settings(_Section):
    store: StoreSettings = StoreSettings()
    accounts: list[AccountSettings] = []
    carriers: dict[str, CarrierSettings] = {}
    schedule: ScheduleSettings = ScheduleSettings()
    daemon: DaemonSettings = DaemonSettings()
    retention: RetentionSettings = RetentionSettings()
    log: LogSettings = LogSettings()

    @field_validator("accounts")
    @classmethod
    def _unique_names(cls, accounts: list[AccountSettings]) -> list[AccountSettings]:
        seen: set[str] = set()
        for account in accounts:
            if account.name in seen:
                raise ValueError(f"account name {account.name!r} is used twice; names must be unique")
            seen.add(account.name)
        return accounts

    @field_validator("carriers")
    @classmethod
    def _known_carriers(cls, carriers: dict[str, CarrierSettings]) -> dict[str, CarrierSettings]:
        unknown = sorted(set(carriers) - set(CARRIERS))
        if unknown:
            raise ValueError(f"unknown carrier {', '.join(unknown)}; supported: {', '.join(CARRIERS)}")
        problems = [f"{name}: {missing}" for name, c in carriers.items() if (missing := c.missing(name))]
        if problems:
            raise ValueError("; ".join(problems))
        return carriers

    def account(self, name: str) -> AccountSettings:
        for account in self.accounts:
            if account.name == name:
                return account
        raise ConfigError(f"no account named {name!r}",
                          hint="configured: " + (", ".join(a.name for a in self.accounts) or "none"))


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_settings(data: Any, source: str = "config") -> Settings:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must be a mapping of keys to values, not {type(data).__name__}")
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "json-"))))
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key; see config.example.yaml for the keys this section takes"
            problems.append(f"{_path(loc)}: {msg}")
        raise ConfigError(f"{source} is not valid:\n  " + "\n  ".join(problems),
                          hint="fix the keys named above; config.example.yaml documents every key") from None


HOW_TO_START = (
    "no configuration given. Pass --config PATH or set CONNECTOR_CONFIG=PATH. "
    "To start: cp config.example.yaml connector.yaml, edit the accounts, export the *_env secrets, then "
    "`connector --config connector.yaml doctor`"
)


def config_path(explicit: str | None) -> Path:
    chosen = explicit or os.environ.get(CONFIG_ENV)
    if not chosen:
        raise ConfigError(HOW_TO_START)
    path = Path(chosen).expanduser()
    if not path.is_file():
        raise ConfigError(f"configuration file {path} does not exist",
                          hint="check --config / CONNECTOR_CONFIG; config.example.yaml is a template")
    return path


def load_settings(explicit: str | None = None) -> Settings:
    path = config_path(explicit)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        raise ConfigError(f"{path} is not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    return parse_settings(data, source=str(path))
