"""The mobile BSS's subscriber listing: byte for byte the body the pydantic models rendered, and a
``total`` (from the per-connection count cache) that follows every kind of write."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.encoders import jsonable_encoder

from legacy_sim.db import parse_since, sqlite_dsn
from legacy_sim.mobile_bss import Subscriber, SubscriberPage, create_mobile_app
from legacy_sim.mobile_store import MobileStore, api_item, subscriber
from legacy_sim.people import person

NOW = datetime(2025, 1, 2, 3, 4, 5)


def model_body(page: int, page_size: int, total: int, rows: list[dict[str, Any]]) -> bytes:
    """What the endpoint served when it returned the SubscriberPage model (FastAPI's JSONResponse)."""
    model = SubscriberPage(page=page, page_size=page_size, total=total,
                           items=[Subscriber.from_row(r) for r in rows])
    return json.dumps(jsonable_encoder(model), ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[MobileStore]:
    mobile = MobileStore(sqlite_dsn(tmp_path / "m.sqlite"), clock=lambda: NOW)
    await mobile.create_schema()
    await mobile.load(person(3, i) for i in range(120))
    try:
        yield mobile
    finally:
        await mobile.dispose()


def client(store: MobileStore) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_mobile_app(store)), base_url="http://t")


async def test_listing_body_is_what_the_models_rendered(store: MobileStore) -> None:
    _, rows = await store.list_subscribers(offset=0, limit=1000)
    odd = rows[5]["subscriber_id"]
    await store.update_subscriber(odd, first_name='Zoë "Q" \\ O\'Neil\n\t😀', email=None, birth_date=None)
    await store.update_subscriber(rows[6]["subscriber_id"], last_name="\x01\u2028ß")
    queries: list[dict[str, Any]] = [
        {}, {"page": 2, "page_size": 7}, {"page": 1, "page_size": 1000}, {"page": 50, "page_size": 100},
        {"modified_since": rows[40]["last_modified"].isoformat() + "Z", "page_size": 11},
        {"modified_since": "2025-01-02T04:04:05+01:00"}, {"modified_since": "2099-01-01T00:00:00Z"},
        {"modified_since": ""},
    ]
    async with client(store) as http:
        for query in queries:
            response = await http.get("/api/v1/subscribers", params=query)
            page, size = int(query.get("page", 1)), int(query.get("page_size", 100))
            total, expected = await store.list_subscribers(
                offset=(page - 1) * size, limit=size, modified_since=parse_since(query.get("modified_since")))
            assert response.status_code == 200 and response.headers["content-type"] == "application/json"
            assert response.content == model_body(page, size, total, expected), query
        assert odd.encode() in (await http.get("/api/v1/subscribers", params={"page_size": 1000})).content
        invalid = await http.get("/api/v1/subscribers", params={"modified_since": "garbage"})
        assert invalid.status_code == 400 and invalid.json() == {"detail": "invalid modified_since: garbage"}
        assert (await http.get("/api/v1/subscribers", params={"page_size": 1001})).status_code == 422
        schema = (await http.get("/openapi.json")).json()
        ok = schema["paths"]["/api/v1/subscribers"]["get"]["responses"]["200"]["content"]["application/json"]
        assert ok["schema"] == {"$ref": "#/components/schemas/SubscriberPage"}


async def test_items_rendered_by_sqlite_and_by_python_agree(store: MobileStore) -> None:
    _, rows = await store.list_subscribers(offset=0, limit=1000)
    total, items = await store.subscriber_page(offset=0, limit=1000)
    assert total == len(rows) == len(items) > 50
    assert items == [api_item(r) for r in rows] == [
        Subscriber.from_row(r).model_dump_json().encode() for r in rows]


async def test_totals_follow_every_write(store: MobileStore, tmp_path: Path) -> None:
    """Cached counts are moved from nearby bounds and must notice writes on the same connection
    (total_changes), by other connections (data_version) and schema changes."""
    other = MobileStore(sqlite_dsn(tmp_path / "m.sqlite"), clock=lambda: NOW + timedelta(seconds=1))
    rng = random.Random(5)
    _, rows = await store.list_subscribers(offset=0, limit=1000)
    stamps = sorted({r["last_modified"] for r in rows})
    extra = 0

    async def write(step: int) -> None:
        nonlocal extra
        sub = rng.choice(rows)["subscriber_id"]
        kind = step % 5
        if kind == 0:
            await store.change_tariff(sub, "T-M20")  # the store's own engine: likely the cached connection
        elif kind == 1:
            await other.set_status(sub, "SUSPENDED")  # another connection
        elif kind == 2:
            extra += 1
            await other.add_person(person(3, 1000 + extra))
        elif kind == 3:
            async with store.engine.begin() as conn:  # a write behind the store's back
                await conn.execute(sa.delete(subscriber).where(subscriber.c.subscriber_id == sub))
        else:
            async with store.engine.begin() as conn:
                await conn.execute(sa.update(subscriber).where(subscriber.c.subscriber_id == sub)
                                   .values(last_modified=rng.choice(stamps)))

    try:
        async with client(store) as http:
            for step in range(240):
                if step % 9 == 8:
                    await write(step // 9)
                choice = rng.random()
                if choice < 0.1:
                    since = None
                elif choice < 0.6:
                    since = rng.choice(stamps) + timedelta(seconds=rng.choice([0, 0, 1, -1]))
                else:  # a connector's walk: ever newer bounds, one page apart
                    since = stamps[min(len(stamps) - 1, (step * 7) % len(stamps))]
                params = {"page_size": 3} if since is None else {
                    "page_size": 3, "modified_since": since.isoformat() + "Z"}
                body = (await http.get("/api/v1/subscribers", params=params)).json()
                expected, _ = await store.list_subscribers(offset=0, limit=1, modified_since=since)
                assert body["total"] == expected, (step, since)
            async with store.engine.begin() as conn:  # a new, empty table: no row counted as changed
                await conn.run_sync(subscriber.drop)
                await conn.run_sync(subscriber.create)
            assert (await http.get("/api/v1/subscribers")).json()["total"] == 0
    finally:
        await other.dispose()
