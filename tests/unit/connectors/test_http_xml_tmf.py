"""The XML and TMF620 adapters over httpx.MockTransport."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.sources.base import SourceRecord
from connectors.sources.http import HttpSourceError
from connectors.sources.tmf620 import Tmf620Source, Tmf620SourceConfig
from connectors.sources.xml_http import XmlSource, XmlSourceConfig

OUT = [{"entity": "party", "key": "@id"}]


def customer(i: int, products: int) -> str:
    items = "".join(f'<Product code="P{j}" kind="tv"/>' for j in range(products))
    return (f'<Customer id="FX{i:03d}"><Name><First>A{i}</First><Last>B</Last></Name>'
            f"<Products>{items}</Products><LastChange>2024-01-01T00:00:{i:02d}</LastChange></Customer>")


def xml_server(n: int) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
        body = "".join(customer(i, 1 + i % 2) for i in range(offset, min(n, offset + limit)))
        xml = f'<?xml version="1.0"?><CustomerList total="{n}" offset="{offset}">{body}</CustomerList>'
        return httpx.Response(200, text=xml, headers={"content-type": "application/xml"})

    return httpx.MockTransport(handler)


def xml_source(transport: httpx.MockTransport) -> XmlSource:
    config = XmlSourceConfig.model_validate({
        "name": "fixed", "type": "xml", "source_system": "fixed", "base_url": "http://fixed.test",
        "streams": [{"name": "customers", "outputs": OUT, "path": "/bss/customers",
                     "records_path": "CustomerList.Customer", "key": "@id", "since_param": "since",
                     "modified_field": "LastChange", "total_path": "CustomerList.@total",
                     "force_list": ["Product"], "pagination": {"kind": "offset", "limit": 2}}],
    })
    return XmlSource(config, transport=transport)


async def test_xml_records_are_xmltodict_dicts_with_forced_lists() -> None:
    src = xml_source(xml_server(5))
    records = [i.data async for i in src.read(src.config.streams[0], {}) if isinstance(i, SourceRecord)]
    assert [r["@id"] for r in records] == ["FX000", "FX001", "FX002", "FX003", "FX004"]
    first = records[0]
    assert first["Name"]["First"] == "A0"
    assert first["Products"]["Product"] == [{"@code": "P0", "@kind": "tv"}]  # one, still a list
    assert len(records[1]["Products"]["Product"]) == 2
    assert await src.estimate(src.config.streams[0]) == 5


async def test_xml_single_and_empty_lists() -> None:
    src = xml_source(xml_server(1))
    assert len([i async for i in src.read(src.config.streams[0], {}) if isinstance(i, SourceRecord)]) == 1
    src = xml_source(xml_server(0))
    assert [i async for i in src.read(src.config.streams[0], {}) if isinstance(i, SourceRecord)] == []


async def test_xml_malformed_body_is_a_clear_error() -> None:
    src = xml_source(httpx.MockTransport(lambda r: httpx.Response(200, text="<CustomerList><oops")))
    with pytest.raises(HttpSourceError, match="not well-formed XML"):
        async for _ in src.read(src.config.streams[0], {}):
            pass


def tmf_server(n: int, seen: list[httpx.URL]) -> httpx.MockTransport:
    items = [{"id": f"po-{i:03d}", "lastUpdate": f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}Z"}
             for i in range(n)]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        q = request.url.params
        after = q.get("lastUpdate.gt")
        rows = [r for r in items if after is None or r["lastUpdate"] > after]
        page = rows[int(q["offset"]): int(q["offset"]) + int(q["limit"])]
        headers = {"X-Total-Count": str(len(rows)), "X-Result-Count": str(len(page))}
        return httpx.Response(200, json=page, headers=headers)

    return httpx.MockTransport(handler)


def tmf_source(transport: httpx.MockTransport, **stream: Any) -> Tmf620Source:
    config = Tmf620SourceConfig.model_validate({
        "name": "streamflix", "type": "tmf620", "source_system": "streamflix", "base_url": "http://p.test",
        "streams": [{"name": "offerings", "resource": "productOffering", "limit": 10,
                     "outputs": [{"entity": "productOffering", "key": "id"}], **stream}],
    })
    return Tmf620Source(config, transport=transport)


async def test_tmf620_pages_by_total_count_and_filters_strictly() -> None:
    seen: list[httpx.URL] = []
    src = tmf_source(tmf_server(20, seen), fields=["name"])
    items = [i async for i in src.read(src.config.streams[0], {})]
    records = [i.data["id"] for i in items if isinstance(i, SourceRecord)]
    assert records == [f"po-{i:03d}" for i in range(20)]
    assert seen[0].path == "/tmf-api/productCatalogManagement/v4/productOffering"
    assert seen[0].params["fields"] == "name,lastUpdate"
    # page 2 re-anchors on lastUpdate.gt one second before the newest seen (strict filter)
    assert seen[1].params["lastUpdate.gt"] == "2024-01-01T00:00:08Z" and seen[1].params["offset"] == "0"
    assert len(seen) == 3 and seen[2].params["lastUpdate.gt"] == "2024-01-01T00:00:17Z"
    state = items[-1].state  # type: ignore[union-attr]
    seen.clear()
    again = [i async for i in src.read(src.config.streams[0], state) if isinstance(i, SourceRecord)]
    assert again == [] and seen[0].params["lastUpdate.gt"] == "2024-01-01T00:00:14Z"


async def test_tmf620_stops_at_total_count_without_an_empty_page() -> None:
    seen: list[httpx.URL] = []
    src = tmf_source(tmf_server(10, seen))
    items = [i async for i in src.read(src.config.streams[0], {}) if isinstance(i, SourceRecord)]
    assert len(items) == 10 and len(seen) == 1


async def test_tmf620_discover_lists_the_three_resources() -> None:
    src = tmf_source(tmf_server(3, []))
    names = [d.name for d in await src.discover()]
    assert names == ["productOffering", "productSpecification", "productOfferingPrice"]
