"""A real Redis holding Customer360 documents written as the view stage writes them, and the HTTP
app on it (its lifespan run, requests through ASGI)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from customer_cache.keys import KEYS, Keys
from customer_cache.search.index import search_ops
from customer_cache.view.model import Customer360
from overlay.http.app import create_app


async def put(redis, doc: Customer360, old: Customer360 | None = None, keys: Keys = KEYS) -> None:
    """Store a customer document with its lookup and search keys, as the view stage does."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(keys.customer(doc.id), doc.model_dump_json())
        pipe.zadd(keys.customers, {doc.id: 0})
        search_ops(pipe, keys, old, doc)
        await pipe.execute()


async def merge(redis, gone: Customer360, into: str, keys: Keys = KEYS) -> None:
    """``gone`` was merged into customer ``into``."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.delete(keys.customer(gone.id))
        pipe.zrem(keys.customers, gone.id)
        pipe.set(keys.moved(gone.id), into)
        search_ops(pipe, keys, gone, None)
        await pipe.execute()


@pytest.fixture
async def api(settings, redis_client) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://overlay.test") as client:
            yield client
