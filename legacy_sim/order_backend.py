"""An order-taking back-end of one stack (mobile, fixed, tv, partner) as a JSON server.

``POST /orders`` needs an ``Idempotency-Key``; every request is logged with its outcome and every
effect counted per key, so tests can prove that retries never acted twice. ``/_admin/faults``
injects errors, latency and outages (see :mod:`legacy_sim.faults`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from legacy_sim.db import parse_since
from legacy_sim.faults import Fault, FaultConfig, FaultInjector
from legacy_sim.order_book import IdempotencyConflict, OrderBook, OrderRequest

BACKEND_SYSTEMS = ("mobile", "fixed", "tv", "partner")


class RequestLogEntry(BaseModel):
    time: str
    method: str
    path: str
    query: str
    idempotencyKey: str | None
    status: int
    outcome: str
    orderId: str | None


def _iso_ms(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(status: int, message: str, retry_after: int | None = None) -> JSONResponse:
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return JSONResponse({"error": message, "status": status}, status, headers=headers)


def _fault_response(request: Request, fault: Fault, outcome: str) -> JSONResponse:
    request.state.outcome = outcome
    return _error(fault.status, f"simulated {fault.reason} ({fault.status})", fault.retry_after)


def create_order_backend(
    system_name: str,
    *,
    progress_seconds: float = 5.0,
    log_limit: int = 200_000,
    book: OrderBook | None = None,
    faults: FaultInjector | None = None,
) -> FastAPI:
    """The order back-end of ``system_name``; orders complete ``progress_seconds`` after intake."""
    orders = book or OrderBook(system_name, progress_seconds=progress_seconds)
    injector = faults or FaultInjector()
    log: deque[RequestLogEntry] = deque(maxlen=log_limit)
    raw_orders: list[dict[str, Any]] = []  # listed verbatim (see /_admin/raw-orders)
    app = FastAPI(title=f"Legacy {system_name} order back-end (simulated)")
    app.state.book = orders
    app.state.faults = injector

    @app.middleware("http")
    async def record(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.path.startswith("/_admin") or request.url.path == "/healthz":
            return await call_next(request)
        request.state.outcome = "ok"
        request.state.order_id = None
        response = await call_next(request)
        log.append(
            RequestLogEntry(
                time=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                method=request.method, path=request.url.path, query=request.url.query,
                idempotencyKey=request.headers.get("idempotency-key"), status=response.status_code,
                outcome=request.state.outcome, orderId=request.state.order_id,
            )
        )
        return response

    async def before(request: Request) -> JSONResponse | Fault | None:
        """Latency, then maybe a fault: a response to return now, or a fault due after the effect."""
        if injector.latency_s:
            await asyncio.sleep(injector.latency_s)
        fault = injector.decide()
        if fault is None:
            return None
        if fault.after_effect and request.method == "POST":
            return fault
        return _fault_response(request, fault, f"fault-{fault.reason}-{fault.status}")

    @app.post("/orders")
    async def create_order(request: Request) -> JSONResponse:
        key = request.headers.get("idempotency-key", "").strip()
        if not key:
            request.state.outcome = "missing-idempotency-key"
            return _error(400, "Idempotency-Key header is required")
        pending = await before(request)
        if isinstance(pending, JSONResponse):
            return pending
        try:
            body = OrderRequest.model_validate(await request.json())
        except (ValidationError, ValueError) as exc:
            request.state.outcome = "invalid"
            detail = exc.errors(include_url=False) if isinstance(exc, ValidationError) else str(exc)
            return JSONResponse({"error": "invalid order", "detail": detail, "status": 422}, 422)
        try:
            order, created = orders.submit(key, body)
        except IdempotencyConflict:
            request.state.outcome = "idempotency-conflict"
            return _error(409, "Idempotency-Key was already used with a different request")
        request.state.order_id = order.id
        if isinstance(pending, Fault):  # acted, then "lost" the response
            return _fault_response(request, pending, "lost-response" if created else "replayed-lost-response")
        request.state.outcome = "created" if created else "replayed"
        return JSONResponse(order.model_dump(), 201 if created else 200)

    @app.get("/orders/{order_id}")
    async def get_order(request: Request, order_id: str) -> JSONResponse:
        pending = await before(request)
        if isinstance(pending, JSONResponse):
            return pending
        order = orders.get(order_id)
        if order is None:
            request.state.outcome = "not-found"
            return _error(404, f"order {order_id} not found")
        return JSONResponse(order.model_dump())

    @app.get("/orders")
    async def list_orders(request: Request, modified_since: str | None = None) -> JSONResponse:
        pending = await before(request)
        if isinstance(pending, JSONResponse):
            return pending
        try:
            since = parse_since(modified_since)
        except ValueError:
            return _error(400, f"invalid modified_since: {modified_since}")
        found = orders.list(None if since is None else since.replace(tzinfo=UTC))
        items = [o.model_dump() for o in found]
        if raw_orders:
            floor = "" if since is None else _iso_ms(since.replace(tzinfo=UTC))
            items.extend(r for r in raw_orders if str(r["lastModified"]) >= floor)
            items.sort(key=lambda o: (str(o["lastModified"]), str(o.get("id"))))
        return JSONResponse({"total": len(items), "items": items})

    @app.get("/_admin/requests")
    async def requests_log() -> dict[str, Any]:
        return {"total": len(log), "items": [e.model_dump() for e in log]}

    @app.get("/_admin/effects")
    async def effects() -> dict[str, Any]:
        return {"total": sum(orders.effects.values()), "byKey": dict(orders.effects)}

    @app.post("/_admin/faults")
    async def set_faults(config: FaultConfig) -> FaultConfig:
        injector.configure(config)
        return injector.config

    @app.delete("/_admin/faults")
    async def clear_faults() -> FaultConfig:
        injector.clear()
        return injector.config

    @app.post("/_admin/raw-orders", status_code=201)
    async def add_raw_order(body: dict[str, Any]) -> dict[str, Any]:
        """List ``body`` among the orders as it is (``lastModified`` defaults to now): a record the
        back-end's own model would never produce, for testing how readers handle one."""
        record = {**body, "lastModified": body.get("lastModified") or _iso_ms(datetime.now(UTC))}
        raw_orders.append(record)
        return record

    @app.post("/_admin/reset")
    async def reset() -> dict[str, str]:
        """Forget orders, raw orders, effects and the request log (faults stay as configured)."""
        orders.reset()
        raw_orders.clear()
        log.clear()
        return {"status": "reset"}

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
