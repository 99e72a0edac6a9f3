"""The walking skeleton end to end, every stage a real process:

CRM (SQL) → `overlay connectors run crm` (deploy/connectors/demo.yaml) →
Kafka → `overlay worker customer-cache` → Redis →
`overlay api` (TMF629) — a change in the legacy CRM is read back through the channel API.
"""

from __future__ import annotations

import json

import httpx
import pytest

from customer_cache.identity import IdentityRules
from customer_cache.identity import customer_id as identity_customer_id
from customer_cache.keys import KEYS
from legacy_sim.crm_db import CrmStore
from legacy_sim.estate import build_estate
from legacy_sim.serve import ServeOptions, serve
from overlay.infra.ports import free_port
from tests.conftest import child_env
from tests.integration.helpers import ChildProcess, eventually

CUSTOMERS = "/tmf-api/customerManagement/v4/customer"


@pytest.fixture
async def pipeline(settings, redis_client, tmp_path):
    manifest = await build_estate(settings.sim_dir, seed=7, customers=60)
    async with serve(settings.sim_dir, ServeOptions()) as estate:
        assert estate.endpoints is not None
        port = free_port()
        env = child_env(settings) | estate.endpoints.as_env() | {
            "OVERLAY_API_PORT": str(port), "OVERLAY_LOG_LEVEL": "DEBUG",
            "OVERLAY_CONNECTORS_PORT": str(free_port()),
        }
        async for item in _pipeline(settings, manifest, env, port, tmp_path):
            yield item


async def _pipeline(settings, manifest, env, port, tmp_path):
    children = [
        await ChildProcess(["worker", "customer-cache"], env, tmp_path / "worker.log").start(),
        await ChildProcess(["connectors", "run", "crm"], env, tmp_path / "connectors.log").start(),
        await ChildProcess(["api"], env, tmp_path / "api.log").start(),
    ]
    crm = CrmStore(manifest.crm_url(settings.sim_dir))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        try:
            yield client, crm, children
        finally:
            await crm.dispose()
            codes = {c.args[0]: await c.stop() for c in children}
    assert all(code == 0 for code in codes.values()), codes


async def _live_crm_parties(redis_client) -> list[str]:
    refs = []
    async for key in redis_client.scan_iter(match=KEYS.record("party", "crm/*"), count=1000):
        if await redis_client.hget(key, "deleted") == "0":
            refs.append(key.split(":", 3)[3])
    return sorted(refs)


async def test_crm_change_reaches_the_channel_api(pipeline, redis_client):
    client, crm, children = pipeline
    worker, connectors, api = children
    live = await crm.count(include_deleted=False)

    async def all_listed() -> httpx.Response | None:
        # every live CRM record stored and resolved into a customer (duplicates of one person in
        # the CRM are one customer), and the API lists every customer
        parties = await _live_crm_parties(redis_client)
        if len(parties) != live or await redis_client.zcard(KEYS.dirty):
            return None
        async with redis_client.pipeline(transaction=False) as pipe:
            for ref in parties:
                pipe.hget(KEYS.source_party(ref), "cust")
            if not all(await pipe.execute()):
                return None
        try:
            r = await client.get(CUSTOMERS, params={"limit": 5})
        except httpx.TransportError:
            return None
        total = await redis_client.zcard(KEYS.customers)
        ok = r.status_code in (200, 206) and int(r.headers["X-Total-Count"]) == total
        return r if ok else None

    first = await eventually(all_listed, 90, what=lambda: "snapshot visible in the API\n"
                             + connectors.log()[-2000:] + worker.log()[-2000:] + api.log()[-2000:])
    assert first.status_code == 206 and first.headers["X-Result-Count"] == "5"
    assert {"id", "href", "name", "engagedParty", "@type"} <= set(first.json()[0])

    health = await client.get("/health")
    assert health.status_code == 200 and health.json() == {"status": "ok", "kafka": True, "redis": True}

    # A CRM customer that is a customer on its own (no duplicate in the CRM) …
    for cust_no in (f"K{n:08d}" for n in range(3, 60)):
        customer_id = await redis_client.hget(KEYS.source_party(f"crm/{cust_no}"), "cust")
        if customer_id and await redis_client.smembers(KEYS.members(customer_id)) == {f"crm/{cust_no}"}:
            break
    else:
        raise AssertionError("every CRM customer has a duplicate")
    assert customer_id == identity_customer_id([f"crm/{cust_no}"], IdentityRules())

    # … changes in the legacy CRM …
    assert await crm.update_customer(cust_no, LAST_NM="Überall-Neumann")

    async def renamed() -> httpx.Response | None:
        r = await client.get(f"{CUSTOMERS}/{customer_id}")
        return r if r.status_code == 200 and r.json()["name"].endswith("Überall-Neumann") else None

    # … is read back through the channel API.
    changed = await eventually(renamed, 30, what=worker.describe("the change in the API"))
    body = changed.json()
    assert body["href"] == f"{CUSTOMERS}/{customer_id}"
    source = {"name": "sourceRecord", "valueType": "string", "value": f"crm/{cust_no}"}
    assert source in body["characteristic"]

    # The event id travels connector → worker → API, in every structured log.
    event_id = changed.headers["X-Event-Id"]
    for child in (connectors, worker, api):
        lines = [json.loads(line) for line in child.log().splitlines() if line.startswith("{")]
        assert any(line.get("event_id") == event_id for line in lines), child.args

    # A soft delete in the CRM removes the customer from the channel's view.
    assert await crm.soft_delete_customer(cust_no)

    async def gone() -> bool:
        r = await client.get(f"{CUSTOMERS}/{customer_id}")
        return r.status_code == 404 and r.json()["code"] == "NOT_FOUND"

    await eventually(gone, 30, what=worker.describe("the delete in the API"))

    # The personal data never appears in clear in any log.
    for child in (connectors, worker, api):
        assert "Überall-Neumann" not in child.log()


async def test_health_is_503_without_redis(settings, tmp_path):
    port = free_port()
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    env = child_env(settings) | {"OVERLAY_API_PORT": str(port), "OVERLAY_REDIS_URL": dead_redis}
    api = await ChildProcess(["api"], env, tmp_path / "api.log").start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:

            async def answer() -> httpx.Response | None:
                try:
                    return await client.get("/health")
                except httpx.TransportError:
                    return None

            r = await eventually(answer, 30, what=api.describe("the API to answer"))
        assert r.status_code == 503
        assert r.json() == {"status": "unavailable", "kafka": True, "redis": False}
    finally:
        await api.stop()
