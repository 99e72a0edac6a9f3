"""TMF629 writes go through to the CRM (a real SQLite CRM with the legacy schema) and are visible
in the 360 view as soon as the call returns; the connector's later events for the same rows change
nothing (same versions)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.ext.asyncio import create_async_engine

from connectors.config import load_config, read_yaml
from connectors.registry import source_types
from customer_cache.keys import KEYS
from customer_cache.resolver import Resolver
from customer_cache.store import RecordStore
from customer_cache.writeback.crm_sql import PartyChange
from customer_cache.writeback.service import CustomerWriteService
from legacy_sim import crm_db
from overlay.http.app import create_app

DEMO = Path(__file__).resolve().parents[3] / "deploy" / "connectors" / "demo.yaml"


@pytest.fixture
async def crm(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """An empty CRM database and a connectors file holding the demo's crm connector on it."""
    dsn = f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite'}"
    engine = create_async_engine(dsn)
    async with engine.begin() as conn:
        await conn.run_sync(crm_db.metadata.create_all)
    await engine.dispose()
    demo = read_yaml(DEMO.read_text())
    [connector] = [c for c in demo["connectors"] if c["name"] == "crm"]
    connector["dsn"] = dsn
    config = tmp_path / "connectors.yaml"
    config.write_text(yaml.safe_dump({"connectors": [connector]}, sort_keys=False))
    yield dsn, config


@pytest.fixture
async def api(settings, redis_client, crm) -> AsyncIterator[httpx.AsyncClient]:
    _, config = crm
    app = create_app(settings.model_copy(update={"connectors_config": config}))
    resolver = Resolver(redis_client, idle_s=0.02)
    resolver.start()
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://overlay.test") as client:
                yield client
            writer = getattr(app.state, "customer_writer", None)
            if writer is not None:
                await writer.close()
    finally:
        await resolver.stop()


NEW = {
    "name": "Erika Mustermann",
    "characteristic": [{"name": "birthDate", "value": "1964-08-12"}],
    "contactMedium": [
        {"mediumType": "email", "characteristic": {"emailAddress": " Erika.Mustermann@Example.DE "}},
        {"mediumType": "telephone",
         "characteristic": {"contactType": "mobile", "phoneNumber": "0151 2345 6789"}},
        {"mediumType": "postalAddress", "characteristic": {"street1": "Heidestraße 17", "postCode": "51147",
                                                            "city": "Köln"}},
    ],
}

BASE = "/tmf-api/customerManagement/v4/customer"


def _emails(body: dict) -> list[str]:
    return [m["characteristic"]["emailAddress"] for m in body["contactMedium"] if m["mediumType"] == "email"]


async def test_create_patch_delete_are_written_to_the_crm_and_read_back_at_once(api, crm, redis_client):
    dsn, _ = crm
    created = await api.post(BASE, json=NEW)
    assert created.status_code == 201, created.text
    body = created.json()
    customer_id = body["id"]
    assert created.headers["Location"].endswith(customer_id)
    assert body["name"] == "Erika Mustermann"
    assert _emails(body) == ["erika.mustermann@example.de"]
    # The CRM holds the rows, in its own codes.
    engine = create_async_engine(dsn)
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(crm_db.CUST_MAST))).mappings().one()
        contacts = (await conn.execute(sa.select(crm_db.CUST_CNTCT))).mappings().all()
    assert (row["FIRST_NM"], row["LAST_NM"], row["CUST_STATUS"]) == ("Erika", "Mustermann", "A")
    assert row["DEL_FLG"] == "N"
    assert {c["CNTCT_TYP"]: c["CNTCT_VAL"] for c in contacts} == {
        "EMAIL": "erika.mustermann@example.de", "MOBILE": "+4915123456789"}
    # Read-your-writes: a GET right after sees it, and so does the search.
    got = await api.get(f"{BASE}/{customer_id}")
    assert got.status_code == 200 and got.json()["name"] == "Erika Mustermann"

    patched = await api.patch(f"{BASE}/{customer_id}", json={
        "contactMedium": [{"mediumType": "email", "characteristic": {"emailAddress": "erika@example.org"}}]})
    assert patched.status_code == 200, patched.text
    assert _emails(patched.json()) == ["erika@example.org"]
    assert _emails((await api.get(f"{BASE}/{customer_id}")).json()) == ["erika@example.org"]

    deleted = await api.delete(f"{BASE}/{customer_id}")
    assert deleted.status_code == 204
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(crm_db.CUST_MAST))).mappings().one()
    await engine.dispose()
    assert row["DEL_FLG"] == "Y"
    for _ in range(100):
        if (await api.get(f"{BASE}/{customer_id}")).status_code == 404:
            break
        await asyncio.sleep(0.05)
    assert (await api.get(f"{BASE}/{customer_id}")).status_code == 404


async def test_replaying_the_mapped_rows_changes_nothing(redis_client, crm):
    """The events write-through applies are the connector's own: applying them again (as the
    connector's poll does) finds equal versions and leaves the view as it is."""
    _, config = crm
    [loaded] = load_config(config, source_types())
    service = CustomerWriteService(loaded, redis_client, visible_timeout_s=5)
    resolver = Resolver(redis_client, idle_s=0.02)
    resolver.start()
    try:
        customer_id = await service.create(PartyChange(given_name="Max", family_name="Mustermann",
                                                       email="max@example.de"))
        before = await redis_client.get(KEYS.customer(customer_id))
        # Read the rows back unchanged (an empty change writes nothing), as the connector's poll would.
        rows = await service.writer.update(await service.crm_key(customer_id), PartyChange())
        events = service.events(rows)
        applied = await RecordStore(redis_client).apply(events)
        assert applied  # equal versions re-apply (idempotent) …
        await service._visible(f"crm/{rows.key}")
        after = await redis_client.get(KEYS.customer(customer_id))
        assert after is not None and before is not None
        assert _doc_without_event(after) == _doc_without_event(before)  # … and change nothing
    finally:
        await resolver.stop()
        await service.close()


def _doc_without_event(raw: str) -> dict:
    doc = json.loads(raw)
    doc.pop("event_id", None)
    doc.pop("updated_at", None)
    for source in doc.get("sources", []):
        source.pop("observed_at", None)
    return doc


async def test_bad_bodies_and_customers_without_a_crm_record_get_clear_errors(api):
    bad = await api.post(BASE, json={"contactMedium": [{"mediumType": "email",
                                                        "characteristic": {"emailAddress": "nope"}}]})
    assert bad.status_code == 400
    assert "contactMedium[0].characteristic.emailAddress" in bad.text
    nameless = await api.post(BASE, json={"status": "active"})
    assert nameless.status_code == 400 and "name" in nameless.text
    missing = await api.patch(f"{BASE}/CU-doesnotexist", json={"name": "A B"})
    assert missing.status_code == 404
