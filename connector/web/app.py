"""The page's routes: full pages, the fragments htmx polls, and three actions (resume, retry, cancel).

Everything read comes from the store's read functions; everything written goes through the same functions the CLI
uses (``accounts.resume``, ``commands.requeue``, ``commands.cancel``). Outside text (a marketplace's, a carrier's,
a buyer's) reaches the HTML only through Jinja's autoescaping.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import jinja2
import sqlalchemy as sa
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from connector.config import DaemonSettings, ScheduleSettings, Settings
from connector.domain import Status, utcnow
from connector.errors import CommandInvalid, ConnectorError, OrderNotFound, describe
from connector.logs import redact
from connector.store import Store
from connector.store.accounts import resume, states
from connector.store.commands import cancel, list_commands, requeue
from connector.store.queries import order_detail
from connector.store.search import accounts_seen, attention, carrier_checks, search_orders, status_counts

HERE = Path(__file__).parent
LOCAL_HOSTS = ("127.0.0.1", "localhost")
REFRESH_SECONDS = 5
ORDERS_SHOWN = 100
STATUS_ORDER = [s.value for s in Status]
MAX_ID = 2**31 - 1  # the store's integer ids end here (PostgreSQL ``integer``)


# -- view models: what the templates show, worked out from the store's rows -----------------------------------------

@dataclass(frozen=True)
class AccountView:
    name: str
    marketplace: str
    configured: bool
    state: str  # ok | stale | paused | failing | never
    last_pull_ok_at: datetime | None
    last_pull_at: datetime | None
    lag: str
    paused_until: datetime | None
    paused_reason: str
    last_error: str
    failures: int


@dataclass(frozen=True)
class CarrierView:
    name: str
    configured: bool
    state: str  # ok | stale | never | idle
    last_checked: datetime | None
    ago: str
    open: int
    not_tracked: int
    why: str


def ago(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "never"
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


class Ui:
    """The page's reads, one store session each, shaped for the templates."""

    def __init__(self, store: Store, settings: Settings | None) -> None:
        self.store, self.settings = store, settings
        schedule = settings.schedule if settings else ScheduleSettings()
        daemon = settings.daemon if settings else DaemonSettings()
        self.pull_stale = schedule.pull_every * daemon.stale_after
        self.track_stale = schedule.track_every * daemon.stale_after

    def configured_accounts(self) -> dict[str, str]:
        return {a.name: a.marketplace for a in (self.settings.accounts if self.settings else []) if a.enabled}

    def overview(self) -> dict[str, Any]:
        now = utcnow()
        with self.store.reading() as session:
            account_states = states(session)
            counts = status_counts(session)
            carriers = carrier_checks(session)
            needs = attention(session)
            seen = accounts_seen(session)
        configured = self.configured_accounts()
        accounts = []
        for name in sorted(set(configured) | set(account_states) | set(seen)):
            st = account_states.get(name)
            last_ok = st.last_pull_ok_at if st else None
            paused = bool(st and st.paused_until and st.paused_until > now)
            if paused:
                state = "paused"
            elif last_ok is None:
                state = "failing" if st and st.failures else "never"
            elif now - last_ok > self.pull_stale:
                state = "stale"
            elif st.failures:
                state = "failing"
            else:
                state = "ok"
            accounts.append(AccountView(
                name=name, marketplace=configured.get(name, ""), configured=name in configured, state=state,
                last_pull_ok_at=last_ok, last_pull_at=st.last_pull_at if st else None, lag=ago(last_ok, now),
                paused_until=st.paused_until if paused else None,
                # the marketplace's refusal may name the seller's login: redacted as in /healthz and the logs
                paused_reason=redact(st.paused_reason) if paused else "",
                last_error=redact(st.last_error) if st else "", failures=st.failures if st else 0))
        configured_carriers = set(self.settings.carriers) if self.settings else set()
        carrier_views = []
        for name in sorted(configured_carriers | set(carriers)):
            c = carriers.get(name, {"last_checked": None, "open": 0, "not_tracked": 0, "why": ""})
            last = c["last_checked"]
            if not c["open"]:
                state = "idle"
            elif last is None:
                state = "never"
            else:
                state = "stale" if now - last > self.track_stale else "ok"
            carrier_views.append(CarrierView(name, name in configured_carriers, state, last, ago(last, now),
                                             c["open"], c["not_tracked"], c["why"]))
        present = {s for counter in counts.values() for s in counter}
        columns = [s for s in STATUS_ORDER if s in present] + sorted(present - set(STATUS_ORDER))
        problems = ([f"account {a.name} is paused" for a in accounts if a.state == "paused"]
                    + [f"account {a.name} has not pulled for {a.lag.removesuffix(' ago')}"
                       for a in accounts if a.state == "stale"]
                    + [f"account {a.name} is failing" for a in accounts if a.state == "failing"]
                    + [f"carrier {c.name} has not been asked for {c.ago.removesuffix(' ago')}"
                       for c in carrier_views if c.state == "stale"]
                    + [f"carrier {c.name}: {c.open} parcel{'s' if c.open != 1 else ''} on the way, never tracked"
                       for c in carrier_views if c.state == "never"])
        return {"accounts": accounts, "carriers": carrier_views, "counts": counts, "columns": columns,
                "needs": needs, "problems": problems, "now": now}

    def outbox(self) -> dict[str, Any]:
        with self.store.reading() as session:
            waiting = list_commands(session, state="in_progress", limit=50) + list_commands(
                session, state="pending", limit=50)
            failed = list_commands(session, state="failed", limit=50)
            done = list_commands(session, state="done", limit=10)
        return {"waiting": sorted(waiting, key=lambda r: r[0].id), "failed": failed, "done": done}

    def orders(self, filters: Filters) -> dict[str, Any]:
        with self.store.reading() as session:
            rows = search_orders(session, text=filters.q, account=filters.account or None,
                                 status=filters.status or None, needs_review=True if filters.review else None,
                                 limit=ORDERS_SHOWN)
            seen = accounts_seen(session)
        return {"rows": rows, "filters": filters, "account_names": sorted(set(seen) | set(self.configured_accounts())),
                "statuses": STATUS_ORDER, "limit": ORDERS_SHOWN}

    def order(self, ref: str):
        with self.store.reading() as session:
            return order_detail(session, ref)


