import json
from datetime import date
from pathlib import Path

import pytest

from customer_cache.api import tmf_mapping
from overlay.http.auth import Principal, mask
from overlay.models import AccountType, PartyKind
from overlay.tmf import attribute_filters, matches
from tests.unit.customer_cache.search.factory import person

TMF = Path(__file__).resolve().parents[4].parent / "shared" / "tmf"  # shared/ beside the repo
DOC = person(
    "CU-1",
    "Hans",
    "Müller",
    birth=date(1980, 2, 3),
    email="hans@example.com",
    phone="+49301234567",
    mobile="+4915100000001",
    national_id="T22000129",
)


def _required(spec: str, definition: str) -> set[str]:
    path = TMF / spec
    if not path.exists():
        pytest.skip("TMF specs not present")
    return set(json.loads(path.read_text())["definitions"][definition].get("required", []))


def test_customer_follows_tmf629():
    c = tmf_mapping.customer(DOC)
    assert _required("TMF629-Customer-v4.0.0.swagger.json", "Customer") <= set(c)
    assert c["id"] == "CU-1" and c["href"] == "/tmf-api/customerManagement/v4/customer/CU-1"
    assert c["name"] == "Hans Müller" and c["status"] == "active" and c["@type"] == "Customer"
    party = c["engagedParty"]
    assert _required("TMF629-Customer-v4.0.0.swagger.json", "RelatedParty") <= set(party)
    assert party["@referredType"] == "Individual"
    assert party["href"] == "/tmf-api/partyManagement/v4/individual/CU-1"
    for medium in c["contactMedium"]:
        assert _required("TMF629-Customer-v4.0.0.swagger.json", "ContactMedium") <= set(medium)
    by_type = {(m["mediumType"], m["characteristic"]["contactType"]): m for m in c["contactMedium"]}
    assert by_type[("email", "email")]["characteristic"]["emailAddress"] == "hans@example.com"
    assert by_type[("email", "email")]["preferred"] is True
    assert by_type[("telephone", "fixed")]["characteristic"]["phoneNumber"] == "+49301234567"
    assert by_type[("postalAddress", "home")]["characteristic"] == {
        "contactType": "home",
        "street1": "Hauptstraße 1",
        "postCode": "10115",
        "city": "Berlin",
        "country": "DE",
    }
    for ref in c["account"]:
        assert _required("TMF629-Customer-v4.0.0.swagger.json", "AccountRef") <= set(ref)
    assert {(a["id"], a["@referredType"], a["href"]) for a in c["account"]} == {
        (
            "mobile/BA000000001",
            "BillingAccount",
            "/tmf-api/accountManagement/v4/billingAccount/mobile%2FBA000000001",
        ),
        ("crm/CA1", "PartyAccount", "/tmf-api/accountManagement/v4/partyAccount/crm%2FCA1"),
    }
    chars = {(ch["name"], ch["value"]) for ch in c["characteristic"]}
    assert {
        ("sourceRecord", "crm/K00000001"),
        ("sourceRecord", "mobile/MC00000001"),
        ("segment", "residential"),
        ("partyKind", "individual"),
    } <= chars
    assert c["validFor"] == {"startDateTime": "2024-05-01T12:00:00+00:00"}


def test_organisation_customer():
    doc = person(
        "CU-9", None, None, kind=PartyKind.ORGANIZATION, organization="Müller Bau GmbH", products=False
    )
    c = tmf_mapping.customer(doc)
    assert c["name"] == "Müller Bau GmbH"
    assert c["engagedParty"]["@referredType"] == "Organization"
    assert "validFor" not in c


