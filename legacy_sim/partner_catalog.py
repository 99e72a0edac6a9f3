"""Partner catalogs (StreamFlix streaming, ShieldSec security) served as TMF620 v4 JSON feeds.

Lists page with ``offset``/``limit``, filter with ``lastUpdate.gt`` (strict, as TMF filters are),
project with ``fields`` and report ``X-Total-Count`` / ``X-Result-Count``; errors are TMF ``Error``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from legacy_sim.db import parse_since
from legacy_sim.partner_data import API_PREFIX, PartnerCatalog

_ALWAYS = ("id", "href", "@type")
Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Since = Annotated[str | None, Query(alias="lastUpdate.gt")]


class CatalogChange(BaseModel):
    count: int = Field(1, ge=1, le=100_000)


class CatalogPublish(CatalogChange):
    override: dict[str, Any] = Field(
        default_factory=dict,
        description="Attributes replacing the generated ones in the new offerings' productOffering "
        "bodies (e.g. {\"name\": null}): a partner feed with data consumers must reject.",
    )


def _error(status: int, reason: str, message: str) -> JSONResponse:
    body = {"code": str(status), "reason": reason, "message": message, "status": str(status),
            "@type": "Error"}
    return JSONResponse(body, status)


def _project(item: dict[str, Any], fields: str | None) -> dict[str, Any]:
    if not fields:
        return item
    keep = {f.strip() for f in fields.split(",")} | set(_ALWAYS)
    return {k: v for k, v in item.items() if k in keep}


def _since(raw: str | None) -> datetime | None:
    parsed = parse_since(raw)
    return None if parsed is None else parsed.replace(tzinfo=UTC)


def _list(items: list[dict[str, Any]], total: int, fields: str | None) -> JSONResponse:
    return JSONResponse(
        [_project(i, fields) for i in items],
        headers={"X-Total-Count": str(total), "X-Result-Count": str(len(items))},
    )


def create_partner_catalog_app(catalog: PartnerCatalog) -> FastAPI:
    """A TMF620 v4 productCatalogManagement API over one partner's catalog."""
    app = FastAPI(title=f"{catalog.spec.brand} partner catalog (TMF620 v4, simulated)")
    overrides: dict[int, dict[str, Any]] = {}  # offering index → attributes published over it

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def offering(i: int, base_url: str) -> dict[str, Any]:
        return {**catalog.offering(i, base_url), **overrides.get(i, {})}

    def listing(
        kind: str, render: Callable[[int, str], dict[str, Any]]
    ) -> Callable[..., Any]:
        async def handler(
            request: Request, offset: Offset = 0, limit: Limit = 100, since: Since = None,
            fields: str | None = None,
        ) -> JSONResponse:
            try:
                after = _since(since)
            except ValueError:
                return _error(400, "Bad Request", f"invalid lastUpdate.gt: {since}")
            total, indexes = catalog.page(offset=offset, limit=limit, updated_after=after)
            return _list([render(i, base(request)) for i in indexes], total, fields)

        handler.__name__ = f"list_{kind}"
        return handler

    app.get(f"{API_PREFIX}/productOffering")(listing("productOffering", offering))
    app.get(f"{API_PREFIX}/productSpecification")(listing("productSpecification", catalog.specification))

    @app.get(f"{API_PREFIX}/productOfferingPrice")
    async def list_prices(
        request: Request, offset: Offset = 0, limit: Limit = 100, since: Since = None,
        fields: str | None = None,
    ) -> JSONResponse:
        try:
            after = _since(since)
        except ValueError:
            return _error(400, "Bad Request", f"invalid lastUpdate.gt: {since}")
        total, page = catalog.price_page(offset=offset, limit=limit, updated_after=after)
        items = [p for _, pid in page if (p := catalog.price(pid, base(request))) is not None]
        return _list(items, total, fields)

    @app.get(f"{API_PREFIX}/productOffering/{{resource_id}}")
    async def get_offering(request: Request, resource_id: str, fields: str | None = None) -> JSONResponse:
        i = catalog.index_of(resource_id)
        if i is None or resource_id != catalog.offering_id(i):
            return _error(404, "Not Found", f"productOffering {resource_id} not found")
        return JSONResponse(_project(offering(i, base(request)), fields))

    @app.get(f"{API_PREFIX}/productSpecification/{{resource_id}}")
    async def get_specification(
        request: Request, resource_id: str, fields: str | None = None
    ) -> JSONResponse:
        i = catalog.index_of(resource_id)
        if i is None or resource_id != catalog.spec_id(i):
            return _error(404, "Not Found", f"productSpecification {resource_id} not found")
        return JSONResponse(_project(catalog.specification(i, base(request)), fields))

    @app.get(f"{API_PREFIX}/productOfferingPrice/{{resource_id}}")
    async def get_price(request: Request, resource_id: str, fields: str | None = None) -> JSONResponse:
        price = catalog.price(resource_id, base(request))
        if price is None:
            return _error(404, "Not Found", f"productOfferingPrice {resource_id} not found")
        return JSONResponse(_project(price, fields))

    @app.post("/_admin/publish")
    async def publish(change: CatalogPublish) -> dict[str, list[str]]:
        start = catalog.size
        added = catalog.publish(change.count)
        if change.override:
            overrides.update({i: dict(change.override) for i in range(start, catalog.size)})
        return {"added": added}

    @app.post("/_admin/reprice")
    async def reprice(change: CatalogChange) -> dict[str, list[str]]:
        return {"changed": catalog.reprice(change.count)}

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