@dataclass(frozen=True)
class Filters:
    q: str = ""
    status: str = ""
    account: str = ""
    review: bool = False

    @classmethod
    def of(cls, request: Request) -> Filters:
        p = request.query_params
        status = p.get("status", "")
        return cls(q=" ".join(p.get("q", "").split())[:100], status=status if status in STATUS_ORDER else "",
                   account=p.get("account", "")[:64], review=p.get("review", "") in ("1", "on", "true"))

    @property
    def query(self) -> str:
        data = {k: v for k, v in (("q", self.q), ("status", self.status), ("account", self.account)) if v}
        if self.review:
            data["review"] = "1"
        return urlencode(data)

    @property
    def active(self) -> bool:
        return bool(self.q or self.status or self.account or self.review)


# -- templates --------------------------------------------------------------------------------------------------

def _time(value: datetime | None, style: str = "datetime") -> Markup:
    """A UTC time as ``<time datetime>``: readable UTC without JavaScript, the viewer's zone with it."""
    if value is None:
        return Markup("")
    text = value.strftime("%Y-%m-%d %H:%M UTC")
    return Markup('<time datetime="{}" data-style="{}">{}</time>').format(value.isoformat(), style, text)


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["t"] = _time
    env.globals["refresh"] = REFRESH_SECONDS
    return Jinja2Templates(env=env)


# -- security: host check, optional HTTP Basic, CSRF token on actions, headers --------------------------------------

class BasicAuth:
    """HTTP Basic in front of everything when a password is set (``connector ui --allow-remote``). The user name
    is not checked; the password is compared in constant time."""

    def __init__(self, app: ASGIApp, password: str | None) -> None:
        self.app, self.password = app, password

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.password or self._ok(scope):
            await self.app(scope, receive, send)
            return
        response = Response("a password is needed (HTTP Basic; the user name is not checked)\n", status_code=401,
                            headers={"WWW-Authenticate": 'Basic realm="connector", charset="UTF-8"'},
                            media_type="text/plain")
        await response(scope, receive, send)

    def _ok(self, scope: Scope) -> bool:
        header = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, encoded = header.partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            _user, _, given = base64.b64decode(encoded, validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(given, self.password.encode())


CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                headers += [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]
                if not scope["path"].startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))  # buyer data stays out of caches
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


# -- the application --------------------------------------------------------------------------------------------

