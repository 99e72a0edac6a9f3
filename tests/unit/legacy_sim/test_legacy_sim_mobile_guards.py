"""Mobile API guards: optional bearer token (401) and rate limit (429 + Retry-After)."""

import httpx

from legacy_sim.db import sqlite_dsn
from legacy_sim.mobile_bss import create_mobile_app
from legacy_sim.mobile_store import MobileStore
from legacy_sim.people import person


async def test_token_and_rate_limit(tmp_path):
    store = MobileStore(sqlite_dsn(tmp_path / "m.sqlite"))
    await store.create_schema()
    await store.load(person(1, i) for i in range(10))
    app = create_mobile_app(store, token="s3cret", rate_limit_per_s=3)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.get("/api/v1/tariffs")).status_code == 401
            auth = {"Authorization": "Bearer s3cret"}
            statuses = [(await client.get("/api/v1/tariffs", headers=auth)) for _ in range(6)]
            codes = [r.status_code for r in statuses]
            assert codes[:3] == [200, 200, 200] and 429 in codes
            limited = next(r for r in statuses if r.status_code == 429)
            assert int(limited.headers["Retry-After"]) >= 1
            assert (await client.get("/healthz")).status_code == 200
    finally:
        await store.dispose()
