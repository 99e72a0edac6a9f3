"""The connectors process's own HTTP server: ``/status``, ``/metrics``, ``/health`` and the webhook
receivers of push sources (``/webhooks/{connector}/{stream}``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from connectors.runtime.status import ConnectorState, ConnectorStatus, ConnectorStatusView, Metrics
from connectors.sources.base import Source


def create_status_app(
    statuses: Sequence[ConnectorStatus], sources: Sequence[Source[Any]], metrics: Metrics
) -> FastAPI:
    app = FastAPI(title="Overlay connectors", version="0.1.0")

    @app.get("/status", response_model=list[ConnectorStatusView])
    async def status() -> list[ConnectorStatusView]:
        return [s.view() for s in statuses]

    @app.get("/metrics")
    async def prometheus() -> Response:
        for s in statuses:
            s.lag_s()  # refresh the gauge
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health")
    async def health() -> JSONResponse:
        unhealthy = [s.name for s in statuses if s.state is ConnectorState.UNHEALTHY]
        body = {"status": "degraded" if unhealthy else "ok", "unhealthy": unhealthy}
        return JSONResponse(body, status_code=200)

    for source in sources:
        router = getattr(source, "router", None)
        if source.is_push and callable(router):
            app.include_router(router(), prefix=f"/webhooks/{source.config.name}")
    return app
