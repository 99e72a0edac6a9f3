"""The simulated legacy estate over real HTTP: one process, every server on its own loopback port."""

import asyncio
import json
import xml.etree.ElementTree as ET

import httpx
import pytest

from legacy_sim.estate import build_estate
from legacy_sim.ground_truth import TRUTH_FILE, summarize
from legacy_sim.serve import ENDPOINTS_FILE, ServeOptions, serve

TMF = "/tmf-api/productCatalogManagement/v4"


@pytest.fixture(scope="module")
async def estate(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("estate")
    await build_estate(data_dir, 42, 200)
    async with serve(data_dir, ServeOptions(order_progress_seconds=0.3)) as running:
        yield data_dir, running.endpoints
    assert not (data_dir / ENDPOINTS_FILE).exists()


@pytest.fixture
async def client():
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


async def test_endpoints_file_lists_every_server(estate):
    data_dir, _ = estate
    written = json.loads((data_dir / ENDPOINTS_FILE).read_text())
    assert set(written) == {
        "crm_dsn", "mobile", "fixed_tv", "partner_streamflix", "partner_shieldsec",
        "backend_mobile", "backend_fixed", "backend_tv", "backend_partner",
    }
    assert written["crm_dsn"].startswith("sqlite+aiosqlite:///")
    assert all(v.startswith("http://127.0.0.1:") for k, v in written.items() if k != "crm_dsn")
    assert len({v for k, v in written.items() if k != "crm_dsn"}) == 8


async def test_mobile_pagination_and_modified_since(estate, client):
    data_dir, ep = estate
    expected = summarize(data_dir / TRUTH_FILE).records_by_system["mobile"]
    seen, page, keys = [], 1, []
    while True:
        params = {"page": page, "page_size": 37}
        body = (await client.get(f"{ep.mobile}/api/v1/subscribers", params=params)).json()
        assert body["total"] == expected and body["page_size"] == 37
        if not body["items"]:
            break
        seen += [i["subscriberId"] for i in body["items"]]
        keys += [(i["lastModified"], i["subscriberId"]) for i in body["items"]]
        page += 1
    assert len(seen) == len(set(seen)) == expected
    assert keys == sorted(keys)
    since = keys[len(keys) // 2][0]
    recent = (await client.get(f"{ep.mobile}/api/v1/subscribers",
                               params={"modified_since": since, "page_size": 1000})).json()
    assert 0 < recent["total"] < expected
    assert all(i["lastModified"] >= since for i in recent["items"])
    one = (await client.get(f"{ep.mobile}/api/v1/subscribers/{seen[0]}")).json()
    assert one["subscriberId"] == seen[0] and one["customerRef"].startswith("MC")
    assert (await client.get(f"{ep.mobile}/api/v1/subscribers/SUB-nope")).status_code == 404
    tariffs = (await client.get(f"{ep.mobile}/api/v1/tariffs")).json()
    assert {"code", "name", "monthlyFee", "dataGb", "validFrom", "validTo", "lastModified"} <= set(tariffs[0])


async def test_fixed_tv_xml(estate, client):
    data_dir, ep = estate
    expected = summarize(data_dir / TRUTH_FILE).records_by_system["fixed"]
    ids, offset = [], 0
    while True:
        r = await client.get(f"{ep.fixed_tv}/bss/customers", params={"offset": offset, "limit": 40})
        assert r.headers["content-type"].startswith("application/xml")
        root = ET.fromstring(r.content)
        assert root.tag == "CustomerList" and int(root.get("total")) == expected
        customers = root.findall("Customer")
        if not customers:
            break
        for c in customers:
            assert c.get("id").startswith("FX")
            assert c.find("Name/Last").text and c.find("ServiceAddress/Zip").text
            assert c.find("AccountNo").text.startswith("FA")
            assert all(p.get("kind") in ("broadband", "tv") for p in c.findall("Products/Product"))
            ids.append(c.get("id"))
        offset += 40
    assert len(ids) == len(set(ids)) == expected
    since = ET.fromstring((await client.get(f"{ep.fixed_tv}/bss/customers",
                                            params={"since": "2023-01-01T00:00:00Z"})).content)
    assert 0 < int(since.get("total")) < expected
    catalog = ET.fromstring((await client.get(f"{ep.fixed_tv}/bss/products")).content)
    techs = {p.get("technology") for p in catalog.findall("Product") if p.get("kind") == "broadband"}
    assert techs == {"dsl", "cable", "fiber"}
    params = {"zip": "10115", "street": "Lindenstraße", "house_no": "5"}
    first = (await client.get(f"{ep.fixed_tv}/bss/serviceability", params=params)).content
    variant = {**params, "street": "Lindenstr."}
    again = ET.fromstring((await client.get(f"{ep.fixed_tv}/bss/serviceability", params=variant)).content)
    assert [t.attrib for t in ET.fromstring(first)] == [t.attrib for t in again]


@pytest.mark.parametrize("partner", ["partner_streamflix", "partner_shieldsec"])
async def test_partner_catalogs_speak_tmf620(estate, client, partner):
    _, ep = estate
    base = getattr(ep, partner) + TMF
    r = await client.get(f"{base}/productOffering", params={"limit": 7})
    assert r.status_code == 200
    total = int(r.headers["X-Total-Count"])
    assert int(r.headers["X-Result-Count"]) == 7 and total == 30
    ids = []
    for offset in range(0, total, 7):
        page = (await client.get(f"{base}/productOffering", params={"offset": offset, "limit": 7})).json()
        ids += [o["id"] for o in page]
        for o in page:
            assert o["@type"] == "ProductOffering" and o["href"].endswith(o["id"])
            assert o["productSpecification"]["id"] and o["productOfferingPrice"]
    assert len(set(ids)) == total
    offering = (await client.get(f"{base}/productOffering/{ids[3]}")).json()
    spec_id = offering["productSpecification"]["id"]
    spec = (await client.get(f"{base}/productSpecification/{spec_id}")).json()
    assert spec["productSpecCharacteristic"]
    price_id = offering["productOfferingPrice"][0]["id"]
    price = (await client.get(f"{base}/productOfferingPrice/{price_id}")).json()
    assert price["price"]["unit"] == "EUR" and price["priceType"] == "recurring"
    missing = await client.get(f"{base}/productOffering/nope-po-999999")
    assert missing.status_code == 404 and {"code", "reason"} <= set(missing.json())
    cutoff = offering["lastUpdate"]
    newer = await client.get(f"{base}/productOffering", params={"lastUpdate.gt": cutoff, "limit": 100})
    assert all(o["lastUpdate"] > cutoff for o in newer.json())
    added = (await client.post(f"{getattr(ep, partner)}/_admin/publish", json={"count": 2})).json()["added"]
    latest = max(o["lastUpdate"] for o in newer.json())
    fresh = await client.get(f"{base}/productOffering", params={"lastUpdate.gt": latest, "fields": "name"})
    assert [o["id"] for o in fresh.json()] == added
    assert set(fresh.json()[0]) == {"id", "href", "@type", "name"}


async def test_order_backend_idempotency_log_and_faults(estate, client):
    _, ep = estate
    url = ep.backend_fixed
    body = {"action": "add", "product": "FIB500", "customerRef": "FX00000007"}
    first = await client.post(f"{url}/orders", json=body, headers={"Idempotency-Key": "it-1"})
    again = await client.post(f"{url}/orders", json=body, headers={"Idempotency-Key": "it-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert (await client.post(f"{url}/orders", json=body)).status_code == 400
    effects = (await client.get(f"{url}/_admin/effects")).json()
    assert effects["byKey"] == {"it-1": 1}
    log = (await client.get(f"{url}/_admin/requests")).json()["items"]
    assert [(e["method"], e["idempotencyKey"], e["status"]) for e in log] == [
        ("POST", "it-1", 201), ("POST", "it-1", 200), ("POST", None, 400),
    ]
    await asyncio.sleep(0.35)
    order = (await client.get(f"{url}/orders/{first.json()['id']}")).json()
    assert order["state"] == "completed"
    listed = (await client.get(f"{url}/orders", params={"modified_since": order["createdAt"]})).json()
    assert [o["id"] for o in listed["items"]] == [order["id"]]

    await client.post(f"{url}/_admin/faults", json={"error_rate": 1.0, "seed": 1})
    failing = await client.post(f"{url}/orders", json=body, headers={"Idempotency-Key": "it-2"})
    assert failing.status_code in (500, 503)
    await client.post(f"{url}/_admin/faults", json={"outage_seconds": 30})
    outage = await client.get(f"{url}/orders/{order['id']}")
    assert outage.status_code == 503 and int(outage.headers["Retry-After"]) >= 1
    await client.post(f"{url}/_admin/faults", json={"latency_ms": 150})
    started = asyncio.get_running_loop().time()
    assert (await client.get(f"{url}/orders/{order['id']}")).status_code == 200
    assert asyncio.get_running_loop().time() - started >= 0.15
    await client.delete(f"{url}/_admin/faults")
    ok = await client.post(f"{url}/orders", json=body, headers={"Idempotency-Key": "it-2"})
    assert ok.status_code == 201
    assert (await client.get(f"{url}/_admin/effects")).json()["byKey"] == {"it-1": 1, "it-2": 1}
    other = (await client.get(f"{ep.backend_tv}/_admin/requests")).json()
    assert other["total"] == 0, "each back-end keeps its own log"
