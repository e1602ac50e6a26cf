"""Typed configuration: YAML for settings, the environment (or files) for secrets.

A wrong value fails at start with the key's path and what is allowed; secrets never live in the YAML itself.
config.example.yaml (shipped in the package: `connector config example`) documents every key.

Every setting can also come from the environment, ``CONNECTOR_`` plus its path with ``__`` between the keys
(``CONNECTOR_STORE__URL``, ``CONNECTOR_SCHEDULE__PULL_EVERY``); a list or a whole section may be given as JSON
(``CONNECTOR_ACCOUNTS='[...]'``). The order, lowest first: the defaults, the file, the environment.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Collection, Mapping
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from adapters import CARRIERS, MARKETPLACE_LOGINS, ON_DELIVERED, PULLS_AT_ONCE
from connector.domain.commands import CommandKind
from connector.domain.tracking import TrackingRules
from connector.errors import ConfigError

CONFIG_ENV = "CONNECTOR_CONFIG"
ENV_PREFIX = "CONNECTOR_"
ENV_DELIMITER = "__"
DEFAULT_HEALTH_PORT = 8464  # 9100-9999 is the exporters' range (9464: OpenTelemetry's); this one is nobody's
EXAMPLE_PATH = Path(__file__).with_name("config.example.yaml")  # package data: installed with the code

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
_READ_ENVIRONMENT: ContextVar[bool] = ContextVar("read_environment", default=False)
_FINGERPRINT_ROUNDS = 100_000  # about 50 ms: paid once per pull of a paused account, never per request


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

    def secret_fingerprint(self) -> str:
        """What identifies the login's secret now (read from its variable or file), to tell whether the one a
        marketplace refused was replaced. A salted PBKDF2, not a plain hash: whoever reads the store must not be
        able to try a dictionary of passwords against it. The login name is part of it: a new login counts too."""
        login = self.username or self.email or ""
        parts = [f"{what}={secret.value() or ''}" for what, secret in sorted(self.secrets().items())]
        digest = hashlib.pbkdf2_hmac("sha256", "\0".join([login, *parts]).encode(),
                                     f"connector-secret:{self.name}".encode(), _FINGERPRINT_ROUNDS)
        return "pbkdf2:" + digest.hex()[:32]


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
    # where /livez, /readyz, /healthz and /metrics listen; keep it local unless a proxy guards it
    health_host: str = "127.0.0.1"
    health_port: int | None = Field(default=DEFAULT_HEALTH_PORT, ge=0, le=65535)  # null: no server; 0: any free
    # How long a push taken over from a dead pusher waits before the order is re-read: at least the longest a
    # marketplace write can take to land (the HTTP request deadline), or a write still in flight is sent again.
    takeover_wait: Duration = timedelta(seconds=45)
    # /healthz fails when an account's last good pull is this many pull intervals old (bounded: times
    # pull_every it must stay a duration)
    stale_after: int = Field(default=3, ge=1, le=1000)
    # Accounts pulled at once, by the daemon and by `sync --once`; each account is only ever pulled once at a time.
    pull_workers: int = Field(default=8, ge=1, le=64)
    # At most this many of those pulls on one marketplace at once. A marketplace left out keeps its default (a
    # marketplace without one is bounded by pull_workers only).
    pulls_per_marketplace: dict[str, Annotated[int, Field(ge=1, le=64)]] = PULLS_AT_ONCE

    @field_validator("pulls_per_marketplace")
    @classmethod
    def _known_marketplaces(cls, bounds: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(bounds) - set(MARKETPLACE_LOGINS))
        if unknown:
            raise ValueError(f"unknown marketplace {', '.join(unknown)}; one of: {', '.join(MARKETPLACE_LOGINS)}")
        return PULLS_AT_ONCE | bounds


class RetentionSettings(_Section):
    """How long marketplace payloads and buyers' personal data are kept (docs/security.md)."""

    finished_orders: Duration = timedelta(days=365)  # after an order is finished: its payloads and buyer data go
    raw_versions: int = Field(default=10, ge=1, le=1000)  # newest raw payloads kept per order still in play
    enabled: bool = True


class LogSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"  # auto: readable on a terminal, JSON otherwise


class ApiSettings(_Section):
    """The HTTP API (`connector api`; docs/erp-contract.md). Keys are made with `connector api-key create`."""

    host: str = "127.0.0.1"  # local only, unless a proxy that terminates TLS guards it
    port: int = Field(default=8080, ge=0, le=65535)
    max_wait: Duration = timedelta(seconds=60)  # the longest ?wait= a request may hold a worker


class WebhookSettings(_Section):
    """One subscription: the feed's events of the kinds listed, POSTed as signed JSON to ``url``."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    url: str
    events: list[str] = Field(min_length=1)  # event kinds (order.created, …), or "*" for all of them
    secret_env: str | None = None  # the HMAC key: an environment variable, or a file
    secret_file: str | None = None
    timeout: Duration = timedelta(seconds=10)
    max_backoff: Duration = timedelta(hours=1)  # retries slow down to this and stay there
    give_up_after: Duration = timedelta(days=3)  # then the delivery fails, visibly (`connector webhooks --failed`)

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secret(cls, data: Any) -> Any:
        if isinstance(data, dict) and "secret" in data:
            raise ValueError("'secret' must not be written in the config file; put it in an environment variable "
                             "and name it with 'secret_env' (or a file with 'secret_file')")
        return data

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _check_base_url(value)

    @field_validator("events")
    @classmethod
    def _known_events(cls, events: list[str]) -> list[str]:
        from connector.store.events import EventKind  # the store's vocabulary, imported when it is needed

        unknown = sorted(set(events) - {k.value for k in EventKind} - {"*"})
        if unknown:
            raise ValueError(f"unknown event {', '.join(unknown)}; one of: *, "
                             + ", ".join(k.value for k in EventKind))
        return events

    @model_validator(mode="after")
    def _secret_named(self) -> WebhookSettings:
        if not (self.secret_env or self.secret_file):
            raise ValueError("a webhook needs secret_env (or secret_file): its deliveries are signed with it")
        return self

    @property
    def secret(self) -> Secret:
        return Secret(env=self.secret_env, file=self.secret_file)

    def wants(self, kind: str) -> bool:
        return "*" in self.events or kind in self.events


class Settings(BaseSettings):
    # BaseSettings for its environment source, used only when parse_settings is asked to (_READ_ENVIRONMENT):
    # tests and the demo build Settings from the data they give alone.
    model_config = SettingsConfigDict(extra="forbid", frozen=True, env_prefix=ENV_PREFIX,
                                      env_nested_delimiter=ENV_DELIMITER, case_sensitive=False)

    store: StoreSettings = StoreSettings()
    accounts: list[AccountSettings] = []
    carriers: dict[str, CarrierSettings] = {}
    schedule: ScheduleSettings = ScheduleSettings()
    daemon: DaemonSettings = DaemonSettings()
    retention: RetentionSettings = RetentionSettings()
    log: LogSettings = LogSettings()
    api: ApiSettings = ApiSettings()
    webhooks: list[WebhookSettings] = []

    @field_validator("webhooks")
    @classmethod
    def _unique_webhooks(cls, webhooks: list[WebhookSettings]) -> list[WebhookSettings]:
        names = [w.name for w in webhooks]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"webhook name {', '.join(twice)} is used twice; names must be unique")
        return webhooks

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

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The first wins: the environment over the file (passed as init values). No .env or secrets directory:
        # secrets have their own *_env / *_file keys.
        return (env_settings, init_settings) if _READ_ENVIRONMENT.get() else (init_settings,)

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


def settings_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The CONNECTOR_* variables that name a setting (CONNECTOR_CONFIG and others that are not settings, such as
    compose's CONNECTOR_DB_PASSWORD, are left out), by their upper-case names."""
    environ = os.environ if environ is None else environ
    sections = tuple(f"{ENV_PREFIX}{name}".upper() for name in Settings.model_fields)
    return {k.upper(): v for k, v in environ.items()
            if k.upper() in sections or k.upper().startswith(tuple(f"{x}{ENV_DELIMITER}" for x in sections))}


