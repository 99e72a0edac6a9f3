"""The HTTP source adapters against the simulated estate over real HTTP (no Kafka needed)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from connectors.sources.base import Checkpoint, Source, SourceRecord
from connectors.sources.rest import RestSource, RestSourceConfig
from connectors.sources.tmf620 import Tmf620Source, Tmf620SourceConfig
from connectors.sources.webhook import WebhookSource, WebhookSourceConfig
from connectors.sources.xml_http import XmlSource, XmlSourceConfig
from legacy_sim.catalogs import FIXED_PRODUCTS
from legacy_sim.change_generator import ChangeGenerator
from legacy_sim.estate import build_estate
from legacy_sim.mobile_bss import create_mobile_app
from legacy_sim.serve import EstateServer, ServeOptions, serve
from overlay.infra.ports import free_port
from overlay.lifecycle import HostedServer

TOKEN = "sim-mobile-token"
OUT = [{"entity": "party", "key": "id"}]


@pytest.fixture(scope="module")
async def estate(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EstateServer]:
    data_dir = tmp_path_factory.mktemp("estate")
    await build_estate(data_dir, 7, 200)
    async with serve(data_dir, ServeOptions(mobile_token=TOKEN, order_progress_seconds=0.3)) as running:
        yield running


def endpoints(estate: EstateServer) -> Any:
    assert estate.endpoints is not None
    return estate.endpoints


# --- configurations as they would be written in YAML ---------------------------------------------------
def mobile_config(base_url: str, **extra: Any) -> RestSourceConfig:
    return RestSourceConfig.model_validate({
        "name": "mobile-bss", "type": "rest", "source_system": "mobile", "base_url": base_url,
        "auth": {"kind": "bearer", "token": TOKEN},
        "retry": {"attempts": 6, "initial_backoff_s": 0.2, "max_backoff_s": 2},
        "streams": [
            {"name": "subscribers", "path": "/api/v1/subscribers", "records_path": "items",
             "key": "subscriberId", "modified_field": "lastModified",
             "modified_since_param": "modified_since",
             "pagination": {"kind": "page", "page_param": "page", "size_param": "page_size", "size": 50},
             "total_path": "total", "outputs": [{"entity": "party", "key": "customerRef"}]},
            {"name": "tariffs", "path": "/api/v1/tariffs", "key": "code", "modified_field": "lastModified",
             "outputs": [{"entity": "productOffering", "key": "code"}]},
        ],
        **extra,
    })


def fixed_config(base_url: str) -> XmlSourceConfig:
    return XmlSourceConfig.model_validate({
        "name": "fixed-tv-bss", "type": "xml", "source_system": "fixed", "base_url": base_url,
        "streams": [
            {"name": "customers", "path": "/bss/customers", "records_path": "CustomerList.Customer",
             "key": "@id", "modified_field": "LastChange", "since_param": "since",
             "pagination": {"kind": "offset", "offset_param": "offset", "limit_param": "limit", "limit": 40},
             "total_path": "CustomerList.@total", "force_list": ["Product"],
             "outputs": [{"entity": "party", "key": "@id"}]},
            {"name": "products", "path": "/bss/products", "records_path": "ProductCatalog.Product",
             "key": "@code", "force_list": ["Price"],
             "outputs": [{"entity": "productOffering", "key": "@code"}]},
        ],
    })


def partner_config(slug: str, base_url: str) -> Tmf620SourceConfig:
    return Tmf620SourceConfig.model_validate({
        "name": f"partner-{slug}", "type": "tmf620", "source_system": slug, "base_url": base_url,
        "streams": [
            {"name": resource, "resource": resource, "limit": 8,
             "outputs": [{"entity": "productOffering", "key": "id"}]}
            for resource in ("productOffering", "productSpecification", "productOfferingPrice")
        ],
    })


def orders_config(base_url: str) -> RestSourceConfig:
    return RestSourceConfig.model_validate({
        "name": "mobile-orders", "type": "rest", "source_system": "mobile-orders", "base_url": base_url,
        "streams": [{"name": "orders", "path": "/orders", "records_path": "items", "key": "id",
                     "modified_field": "lastModified", "modified_since_param": "modified_since",
                     "pagination": {"kind": "none"}, "total_path": "total",
                     "outputs": [{"entity": "party", "key": "customerRef"}]}],
    })


# --- helpers ------------------------------------------------------------------------------------------
async def read(source: Source[Any], stream_name: str, state: Mapping[str, Any] | None = None
               ) -> tuple[list[Mapping[str, Any]], Mapping[str, Any]]:
    stream = next(s for s in source.config.streams if s.name == stream_name)
    records: list[Mapping[str, Any]] = []
    last: Mapping[str, Any] = dict(state or {})
    async for item in source.read(stream, state or {}):
        if isinstance(item, SourceRecord):
            records.append(item.data)
        else:
            last = item.state
    return records, last


def by_key(records: list[Mapping[str, Any]], key: str) -> dict[str, Mapping[str, Any]]:
    return {str(r[key]): r for r in records}


# --- tests --------------------------------------------------------------------------------------------
async def test_mobile_and_fixed_snapshot_then_incremental_after_changes(estate: EstateServer) -> None:
    ep = endpoints(estate)
    mobile, fixed = RestSource(mobile_config(ep.mobile)), XmlSource(fixed_config(ep.fixed_tv))
    try:
        subs, mobile_state = await read(mobile, "subscribers")
        customers, fixed_state = await read(fixed, "customers")
        assert len(subs) == len(by_key(subs, "subscriberId")) == await estate.stores.mobile.count()
        assert len(customers) == len(by_key(customers, "@id")) == await estate.stores.fixed.count()
        assert await mobile.estimate(mobile.config.streams[0]) == len(subs)
        assert await fixed.estimate(fixed.config.streams[0]) == len(customers)
        first = customers[0]
        assert first["@id"].startswith("FX") and isinstance(first["Products"]["Product"], list)

        generator = ChangeGenerator(estate.data_dir)
        try:
            await generator.run(rate=1000, count=40)
        finally:
            await generator.close()

        after_subs, _ = await read(mobile, "subscribers")
        after_customers, _ = await read(fixed, "customers")
        for source, stream, key, before, after, state in (
            (mobile, "subscribers", "subscriberId", subs, after_subs, mobile_state),
            (fixed, "customers", "@id", customers, after_customers, fixed_state),
        ):
            old, new = by_key(before, key), by_key(after, key)
            changed = {k for k, v in new.items() if old.get(k) != v}
            assert changed, f"the change generator changed nothing in {stream}"
            emitted, next_state = await read(source, stream, state)
            assert {str(r[key]) for r in emitted} == changed  # nothing unchanged re-emitted
            assert len(emitted) == len(changed)
            again, _ = await read(source, stream, next_state)
            assert again == []
    finally:
        await mobile.close()
        await fixed.close()


async def test_mobile_tariffs_and_fixed_products(estate: EstateServer) -> None:
    ep = endpoints(estate)
    mobile, fixed = RestSource(mobile_config(ep.mobile)), XmlSource(fixed_config(ep.fixed_tv))
    try:
        tariffs, state = await read(mobile, "tariffs")
        assert len(tariffs) == len(await estate.stores.mobile.list_tariffs())
        assert (await read(mobile, "tariffs", state))[0] == []  # unchanged: filtered by the window
        products, _ = await read(fixed, "products")
        assert {p["@code"] for p in products} == {p.code for p in FIXED_PRODUCTS}
        assert all(isinstance(p["Price"], list) for p in products)
        assert (await mobile.check()).ok and (await fixed.check()).ok
        assert [d.name for d in await fixed.discover()] == ["customers", "products"]
    finally:
        await mobile.close()
        await fixed.close()


async def test_mobile_without_token_is_a_clear_error(estate: EstateServer) -> None:
    config = mobile_config(endpoints(estate).mobile).model_copy(update={"auth": None})
    source = RestSource(config)
    try:
        result = await source.check()
    finally:
        await source.close()
    assert not result.ok and "HTTP 401" in result.message and TOKEN not in result.message


class CountingTransport(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        self.statuses.append(response.status_code)
        return response


@contextlib.asynccontextmanager
async def hosted(app: FastAPI) -> AsyncIterator[str]:
    port = free_port()
    server = HostedServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                         access_log=False, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "server did not start"
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_mobile_rate_limit_429_is_honoured(estate: EstateServer) -> None:
    app = create_mobile_app(estate.stores.mobile, token=TOKEN, rate_limit_per_s=4)
    async with hosted(app) as url:
        config = mobile_config(url)
        config.streams[0].pagination.size = 25  # type: ignore[union-attr]
        transport = CountingTransport()
        source = RestSource(config, transport=transport)
        try:
            subs, _ = await read(source, "subscribers")
        finally:
            await source.close()
        assert len(subs) == await estate.stores.mobile.count()
        assert 429 in transport.statuses  # throttled, waited Retry-After, carried on

        await asyncio.sleep(1.0)  # let the server's bucket refill
        paced = CountingTransport()
        source = RestSource(mobile_config(url, rate_limit_per_s=3.5), transport=paced)
        try:
            again, _ = await read(source, "subscribers")
        finally:
            await source.close()
        assert len(again) == len(subs) and 429 not in paced.statuses  # client-side pacing


@pytest.mark.parametrize("slug", ["streamflix", "shieldsec"])
async def test_partner_catalogs(estate: EstateServer, slug: str) -> None:
    base = getattr(endpoints(estate), f"partner_{slug}")
    source = Tmf620Source(partner_config(slug, base))
    try:
        offerings, state = await read(source, "productOffering")
        specs, _ = await read(source, "productSpecification")
        prices, _ = await read(source, "productOfferingPrice")
        assert len(by_key(offerings, "id")) == len(offerings) == 30
        assert len(specs) == 30 and all(s["@type"] == "ProductSpecification" for s in specs)
        assert len(by_key(prices, "id")) == len(prices) >= 30
        assert await source.estimate(source.config.streams[0]) == 30
        async with httpx.AsyncClient(base_url=base) as client:
            changed = (await client.post("/_admin/reprice", json={"count": 3})).json()["changed"]
            added = (await client.post("/_admin/publish", json={"count": 2})).json()["added"]
        emitted, state = await read(source, "productOffering", state)
        assert {o["id"] for o in emitted} == set(changed) | set(added)
        assert (await read(source, "productOffering", state))[0] == []
        assert len(await source.discover()) == 3
    finally:
        await source.close()


async def test_order_status_feed(estate: EstateServer) -> None:
    base = endpoints(estate).backend_mobile
    async with httpx.AsyncClient(base_url=base) as client:
        ids = []
        for n in range(3):
            r = await client.post("/orders", headers={"Idempotency-Key": str(uuid.uuid4())},
                                  json={"action": "add", "product": f"P{n}", "customerRef": f"C{n}"})
            ids.append(r.json()["id"])
    source = RestSource(orders_config(base))
    try:
        orders, state = await read(source, "orders")
        assert {o["id"] for o in orders} >= set(ids)
        assert all(o["state"] == "acknowledged" for o in orders if o["id"] in ids)
        await asyncio.sleep(0.4)  # all complete after 0.3 s
        progressed, state = await read(source, "orders", state)
        assert {o["id"] for o in progressed} >= set(ids)
        assert all(o["state"] == "completed" for o in progressed if o["id"] in ids)
        assert (await read(source, "orders", state))[0] == []
    finally:
        await source.close()


async def test_webhook_end_to_end_over_http() -> None:
    source = WebhookSource(WebhookSourceConfig.model_validate({
        "name": "crm-hooks", "type": "webhook", "source_system": "crm",
        "verification": {"kind": "shared_secret", "header": "X-Webhook-Secret", "secret": "hook-secret"},
        "streams": [{"name": "customers", "outputs": OUT}],
    }))
    app = FastAPI()
    app.include_router(source.router(), prefix="/webhooks/crm-hooks")
    published: list[Mapping[str, Any]] = []
    commits: list[Checkpoint] = []

    async def runtime() -> None:
        async for item in source.read(source.config.streams[0], {}):
            if isinstance(item, SourceRecord):
                published.append(item.data)
            else:
                await asyncio.sleep(0.05)  # "Kafka acknowledges"
                commits.append(item)
                assert item.on_commit is not None
                await item.on_commit()

    task = asyncio.create_task(runtime())
    try:
        async with hosted(app) as url, httpx.AsyncClient(base_url=url) as client:
            headers = {"X-Webhook-Secret": "hook-secret"}
            r = await client.post("/webhooks/crm-hooks/customers", json=[{"id": "C1"}, {"id": "C2"}],
                                  headers=headers)
            assert r.status_code == 202 and r.json() == {"accepted": 2}
            assert len(commits) == 1  # answered only after the commit
            bad = await client.post("/webhooks/crm-hooks/customers", json={"id": "C3"})
            assert bad.status_code == 401
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert [r["id"] for r in published] == ["C1", "C2"]
    assert commits[0].state == {"received": 2}
