"""The HTTP API: the store's reads and the seller's commands, over the same functions the CLI uses.

Reads are ``connector/store/queries.py``, ``listing.py`` and ``events.py``, their ``as_json()`` shapes unchanged
(docs/erp-contract.md); a command goes through ``connector/sync/intake.py: submit`` like `connector order …`, so it
is refused the same way, before anything is queued. The published contract is docs/openapi.json, generated from
this module (`connector api --openapi`; a test keeps the two equal).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from connector import __version__
from connector.config import Settings
from connector.domain import CommandKind, Status
from connector.errors import CommandInvalid, ConnectorError, OrderNotFound
from connector.logs import get_logger
from connector.store import Store
from connector.store import events as feed
from connector.store.listing import account_health, order_page
from connector.store.queries import order_detail
from connector.store.tables import ApiKeyRow, CommandRow, OrderRow
from connector.api.auth import reader, writer
from connector.sync.intake import DuplicateCommand, submit

log = get_logger(__name__)

FINAL = ("done", "failed", "cancelled")
KEY_MAX = CommandRow.__table__.c.idempotency_key.type.length
POLL = 0.25  # seconds between looks while a request waits


class Problem(BaseModel):
    error: str
    hint: str | None = None
    missing: list[str] = []


class Page(BaseModel):
    items: list[dict[str, Any]] = Field(description="OrderSummary objects (docs/erp-contract.md, `orders --json`)")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last one")


class EventsPage(BaseModel):
    items: list[dict[str, Any]] = Field(description="Feed events, oldest first: seq, kind, recorded_at, order, data")
    next: int = Field(description="The position to ask from next (?since=): the last seq returned, or since itself")


class CommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order: str = Field(description="The canonical id (42) or account:external_id", examples=["rozetka-main:248888186"])
    kind: CommandKind
    payload: dict[str, str] = Field(default={}, description="The kind's fields (docs/erp-contract.md section 5)",
                                    examples=[{"ttn": "20450000000000"}])
    idempotency_key: str | None = Field(default=None, max_length=KEY_MAX,
                                        description="Or the Idempotency-Key header: the same key queues once")


class CommandOut(BaseModel):
    id: int
    order_id: int
    order: str = Field(description="account:external_id")
    kind: str
    state: Literal["pending", "in_progress", "done", "failed", "cancelled"]
    created: bool | None = Field(default=None, description="On a POST: false when the key was queued already")
    attempts: int
    result: str
    last_error: str
    hint: str
    requested_by: str
    created_at: datetime
    updated_at: datetime


def _command_out(row: CommandRow, order: OrderRow, created: bool | None = None) -> CommandOut:
    return CommandOut(id=row.id, order_id=order.id, order=f"{order.account}:{order.external_id}", kind=row.kind,
                      state=row.state, created=created, attempts=row.attempts, result=row.result,
                      last_error=row.last_error, hint=row.hint, requested_by=row.requested_by,
                      created_at=row.created_at, updated_at=row.updated_at)


def _problem(code: int, exc: ConnectorError) -> HTTPException:
    missing = list(getattr(exc, "missing", ()) or ())
    return HTTPException(code, detail=Problem(error=exc.message, hint=exc.hint, missing=missing).model_dump())


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # the store is UTC-only; a time without a zone is taken as UTC
    return value


_ERRORS = {401: {"model": Problem, "description": "No key, or an unknown or revoked one"},
           403: {"model": Problem, "description": "A read-only key on a write"}}


def create_app(settings: Settings, store: Store | None = None) -> FastAPI:
    """The application; ``store`` may be left out to generate the OpenAPI document alone."""
    app = FastAPI(title="Marketplace order sync connector", version=__version__,
                  description="Orders, accounts, the change feed and seller commands of the canonical store. "
                              "Authenticate with an API key: `Authorization: Bearer <key>` (or `X-API-Key`). "
                              "The data shapes are docs/erp-contract.md's.",
                  responses=_ERRORS)
    app.state.store, app.state.settings = store, settings
    max_wait = settings.api.max_wait.total_seconds()

    @app.exception_handler(HTTPException)
    def _detail_as_body(_request: Request, exc: HTTPException) -> JSONResponse:
        # {"error": …, "hint": …} at the top level, as the CLI's messages are, not under "detail"
        body = exc.detail if isinstance(exc.detail, dict) else {"error": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    def st(request: Request) -> Store:
        return request.app.state.store

    @app.get("/orders", response_model=Page, tags=["orders"], summary="Orders, newest first, a page at a time")
    def list_orders(request: Request, _key: ApiKeyRow = Depends(reader),
                    account: str | None = None, status_: Status | None = Query(None, alias="status"),
                    review: bool | None = Query(None, description="Only orders flagged (true) or not (false)"),
                    since: datetime | None = Query(None, description="Only orders stored after this (synced_at)"),
                    cursor: str | None = Query(None, description="next_cursor of the previous page"),
                    limit: int = Query(100, ge=1, le=500)) -> Page:
        try:
            with st(request).reading() as session:
                page = order_page(session, cursor=cursor, account=account,
                                  status=status_.value if status_ else None, needs_review=review,
                                  since=_utc(since), limit=limit)
        except ValueError as exc:
            raise HTTPException(422, detail={"error": str(exc), "hint": "pass next_cursor as it was given"}) \
                from None
        return Page(items=[o.as_json() for o in page.orders], next_cursor=page.next_cursor)

    @app.get("/orders/{ref}", tags=["orders"], summary="One order: lines, shipments, timeline, commands",
             responses={404: {"model": Problem}})
    def get_order(request: Request, ref: str, _key: ApiKeyRow = Depends(reader)) -> dict[str, Any]:
        try:
            with st(request).reading() as session:
                return order_detail(session, ref).as_json()
        except OrderNotFound as exc:
            raise _problem(404, exc) from None

    @app.get("/accounts", tags=["accounts"], summary="Configured accounts and their health")
    def list_accounts(request: Request, _key: ApiKeyRow = Depends(reader)) -> dict[str, list[dict[str, Any]]]:
        return {"items": [a.as_json() for a in _accounts(request)]}

    @app.get("/accounts/{name}", tags=["accounts"], summary="One account and its health",
             responses={404: {"model": Problem}})
    def get_account(request: Request, name: str, _key: ApiKeyRow = Depends(reader)) -> dict[str, Any]:
        for account in _accounts(request):
            if account.name == name:
                return account.as_json()
        raise HTTPException(404, detail={"error": f"no account named {name!r}"})

    def _accounts(request: Request):
        s: Settings = request.app.state.settings
        configured = [(a.name, a.marketplace, a.enabled) for a in s.accounts]
        with st(request).reading() as session:
            return account_health(session, configured, stale_after=s.schedule.pull_every * s.daemon.stale_after)

    @app.get("/events", response_model=EventsPage, tags=["feed"],
             summary="The change feed after a position, oldest first")
    def list_events(request: Request, _key: ApiKeyRow = Depends(reader),
                    since: int = Query(0, ge=0, description="The last seq you have seen (0: from the start)"),
                    limit: int = Query(100, ge=1, le=1000),
                    kind: list[feed.EventKind] | None = Query(None, description="Only these kinds"),
                    account: str | None = None,
                    wait: float = Query(0, ge=0, description="Seconds to wait for an event when there is none")
                    ) -> EventsPage:
        deadline = time.monotonic() + min(wait, max_wait)
        kinds = [k.value for k in kind] if kind else None
        while True:
            with st(request).reading() as session:
                found = feed.since(session, since, limit=limit, kinds=kinds, account=account)
            if found or time.monotonic() >= deadline:
                break
            time.sleep(POLL)
        return EventsPage(items=[e.as_json() for e in found], next=found[-1].row.seq if found else since)

    @app.post("/commands", status_code=status.HTTP_202_ACCEPTED, response_model=CommandOut, tags=["commands"],
              summary="Queue a seller command (validated now, pushed by the daemon)",
              responses={409: {"model": Problem, "description": "An open command of this kind exists already"},
                         422: {"model": Problem, "description": "Refused: nothing was queued"}})
    def post_command(request: Request, body: CommandIn, key: ApiKeyRow = Depends(writer),
                     idempotency_key: str | None = Header(None, max_length=KEY_MAX)) -> CommandOut:
        if idempotency_key and body.idempotency_key and idempotency_key != body.idempotency_key:
            raise HTTPException(422, detail={"error": "the Idempotency-Key header and idempotency_key differ",
                                             "hint": "send one of them"})
        idem = idempotency_key or body.idempotency_key
        if idem is not None and (not idem.strip() or not idem.isprintable()):
            raise HTTPException(422, detail={"error": "an idempotency key is printable text",
                                             "hint": "e.g. erp:INV-1001"})
        try:
            with st(request).transaction() as session:
                order, queued = submit(session, body.order, body.kind.value, dict(body.payload),
                                       requested_by=f"api:{key.name}"[:64], key=idem)
                out = _command_out(queued.row, order, queued.created)
        except DuplicateCommand as exc:
            log.warning("api write refused", key=key.name, order=body.order, kind=body.kind.value, error=exc.message)
            raise _problem(409, exc) from None
        except (CommandInvalid, OrderNotFound) as exc:
            log.warning("api write refused", key=key.name, order=body.order, kind=body.kind.value, error=exc.message)
            raise _problem(422, exc) from None
        log.info("api write", key=key.name, order=out.order, kind=out.kind, command=out.id, created=out.created,
                 state=out.state)
        return out

    @app.get("/commands/{command_id}", response_model=CommandOut, tags=["commands"],
             summary="A command's state; ?wait= waits until it is done, failed or cancelled",
             responses={404: {"model": Problem}})
    def get_command(request: Request, command_id: int, _key: ApiKeyRow = Depends(reader),
                    wait: float = Query(0, ge=0, description="Seconds to wait for a final state")) -> CommandOut:
        deadline = time.monotonic() + min(wait, max_wait)
        while True:
            with st(request).reading() as session:
                row = session.get(CommandRow, command_id) if command_id < 2**31 else None
                order = session.get(OrderRow, row.order_id) if row else None
            if row is None or order is None:
                raise HTTPException(404, detail={"error": f"no command {command_id}"})
            if row.state in FINAL or time.monotonic() >= deadline:
                return _command_out(row, order)
            time.sleep(POLL)

    return app


def openapi_document(settings: Settings | None = None) -> dict[str, Any]:
    """What docs/openapi.json holds."""
    return create_app(settings or Settings.model_validate({})).openapi()
