"""Admin hooks that put data a consumer must reject into the simulated partner catalog and order
back-end (the connector conformance kit's bad records)."""

from __future__ import annotations

import httpx

from legacy_sim.order_backend import create_order_backend
from legacy_sim.partner_catalog import create_partner_catalog_app
from legacy_sim.partner_data import API_PREFIX, STREAMFLIX, PartnerCatalog


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")  # type: ignore[arg-type]


async def test_partner_publish_with_override_changes_only_the_new_offerings() -> None:
    app = create_partner_catalog_app(PartnerCatalog(STREAMFLIX, size=3, seed=1))
    async with _client(app) as client:
        added = (await client.post("/_admin/publish", json={"count": 2, "override": {"name": None}})).json()
        assert added == {"added": ["streamflix-po-000003", "streamflix-po-000004"]}
        plain = (await client.post("/_admin/publish", json={"count": 1})).json()["added"]
        listed = {o["id"]: o for o in (await client.get(f"{API_PREFIX}/productOffering")).json()}
        assert len(listed) == 6
        assert [listed[i]["name"] for i in added["added"]] == [None, None]
        assert all(listed[i]["name"] for i in listed if i not in added["added"])
        assert listed[plain[0]]["name"]
        one = (await client.get(f"{API_PREFIX}/productOffering/streamflix-po-000004")).json()
        assert one["name"] is None and one["lastUpdate"] == listed["streamflix-po-000004"]["lastUpdate"]
        specs = (await client.get(f"{API_PREFIX}/productSpecification")).json()
        assert all(s["name"] for s in specs)  # only the offering body is overridden


async def test_order_backend_lists_raw_orders_verbatim_and_filtered() -> None:
    app = create_order_backend("mobile", progress_seconds=60)
    async with _client(app) as client:
        body = {"action": "add", "product": "T-M20", "customerRef": "MC00000001"}
        taken = (await client.post("/orders", json=body, headers={"Idempotency-Key": "k1"})).json()
        raw = {"id": "MOO-RAW-1", "state": "lostInTransit", "lastModified": "2030-01-01T00:00:00.000Z"}
        assert (await client.post("/_admin/raw-orders", json=raw)).json() == raw
        stamped = (await client.post("/_admin/raw-orders", json={"id": "MOO-RAW-0"})).json()
        assert stamped["lastModified"] >= taken["lastModified"]
        listing = (await client.get("/orders")).json()
        assert [o["id"] for o in listing["items"]] == [taken["id"], "MOO-RAW-0", "MOO-RAW-1"]
        assert listing["total"] == 3 and listing["items"][-1] == raw
        later = (await client.get("/orders", params={"modified_since": "2029-12-31T00:00:00Z"})).json()
        assert [o["id"] for o in later["items"]] == ["MOO-RAW-1"]
        assert (await client.get(f"/orders/{taken['id']}")).status_code == 200
        await client.post("/_admin/reset")
        assert (await client.get("/orders")).json() == {"total": 0, "items": []}