def test_product_follows_tmf637():
    mobile, fixed = tmf_mapping.products(DOC)
    assert mobile["id"] == "mobile/S0000001"
    assert mobile["href"] == "/tmf-api/productInventory/v4/product/mobile%2FS0000001"
    assert mobile["status"] == "active" and mobile["@type"] == "Product"
    assert mobile["productOffering"]["id"] == "MOB-L"
    assert mobile["billingAccount"]["id"] == "mobile/BA000000001"
    assert mobile["productSerialNumber"] == "8949020000000000001"
    assert mobile["relatedParty"] == [
        {
            "id": "CU-1",
            "href": "/tmf-api/customerManagement/v4/customer/CU-1",
            "name": "Hans Müller",
            "role": "customer",
            "@referredType": "Customer",
        }
    ]
    chars = {c["name"]: c for c in mobile["productCharacteristic"]}
    assert chars["msisdn"]["value"] == "+4915100000001"
    assert chars["dataVolume"] == {
        "name": "dataVolume",
        "valueType": "integer",
        "value": 40,
        "unitOfMeasure": "GB",
    }
    assert chars["stack"]["value"] == "mobile"
    assert fixed["status"] == "suspended" and fixed["id"] == "fixed/FX00000001/INET500"
    assert fixed["place"] == [
        {
            "role": "installationAddress",
            "@type": "GeographicAddress",
            "streetName": "Ringweg",
            "streetNr": "2",
            "postcode": "20095",
            "city": "Hamburg",
            "country": "DE",
        }
    ]
    for p in (mobile, fixed):
        for party in p["relatedParty"]:
            assert _required("TMF637-ProductInventory-v4.0.0.swagger.json", "RelatedParty") <= set(party)


def test_billing_account_follows_tmf666():
    (billing,) = tmf_mapping.accounts(DOC, AccountType.BILLING)
    assert _required("TMF666-Account-v4.0.0.swagger.json", "BillingAccount") <= set(billing)
    assert billing["id"] == "mobile/BA000000001" and billing["@type"] == "BillingAccount"
    assert billing["state"] == "active" and billing["name"] == "BA000000001"
    for party in billing["relatedParty"]:
        assert _required("TMF666-Account-v4.0.0.swagger.json", "RelatedParty") <= set(party)
    (party_account,) = tmf_mapping.accounts(DOC, AccountType.CUSTOMER)
    assert party_account["@type"] == "PartyAccount" and party_account["name"] == "Kundenkonto"


def test_compact_360_is_camel_case_and_masked_by_the_auth_seam():
    body = tmf_mapping.compact_360(DOC)
    assert body["golden"]["givenName"] == "Hans" and body["golden"]["birthDate"] == "1980-02-03"
    assert body["golden"]["emailAddress"] == "hans@example.com"
    assert body["contactMedium"][0]["mediumType"] == "email"
    assert body["products"][0]["identifiers"]["msisdn"] == "+4915100000001"  # data keys kept as they are
    assert body["updatedAt"] == "2024-05-01T12:00:00Z" or body["updatedAt"].startswith("2024-05-01T12:00:00")
    masked = mask(Principal(channel="partner", sees_personal_data=False), body)
    assert masked["golden"]["birthDate"] == "***"
    assert masked["golden"]["nationalId"] == "***"
    assert masked["golden"]["emailAddress"] == "***"
    assert masked["golden"]["phoneNumber"] == "***"
    assert masked["contactMedium"] == "***"
    assert masked["golden"]["givenName"] == "Hans"


def test_attribute_filters_and_matching():
    filters = attribute_filters(
        [
            ("status", "active,suspended"),
            ("fields", "id"),
            ("limit", "2"),
            ("characteristic.value", "crm/K00000001"),
        ]
    )
    assert filters == {"status": {"active", "suspended"}, "characteristic.value": {"crm/K00000001"}}
    c = tmf_mapping.customer(DOC)
    assert matches(c, filters)
    assert matches(c, {"engagedParty.id": {"CU-1"}})
    assert matches(c, {"contactMedium.characteristic.city": {"Berlin"}})
    assert not matches(c, {"status": {"inactive"}})
    assert not matches(c, {"nonexistent": {"x"}})
    assert matches(tmf_mapping.products(DOC)[0], {"isBundle": {"false"}})
