"""The customer APIs end to end on a real Redis: TMF629, TMF637, TMF666, the compact 360, search."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

import pytest

from customer_cache.keys import KEYS
from customer_cache.search.query import search
from overlay.http import auth
from overlay.models import PartyKind
from tests.integration.customer_cache_api.conftest import merge, put
from tests.unit.customer_cache.search.factory import person

CUSTOMERS = "/tmf-api/customerManagement/v4/customer"
PRODUCTS = "/tmf-api/productInventory/v4/product"
BILLING = "/tmf-api/accountManagement/v4/billingAccount"
PARTY_ACCOUNTS = "/tmf-api/accountManagement/v4/partyAccount"
C360 = "/api/v1/customer360"
SEARCH = "/api/v1/customers/search"

HANS = person(
    "CU-hans",
    "Hans",
    "Müller",
    n=1,
    birth=date(1980, 2, 3),
    email="hans.mueller@example.com",
    phone="+49301234567",
    mobile="+4915123456789",
    national_id="T22000129",
)
ANNA = person(
    "CU-anna",
    "Anna",
    "Schmidt",
    n=2,
    postcode="80331",
    city="München",
    status="inactive",
    birth=date(1990, 7, 1),
)
ORG = person(
    "CU-org",
    None,
    None,
    n=3,
    kind=PartyKind.ORGANIZATION,
    organization="Müller Bau GmbH",
    postcode="10117",
    segment="business",
    products=False,
)
MEIER = person("CU-meier", "Jana", "Meier", n=4, postcode="50667", city="Köln", products=False)
FILLERS = [
    person(f"CU-f{i:02d}", f"Kim{chr(97 + i)}", "Becker", n=100 + i, postcode=f"2{i:04d}", products=False)
    for i in range(20)
]
OLD = person("CU-old", "Hans", "Mueller", n=9, email="h.mueller@example.com", products=False)
LIVE = 4 + len(FILLERS)


@pytest.fixture
async def estate(redis_client):
    for doc in (HANS, ANNA, ORG, MEIER, *FILLERS, OLD):
        await put(redis_client, doc)
    await merge(redis_client, OLD, into="CU-hans")
    return redis_client


# --- TMF629 -----------------------------------------------------------------------------------------


async def test_list_pages_with_headers(api, estate):
    first = await api.get(CUSTOMERS)
    assert first.status_code == 206
    assert first.headers["X-Total-Count"] == str(LIVE) and first.headers["X-Result-Count"] == "20"
    ids = [c["id"] for c in first.json()]
    assert ids == sorted(ids)
    rest = await api.get(CUSTOMERS, params={"offset": 20, "limit": 20})
    assert rest.status_code == 200
    assert rest.headers["X-Result-Count"] == str(LIVE - 20)
    assert set(ids).isdisjoint(c["id"] for c in rest.json())
    assert "CU-old" not in ids + [c["id"] for c in rest.json()]


async def test_list_filters(api, estate):
    r = await api.get(CUSTOMERS, params={"status": "inactive"})
    assert r.status_code == 200 and [c["id"] for c in r.json()] == ["CU-anna"]
    assert r.headers["X-Total-Count"] == "1"

    r = await api.get(CUSTOMERS, params={"name": "Hans Müller"})
    assert [c["id"] for c in r.json()] == ["CU-hans"]

    r = await api.get(CUSTOMERS, params={"engagedParty.id": "CU-hans,CU-anna,CU-nobody"})
    assert {c["id"] for c in r.json()} == {"CU-hans", "CU-anna"} and r.headers["X-Total-Count"] == "2"

    r = await api.get(CUSTOMERS, params={"characteristic.value": "business"})
    assert [c["id"] for c in r.json()] == ["CU-org"]

    r = await api.get(CUSTOMERS, params={"name": "Becker", "limit": 3})  # nobody is called just Becker
    assert r.json() == [] and r.headers["X-Total-Count"] == "0"

    r = await api.get(CUSTOMERS, params={"contactMedium.characteristic.city": "Berlin", "limit": 1})
    assert r.status_code == 206 and r.headers["X-Result-Count"] == "1"


async def test_fields_projection(api, estate):
    r = await api.get(CUSTOMERS, params={"fields": "name,status", "limit": 2})
    assert all(set(c) == {"id", "href", "@type", "name", "status"} for c in r.json())
    r = await api.get(f"{CUSTOMERS}/CU-hans", params={"fields": "contactMedium"})
    assert set(r.json()) == {"id", "href", "@type", "contactMedium"}


async def test_get_by_id(api, estate):
    r = await api.get(f"{CUSTOMERS}/CU-hans")
    assert r.status_code == 200
    assert r.headers["X-Event-Id"] == "evt-1"
    body = r.json()
    assert body["id"] == "CU-hans" and body["name"] == "Hans Müller" and body["@type"] == "Customer"
    assert body["engagedParty"]["@referredType"] == "Individual"
    assert {"name": "sourceRecord", "valueType": "string", "value": "crm/K00000001"} in body["characteristic"]
    assert "X-Moved-From" not in r.headers


async def test_moved_id_answers_with_the_surviving_customer(api, estate):
    r = await api.get(f"{CUSTOMERS}/CU-old")
    assert r.status_code == 200
    assert r.json()["id"] == "CU-hans"
    assert r.headers["X-Moved-From"] == "CU-old"
    assert r.headers["Content-Location"] == f"{CUSTOMERS}/CU-hans"


async def test_errors_are_tmf_errors(api, estate):
    r = await api.get(f"{CUSTOMERS}/CU-nobody")
    assert r.status_code == 404
    assert r.json() == {
        "code": "NOT_FOUND",
        "reason": "Customer not found",
        "message": "no customer with id CU-nobody",
        "status": "404",
        "@type": "Error",
    }
    r = await api.get(CUSTOMERS, params={"limit": 0})
    assert r.status_code == 400 and r.json()["code"] == "INVALID_REQUEST"


async def test_every_endpoint_goes_through_the_auth_seam(api, estate):
    previous = auth._authenticator

    async def catalog_only(request):
        return auth.Principal(channel="shop", scopes=frozenset({"catalog:read"}))

    auth.set_authenticator(catalog_only)
    try:
        for path in (
            CUSTOMERS,
            f"{CUSTOMERS}/CU-hans",
            f"{PRODUCTS}?relatedParty.id=CU-hans",
            f"{PRODUCTS}/mobile%2FS0000001",
            f"{BILLING}?relatedParty.id=CU-hans",
            f"{BILLING}/mobile%2FBA000000001",
            f"{PARTY_ACCOUNTS}?relatedParty.id=CU-hans",
            f"{PARTY_ACCOUNTS}/crm%2FCA1",
            f"{C360}/CU-hans",
            f"{SEARCH}?q=Hans",
        ):
            r = await api.get(path)
            assert r.status_code == 403, path
            assert r.json()["code"] == "FORBIDDEN"
    finally:
        auth.set_authenticator(previous)


# --- TMF637 -----------------------------------------------------------------------------------------


async def test_products_of_a_customer(api, estate):
    r = await api.get(PRODUCTS, params={"relatedParty.id": "CU-hans"})
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "2"
    assert [p["id"] for p in r.json()] == ["mobile/S0000001", "fixed/FX00000001/INET500"]
    assert all(p["relatedParty"][0]["id"] == "CU-hans" for p in r.json())

    r = await api.get(PRODUCTS, params={"relatedParty.id": "CU-hans", "status": "active"})
    assert [p["id"] for p in r.json()] == ["mobile/S0000001"]
    r = await api.get(PRODUCTS, params={"relatedParty.id": "CU-hans", "productOffering.id": "INET500"})
    assert [p["id"] for p in r.json()] == ["fixed/FX00000001/INET500"]
    r = await api.get(PRODUCTS, params={"relatedParty.id": "CU-hans", "limit": 1, "fields": "status"})
    assert r.status_code == 206 and r.json() == [
        {
            "id": "mobile/S0000001",
            "href": f"{PRODUCTS}/mobile%2FS0000001",
            "@type": "Product",
            "status": "active",
        }
    ]

    r = await api.get(PRODUCTS, params={"relatedParty.id": "CU-old"})  # a merged id finds the survivor
    assert r.headers["X-Total-Count"] == "2"


async def test_products_across_customers(api, estate):
    r = await api.get(PRODUCTS, params={"status": "suspended"})
    assert {p["id"] for p in r.json()} == {"fixed/FX00000001/INET500", "fixed/FX00000002/INET500"}


async def test_product_by_id(api, estate):
    for pid in ("mobile/S0000001", "fixed/FX00000001/INET500"):
        r = await api.get(f"{PRODUCTS}/{quote(pid, safe='')}")
        assert r.status_code == 200, pid
        assert r.json()["id"] == pid and r.json()["href"] == f"{PRODUCTS}/{quote(pid, safe='')}"
    r = await api.get(f"{PRODUCTS}/mobile%2FS9999999")
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"
    r = await api.get(f"{PRODUCTS}/mobile%2FBA000000001")  # a record of the customer, but not a product
    assert r.status_code == 404


# --- TMF666 -----------------------------------------------------------------------------------------


async def test_billing_accounts(api, estate):
    r = await api.get(BILLING, params={"relatedParty.id": "CU-hans"})
    assert r.status_code == 200
    (account,) = r.json()
    assert account["id"] == "mobile/BA000000001" and account["@type"] == "BillingAccount"
    assert account["relatedParty"][0]["id"] == "CU-hans"

    r = await api.get(f"{BILLING}/mobile%2FBA000000001")
    assert r.status_code == 200 and r.json()["name"] == "BA000000001"
    assert (await api.get(f"{BILLING}/crm%2FCA1")).status_code == 404  # a customer account
    assert (await api.get(f"{PARTY_ACCOUNTS}/crm%2FCA1")).json()["@type"] == "PartyAccount"
    r = await api.get(BILLING, params={"state": "active", "limit": 2})
    assert r.status_code == 206 and r.headers["X-Total-Count"] == str(LIVE)  # one each


# --- compact 360 ------------------------------------------------------------------------------------


async def test_customer360(api, estate):
    r = await api.get(f"{C360}/CU-hans")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == "CU-hans" and body["golden"]["familyName"] == "Müller"
    assert body["golden"]["birthDate"] == "1980-02-03"
    assert {p["key"] for p in body["products"]} == {"S0000001", "FX00000001/INET500"}
    assert body["orders"][0]["state"] == "inProgress"

    moved = await api.get(f"{C360}/CU-old")
    assert moved.json()["id"] == "CU-hans" and moved.headers["X-Moved-From"] == "CU-old"
    assert (await api.get(f"{C360}/CU-nobody")).status_code == 404

    previous = auth._authenticator

    async def partner(request):
        return auth.Principal(channel="partner", sees_personal_data=False)

    auth.set_authenticator(partner)
    try:
        masked = (await api.get(f"{C360}/CU-hans")).json()
    finally:
        auth.set_authenticator(previous)
    assert masked["golden"]["birthDate"] == "***" and masked["golden"]["emailAddress"] == "***"
    assert masked["contactMedium"] == "***"


# --- search -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "matched"),
    [
        ("CU-hans", "id"),
        ("cu-hans", "id"),
        ("CU-old", "moved"),
        ("crm/K00000001", "source"),
        ("mobile/S0000001", "source"),
        ("K00000001", "key"),
        ("  Hans.Mueller@EXAMPLE.com ", "email"),
        ("0151 2345 6789", "phone"),
        ("+49 151 23456789", "phone"),
        ("0049-151-23456789", "phone"),
        ("(0151) 23456789", "phone"),
        ("4915123456789", "phone"),
        ("030 1234567", "phone"),
        ("BA000000001", "key"),
        ("CA-1", "account"),
        ("S0000001", "key"),
        ("8949020000000000001", "iccid"),
        ("WEB-1", "order"),
        ("t22000129", "national_id"),
    ],
)
async def test_search_by_identifier(api, estate, q, matched):
    r = await api.get(SEARCH, params={"q": q})
    assert r.status_code == 200, r.text
    hits = r.json()
    assert hits[0]["id"] == "CU-hans", hits
    assert hits[0]["stage"] == "exact" and hits[0]["matched"] == matched
    assert hits[0]["name"] == "Hans Müller" and hits[0]["postcode"] == "10115" and hits[0]["city"] == "Berlin"
    assert r.headers["X-Result-Count"] == str(len(hits))


@pytest.mark.parametrize(
    ("q", "first", "stage"),
    [
        ("Müller 10115", "CU-hans", "name"),
        ("Mueller 10115", "CU-hans", "name"),
        ("Müler 10115", "CU-hans", "phonetic"),  # a typo the phonetic code absorbs
        ("Hans Mülker 10115", "CU-hans", "typo"),  # a typo found among the names at the postcode
        ("Hans Mueller 1980-02-03", "CU-hans", "name"),
        ("mueller, hans", "CU-hans", "name"),
        ("Müll", "CU-hans", "prefix"),
        ("Müller Bau", "CU-org", "prefix"),
        ("Mayr", "CU-meier", "phonetic"),
        ("Anna Schmitt 80331", "CU-anna", "phonetic"),
    ],
)
async def test_search_by_name(api, estate, q, first, stage):
    hits = (await api.get(SEARCH, params={"q": q})).json()
    assert hits, q
    assert hits[0]["id"] == first, hits
    assert hits[0]["stage"] == stage, hits
    assert "CU-old" not in {h["id"] for h in hits}


async def test_search_limit_and_validation(api, estate):
    r = await api.get(SEARCH, params={"q": "Becker", "limit": 5})
    assert r.status_code == 200 and len(r.json()) == 5
    assert all(h["stage"] == "name" for h in r.json())
    assert (await api.get(SEARCH, params={"q": ""})).status_code == 400
    assert (await api.get(SEARCH)).json()["code"] == "INVALID_REQUEST"
    assert (await api.get(SEARCH, params={"q": "Zzyzx"})).json() == []


class _Counting:
    """A Redis client that counts round trips (a pipeline's execute is one)."""

    def __init__(self, client):
        self._client = client
        self.trips = 0

    def pipeline(self, *args, **kwargs):
        pipe = self._client.pipeline(*args, **kwargs)
        execute = pipe.execute

        async def counted(*a, **kw):
            self.trips += 1
            return await execute(*a, **kw)

        pipe.execute = counted
        return pipe

    def __getattr__(self, name):
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        async def counted(*a, **kw):
            self.trips += 1
            return await attr(*a, **kw)

        return counted


@pytest.mark.parametrize(
    ("q", "trips"), [("0151 2345 6789", 2), ("CU-old", 2), ("Hans Müler 10115", 1), ("Zzyzx", 1)]
)
async def test_search_round_trips(estate, q, trips):
    client = _Counting(estate)
    hits = await search(client, KEYS, q, 10)
    assert client.trips == trips
    assert q == "Zzyzx" or hits[0].id == "CU-hans"


async def test_openapi_lists_every_endpoint(api):
    spec = (await api.get("/openapi.json")).json()
    paths = set(spec["paths"])
    assert {
        CUSTOMERS,
        f"{CUSTOMERS}/{{customer_id}}",
        PRODUCTS,
        f"{PRODUCTS}/{{product_id}}",
        BILLING,
        f"{BILLING}/{{account_id}}",
        PARTY_ACCOUNTS,
        f"{PARTY_ACCOUNTS}/{{account_id}}",
        f"{C360}/{{customer_id}}",
        SEARCH,
    } <= paths
    listing = spec["paths"][CUSTOMERS]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {
        "fields",
        "offset",
        "limit",
        "status",
        "engagedParty.id",
    }
    assert "X-Total-Count" in listing["responses"]["200"]["headers"]
    assert spec["paths"][f"{CUSTOMERS}/{{customer_id}}"]["get"]["responses"]["404"]