def _env_name(loc: tuple[Any, ...], names: Collection[str]) -> str:
    """The variable a wrong value came from: the longest prefix of its path that is set."""
    parts = [str(p) for p in loc]
    for end in range(len(parts), 0, -1):
        name = (ENV_PREFIX + ENV_DELIMITER.join(parts[:end])).upper()
        if name in names:
            return name
    return ""


def _unknown_env(environ: Mapping[str, str]) -> list[str]:
    """CONNECTOR_X__Y where X is no section: a typo would otherwise be ignored without a word."""
    known = {f"{ENV_PREFIX}{name}".upper() for name in Settings.model_fields}
    return sorted(k for k in (k.upper() for k in environ)
                  if k.startswith(ENV_PREFIX) and ENV_DELIMITER in k[len(ENV_PREFIX):]
                  and k.split(ENV_DELIMITER)[0] not in known)


def parse_settings(data: Any, source: str = "config", *, environ: bool = False) -> Settings:
    """``data`` (the file's mapping) as Settings; with ``environ``, the CONNECTOR_* variables win over it."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must be a mapping of keys to values, not {type(data).__name__}")
    env = settings_env() if environ else {}
    if environ and (unknown := _unknown_env(os.environ)):
        raise ConfigError(f"the environment names settings that do not exist: {', '.join(unknown)}",
                          hint=f"the sections are {', '.join(Settings.model_fields)}: "
                               f"{ENV_PREFIX}SECTION{ENV_DELIMITER}KEY, e.g. {ENV_PREFIX}STORE__URL")
    reading = _READ_ENVIRONMENT.set(environ)
    try:
        return Settings.model_validate(data)
    except SettingsError as exc:
        _not_json(str(exc))
        raise
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "json-"))))
            msg = err["msg"].removeprefix("Value error, ")
            _not_json(msg)
            if err["type"] == "extra_forbidden":
                msg = "unknown key; see config.example.yaml for the keys this section takes"
            where = _env_name(loc, env)
            problems.append(f"{_path(loc)}: {msg}" + (f" (from ${where})" if where else ""))
        source = f"{source} with the environment" if env else source
        raise ConfigError(f"{source} is not valid:\n  " + "\n  ".join(problems),
                          hint="fix the keys named above; config.example.yaml documents every key") from None
    finally:
        _READ_ENVIRONMENT.reset(reading)


def _not_json(message: str) -> None:
    """pydantic-settings' words for a variable that should hold JSON (a list, a whole section) and does not."""
    field = re.search(r'error parsing value for field "(\w+)" from source "EnvSettingsSource"', message)
    if field:
        raise ConfigError(f"the environment is not valid: {ENV_PREFIX}{field[1].upper()} is not valid JSON",
                          hint=f"a list or a whole section is written as JSON, e.g. "
                               f"{ENV_PREFIX}ACCOUNTS='[{{\"name\": \"...\"}}]'")


HOW_TO_START = (
    "no configuration given. Pass --config PATH or set CONNECTOR_CONFIG=PATH. "
    "To start: `connector config example > connector.yaml`, edit the accounts, export the *_env secrets, then "
    "`connector --config connector.yaml doctor`"
)


def config_path(explicit: str | None) -> Path | None:
    """The file to read; None when there is none but the environment holds settings (a container may be
    configured by its environment alone)."""
    chosen = explicit or os.environ.get(CONFIG_ENV)
    if not chosen:
        if settings_env():
            return None
        raise ConfigError(HOW_TO_START)
    path = Path(chosen).expanduser()
    if not path.is_file():
        raise ConfigError(f"configuration file {path} does not exist",
                          hint="check --config / CONNECTOR_CONFIG; `connector config example` prints a template")
    return path


def load_settings(explicit: str | None = None) -> Settings:
    """The file (if any), then the CONNECTOR_* environment over it."""
    path = config_path(explicit)
    if path is None:
        return parse_settings({}, source="the environment", environ=True)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        raise ConfigError(f"{path} is not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    return parse_settings(data, source=str(path), environ=True)
