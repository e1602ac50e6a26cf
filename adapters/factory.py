"""Build the adapter an account's configuration describes. The one place that knows every adapter's constructor."""

from __future__ import annotations

import importlib
import json
import threading
import time
from dataclasses import replace
from collections.abc import Callable
from typing import TYPE_CHECKING

from adapters import CARRIERS
from adapters.base import CarrierAdapter, CarrierLogin, HttpPolicy, MarketplaceAdapter, PulledOrder
from connector.domain import RawPayload, utcnow
from connector.errors import AuthError
from mappings import load

if TYPE_CHECKING:
    from connector.config import AccountSettings, CarrierSettings


def build_adapter(account: AccountSettings, policy: HttpPolicy | None = None,
                  sleep: Callable[[float], object] = time.sleep,
                  stop: threading.Event | None = None) -> MarketplaceAdapter:
    """``stop``: set when the process stops; a request in progress is then abandoned rather than waited for."""
    vocabulary = load(account.marketplace, account.mapping)
    policy = replace(policy or HttpPolicy(), stop=stop)
    if account.marketplace == "rozetka":
        from adapters.rozetka.adapter import RozetkaAdapter
        from adapters.rozetka.client import RozetkaClient

        secrets = account.secrets()
        token = secrets["token"].value() if "token" in secrets else None
        password = secrets["password"].value() if "password" in secrets else None
        if not token and not password:
            what = next(iter(secrets.values())).describe()
            raise AuthError(f"account {account.name}: no secret in {what}", hint=f"export {what.lstrip('$')}")
        client = RozetkaClient(account.base_url, username=account.username, password=password, token=token,
                               policy=policy, sleep=sleep)
        return RozetkaAdapter(account.name, client, vocabulary, lookback=account.lookback, sleep=sleep)
    if account.marketplace == "chopni":
        from adapters.chopni.adapter import ChopniAdapter
        from adapters.chopni.client import ChopniClient

        password = account.password.value()
        if not password:
            raise AuthError(f"account {account.name}: no secret in {account.password.describe()}",
                            hint=f"export {account.password.describe().lstrip('$')}")
        client = ChopniClient(account.base_url, email=account.email, password=password, policy=policy, sleep=sleep,
                              requests_per_second=account.requests_per_second)
        return ChopniAdapter(account.name, client, vocabulary, sleep=sleep)
    if account.marketplace == "promua":
        from adapters.promua.adapter import MIN_LOOKBACK, PromAdapter
        from adapters.promua.client import PromClient

        token = account.token.value()
        if not token:
            raise AuthError(f"account {account.name}: no secret in {account.token.describe()}",
                            hint=f"export {account.token.describe().lstrip('$')}")
        client = PromClient(account.base_url, token=token, policy=policy, sleep=sleep,
                            requests_per_second=account.requests_per_second)
        return PromAdapter(account.name, client, vocabulary, lookback=max(account.lookback, MIN_LOOKBACK),
                           sleep=sleep)
    raise AuthError(f"account {account.name}: the {account.marketplace} adapter is not available in this version",
                    hint="disable the account (enabled: false) until it is")


def raw_mapper(account: AccountSettings) -> Callable[[RawPayload], PulledOrder]:
    """Stored raw payload → canonical order with the account's current vocabulary; no network, no secrets."""
    vocabulary = load(account.marketplace, account.mapping)
    if account.marketplace == "rozetka":
        from adapters.rozetka import mapper

        return lambda raw: mapper.pulled(json.loads(raw.body), account.name, vocabulary)
    if account.marketplace == "chopni":
        from adapters.chopni import mapper as chopni_mapper

        return lambda raw: chopni_mapper.from_raw(raw, account.name, vocabulary, utcnow())
    if account.marketplace == "promua":
        from adapters.promua import mapper as promua_mapper

        return lambda raw: promua_mapper.pulled(json.loads(raw.body), account.name, vocabulary)
    raise AuthError(f"account {account.name}: no mapper for {account.marketplace} in this version")


def build_carrier(name: str, settings: CarrierSettings, policy: HttpPolicy | None = None,
                  sleep: Callable[[float], object] = time.sleep,
                  stop: threading.Event | None = None) -> CarrierAdapter:
    """The carrier's adapter, its secrets read now. An unset secret is an AuthError naming where it should be."""
    unset = settings.unset_secrets(name)
    if unset:
        raise AuthError(f"carrier {name}: no secret in {', '.join(unset)}",
                        hint=f"export {unset[0].lstrip('$')}; until then its parcels are not tracked")
    login = CarrierLogin(base_url=settings.base_url, username=settings.username or "",
                         api_key=settings.api_key.value() or "", password=settings.password.value() or "")
    module, _, function = CARRIERS[name].build.partition(":")
    build = getattr(importlib.import_module(module), function)
    return build(login, load(name), policy=replace(policy or HttpPolicy(), stop=stop), sleep=sleep)
