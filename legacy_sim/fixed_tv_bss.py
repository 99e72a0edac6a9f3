"""The fixed/broadband + TV BSS as an XML-over-HTTP server (offset pagination, ``since`` filter).

Its dialect differs from the mobile stack on purpose: XML, PascalCase elements, naive timestamps
without zone designator (UTC), offset/limit paging, ``since`` inclusive (``LastChange >= since``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, Query, Response

from legacy_sim.catalogs import FIXED_PRODUCTS
from legacy_sim.db import parse_since
from legacy_sim.fixed_tv_store import FixedTvStore
from legacy_sim.serviceability import serviceability

XML = "application/xml"


def _xml(root: ET.Element, status: int = 200) -> Response:
    return Response(ET.tostring(root, encoding="utf-8", xml_declaration=True), status, media_type=XML)


def _error(status: int, message: str) -> Response:
    root = ET.Element("Error", status=str(status))
    ET.SubElement(root, "Message").text = message
    return _xml(root, status)


def _text(parent: ET.Element, tag: str, value: Any) -> None:
    ET.SubElement(parent, tag).text = "" if value is None else str(value)


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def customer_element(customer: dict[str, Any], products: list[dict[str, Any]]) -> ET.Element:
    el = ET.Element("Customer", id=customer["customer_id"])
    name = ET.SubElement(el, "Name")
    _text(name, "First", customer["first_name"])
    _text(name, "Last", customer["last_name"])
    contact = ET.SubElement(el, "Contact")
    _text(contact, "Email", customer["email"])
    _text(contact, "Phone", customer["phone"])
    addr = ET.SubElement(el, "ServiceAddress")
    for tag, key in (("Street", "street"), ("HouseNo", "house_no"), ("Zip", "zip"), ("City", "city")):
        _text(addr, tag, customer[key])
    _text(el, "AccountNo", customer["account_no"])
    plist = ET.SubElement(el, "Products")
    for p in products:
        attrs = {"code": p["code"], "kind": p["kind"], "status": p["status"], "since": p["since"].isoformat()}
        if p["technology"]:
            attrs["technology"] = p["technology"]
        ET.SubElement(plist, "Product", attrs)
    _text(el, "LastChange", _ts(customer["last_change"]))
    return el


def catalog_element() -> ET.Element:
    root = ET.Element("ProductCatalog", currency="EUR")
    for p in FIXED_PRODUCTS:
        attrs = {"code": p.code, "kind": p.kind}
        if p.technology:
            attrs["technology"] = p.technology
        el = ET.SubElement(root, "Product", attrs)
        _text(el, "Name", p.name)
        if p.down_mbps is not None:
            ET.SubElement(el, "Downstream", unit="Mbit/s").text = str(p.down_mbps)
            ET.SubElement(el, "Upstream", unit="Mbit/s").text = str(p.up_mbps)
        if p.channels is not None:
            _text(el, "Channels", p.channels)
        ET.SubElement(el, "Price", type="monthly").text = f"{p.monthly_price:.2f}"
        ET.SubElement(el, "Price", type="setup").text = f"{p.setup_fee:.2f}"
    return root


def create_fixed_tv_app(store: FixedTvStore) -> FastAPI:
    """The fixed/TV BSS API over ``store``."""
    app = FastAPI(title="Legacy Fixed/TV BSS (simulated)", version="2.1-xml")

    @app.get("/bss/customers")
    async def list_customers(
        since: str | None = None,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Response:
        try:
            since_ts = parse_since(since)
        except ValueError:
            return _error(400, f"invalid since: {since}")
        total, page = await store.list_customers(offset=offset, limit=limit, since=since_ts)
        root = ET.Element("CustomerList", total=str(total), offset=str(offset), limit=str(limit))
        for customer, products in page:
            root.append(customer_element(customer, products))
        return _xml(root)

    @app.get("/bss/customers/{customer_id}")
    async def get_customer(customer_id: str) -> Response:
        found = await store.get_customer(customer_id)
        if found is None:
            return _error(404, f"customer {customer_id} not found")
        return _xml(customer_element(*found))

    @app.get("/bss/products")
    async def products() -> Response:
        return _xml(catalog_element())

    @app.get("/bss/serviceability")
    async def check(zip: str, street: str, house_no: str) -> Response:
        root = ET.Element("Serviceability", zip=zip, street=street, houseNo=house_no)
        for offer in serviceability(zip, street, house_no):
            ET.SubElement(root, "Technology", name=offer.technology, maxDownMbps=str(offer.max_down_mbps))
        return _xml(root)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