def create_app(store: Store, settings: Settings | None = None, *, password: str | None = None,
               allowed_hosts: Iterable[str] | None = LOCAL_HOSTS) -> Starlette:
    """The page over ``store``. ``allowed_hosts`` (None: any) refuses other Host headers, so a page bound to
    127.0.0.1 cannot be reached through a DNS-rebinding name; ``password`` puts HTTP Basic in front of it all."""
    ui = Ui(store, settings)
    templates = _templates()
    csrf = secrets.token_urlsafe(24)  # per process: a form from another site cannot know it

    def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        context |= {"request": request, "csrf": csrf}
        if name == "error.html" and request.headers.get("hx-request") == "true":
            name = "_error.html"  # into the fragment's place, not a page inside a page
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    def guarded(request: Request, name: str, build: Callable[[], dict[str, Any]], **extra: Any) -> HTMLResponse:
        """A fragment or page; a store that fails is said inside it (a polled fragment keeps polling)."""
        try:
            return render(request, name, **build(), **extra)
        except OrderNotFound as exc:
            return render(request, "error.html", 404, message=exc.message, hint=exc.hint or "")
        except (ConnectorError, sa.exc.SQLAlchemyError) as exc:
            message = exc.message if isinstance(exc, ConnectorError) else f"the store failed: {describe(exc)}"
            return render(request, "error.html", 503, message=message,
                          hint="check that the database is running; the page retries by itself", retry=True)

    def index(request: Request) -> HTMLResponse:
        filters = Filters.of(request)
        return guarded(request, "index.html",
                       lambda: ui.overview() | ui.outbox() | ui.orders(filters), flash="", flash_error=False)

    def flow(request: Request) -> HTMLResponse:
        return guarded(request, "_flow.html", ui.overview)

    def outbox(request: Request) -> HTMLResponse:
        return guarded(request, "_outbox.html", ui.outbox, flash="", flash_error=False)

    def orders(request: Request) -> HTMLResponse:
        filters = Filters.of(request)
        return guarded(request, "_orders.html", lambda: ui.orders(filters))

    def order_page(request: Request) -> HTMLResponse:
        ref = request.path_params["ref"]
        return guarded(request, "order.html", lambda: {"d": ui.order(ref)}, flash="", flash_error=False)

    def order_fragment(request: Request) -> HTMLResponse:
        ref = request.path_params["ref"]
        return guarded(request, "_order.html", lambda: {"d": ui.order(ref)}, flash="", flash_error=False)

    def buyer(request: Request) -> HTMLResponse:
        ref = request.path_params["ref"]
        show = request.query_params.get("show") == "1"
        return guarded(request, "_buyer.html", lambda: {"d": ui.order(ref), "show": show})

    async def action(request: Request, do: Callable[[], str], *, back: str) -> Response:
        """Run ``do`` (a store write through the command functions) after checking the CSRF token; answer an htmx
        request with the fragment ``back`` names (with what happened), a plain form with a redirect."""
        form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
        given = request.headers.get("x-csrf-token") or (form.get("csrf") or [""])[0]
        if not hmac.compare_digest(given.encode(), csrf.encode()):
            return render(request, "error.html", 403, message="this form is stale or came from another site",
                          hint="reload the page and try again")
        back = (form.get("back") or [back])[0]
        try:
            flash, error = await run_in_threadpool(do), False
        except (CommandInvalid, OrderNotFound) as exc:
            flash, error = exc.message, True
        htmx = request.headers.get("hx-request") == "true"
        order_ref = back.removeprefix("order:") if back.startswith("order:") else None
        if not htmx:
            if error:
                return render(request, "error.html", 409, message=flash, hint="")
            return RedirectResponse(f"/orders/{order_ref}" if order_ref else "/", status_code=303)
        if order_ref:
            return guarded(request, "_order.html", lambda: {"d": ui.order(order_ref)}, flash=flash,
                           flash_error=error)
        if back == "flow":
            return guarded(request, "_flow.html", ui.overview, flash=flash, flash_error=error)
        return guarded(request, "_outbox.html", ui.outbox, flash=flash, flash_error=error)

    def _command_id(request: Request) -> int:
        value = request.path_params["command_id"]
        return value if 0 <= value <= MAX_ID else -1

    async def retry(request: Request) -> Response:
        command_id = _command_id(request)

        def do() -> str:
            with store.transaction() as session:
                row = requeue(session, command_id)
                return f"command {row.id} ({row.kind}) is pending again"
        return await action(request, do, back="outbox")

    async def cancel_command(request: Request) -> Response:
        command_id = _command_id(request)

        def do() -> str:
            with store.transaction() as session:
                row = cancel(session, command_id)
                return f"command {row.id} ({row.kind}) cancelled"
        return await action(request, do, back="outbox")

    async def resume_account(request: Request) -> Response:
        name = request.path_params["name"]

        def do() -> str:
            with store.reading() as session:
                known = name in states(session)
            if not known:
                raise OrderNotFound(f"no account {name!r} in the store")
            with store.transaction() as session:
                resume(session, name)
            return f"account {name} resumed: the daemon pulls it at its next run"
        return await action(request, do, back="flow")

    async def not_found(request: Request, _exc: Exception) -> Response:
        return render(request, "error.html", 404, message="no such page", hint="")

    routes = [
        Route("/", index),
        Route("/fragments/flow", flow),
        Route("/fragments/outbox", outbox),
        Route("/fragments/orders", orders),
        Route("/orders/{ref}", order_page),
        Route("/fragments/orders/{ref}", order_fragment),
        Route("/fragments/orders/{ref}/buyer", buyer),
        Route("/commands/{command_id:int}/retry", retry, methods=["POST"]),
        Route("/commands/{command_id:int}/cancel", cancel_command, methods=["POST"]),
        Route("/accounts/{name}/resume", resume_account, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [Middleware(SecurityHeaders), Middleware(BasicAuth, password=password)]
    if allowed_hosts is not None:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)))
    return Starlette(routes=routes, middleware=middleware, exception_handlers={404: not_found})

