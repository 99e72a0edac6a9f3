"""The HTTP app shell: lifespan-managed clients, health, TMF errors, and every API's router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from overlay.http.errors import install_error_handlers
from overlay.infra.kafka_admin import kafka_reachable
from overlay.redis import make_redis
from overlay.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    from customer_cache.api import search, tmf629, tmf637, tmf666, view360
    from customer_cache.keys import KEYS

    s = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = s
        app.state.redis = make_redis(s)
        app.state.c360_keys = KEYS  # the live customer 360 model (a rebuild writes beside it)
        try:
            yield
        finally:
            await app.state.redis.aclose()

    app = FastAPI(
        title="Overlay",
        version="0.1.0",
        description="TM Forum Open APIs over the operator's legacy stacks.",
        lifespan=lifespan,
    )
    install_error_handlers(app)

    @app.get("/health", tags=["operations"], summary="200 while Kafka and Redis are reachable")
    async def health(request: Request) -> JSONResponse:
        kafka_ok = await kafka_reachable(s.kafka_bootstrap, timeout=2.0)
        try:
            redis_ok = bool(await request.app.state.redis.ping())
        except Exception:
            redis_ok = False
        ok = kafka_ok and redis_ok
        body = {"status": "ok" if ok else "unavailable", "kafka": kafka_ok, "redis": redis_ok}
        return JSONResponse(body, status_code=200 if ok else 503)

    for api in (tmf629, tmf637, tmf666, view360, search):
        app.include_router(api.router)
    return app
