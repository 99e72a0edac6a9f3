"""The demo configuration (deploy/connectors/demo.yaml) loads, and maps the estate's records right."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.config import LoadedConnector, load_config
from connectors.registry import source_types
from overlay.events import EntityType, Operation

DEMO = Path(__file__).resolve().parents[3] / "deploy" / "connectors" / "demo.yaml"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
ENV = {name: "http://127.0.0.1:1" for name in (
    "OVERLAY_SIM_MOBILE", "OVERLAY_SIM_FIXED_TV", "OVERLAY_SIM_PARTNER_STREAMFLIX",
    "OVERLAY_SIM_PARTNER_SHIELDSEC", "OVERLAY_SIM_BACKEND_MOBILE", "OVERLAY_SIM_BACKEND_FIXED",
    "OVERLAY_SIM_BACKEND_TV", "OVERLAY_SIM_BACKEND_PARTNER")} | {
    "OVERLAY_SIM_CRM_DSN": "sqlite+aiosqlite:///crm.sqlite"}


@pytest.fixture(scope="module")
def demo() -> dict[str, LoadedConnector]:
    return {c.config.name: c for c in load_config(DEMO, source_types(), environ=ENV)}


def test_every_estate_system_has_a_connector(demo):
    assert set(demo) == {"crm", "mobile", "fixed-tv", "partner-streamflix", "partner-shieldsec",
                         "orders-mobile", "orders-fixed", "orders-tv", "orders-partner"}


def test_crm_customer_row(demo):
    row = {"CUST_NO": "K00000001", "SALUTATION": "Herr", "FIRST_NM": " JÜRGEN ", "LAST_NM": "MÜLLER",
           "BIRTH_DT": "1971-03-04", "NATL_ID": "", "CUST_TYPE": "P", "CUST_STATUS": "A", "DEL_FLG": "N",
           "UPD_TS": datetime(2024, 5, 1, 12, 0, 0)}
    [event] = demo["crm"].compiled["customers"].build(row, observed_at=NOW)
    assert event.entity_type is EntityType.PARTY and event.source_key == "K00000001"
    assert event.payload.given_name == "Jürgen" and event.payload.family_name == "Müller"
    assert event.payload.national_id is None and event.payload.segment == "residential"
    assert event.modified_at == datetime(2024, 5, 1, 12, tzinfo=UTC)
    [deleted] = demo["crm"].compiled["customers"].build(dict(row, DEL_FLG="Y"), observed_at=NOW)
    assert deleted.operation is Operation.DELETE and deleted.payload is None


def test_crm_contact_rows_normalise_by_type(demo):
    base = {"CNTCT_ID": 7, "CUST_NO": "K1", "PRIM_FLG": "Y", "DEL_FLG": "N", "UPD_TS": datetime(2024, 5, 1)}
    [email] = demo["crm"].compiled["contacts"].build(
        dict(base, CNTCT_TYP="EMAIL", CNTCT_VAL=" Max.Mueller@Example.DE "), observed_at=NOW)
    assert email.payload.value == "max.mueller@example.de" and email.payload.preferred is True
    [mobile] = demo["crm"].compiled["contacts"].build(
        dict(base, CNTCT_TYP="MOBILE", CNTCT_VAL="(0151) 23456789"), observed_at=NOW)
    assert mobile.payload.value == "+4915123456789"
    assert str(mobile.payload.party) == "crm:K1"


def test_mobile_subscriber_becomes_party_account_and_product(demo):
    record = {"subscriberId": "SUB-1", "msisdn": "4916336934700", "firstName": "Fatma", "lastName": "O'Brien",
              "email": None, "birthDate": "1983-09-02", "customerRef": "MC1", "billingAccountNo": "BA1",
              "tariffCode": "PP-BASIC", "status": "ACTIVE", "simIccid": "894902", "imsi": "26202",
              "contractStart": "2014-01-12", "lastModified": "2015-12-06T15:18:01Z"}
    events = demo["mobile"].compiled["subscribers"].build(record, observed_at=NOW)
    kinds = sorted(e.entity_type.value for e in events)
    assert kinds == ["account", "party", "productInstance"]
    party = next(e for e in events if e.entity_type is EntityType.PARTY)
    assert party.payload.phone == "+4916336934700" and party.payload.email is None
    product = next(e for e in events if e.entity_type is EntityType.PRODUCT_INSTANCE)
    assert product.payload.identifiers == {"msisdn": "+4916336934700", "iccid": "894902", "imsi": "26202"}
    assert str(product.payload.account) == "mobile:BA1"


def test_bad_record_is_a_mapping_error_without_personal_data(demo):
    from connectors.mapping.errors import MappingError

    row = {"CNTCT_ID": 8, "CUST_NO": "K1", "CNTCT_TYP": "EMAIL", "CNTCT_VAL": "secret-person-at-nowhere",
           "PRIM_FLG": "N", "DEL_FLG": "N", "UPD_TS": datetime(2024, 5, 1)}
    with pytest.raises(MappingError) as err:
        demo["crm"].compiled["contacts"].build(row, observed_at=NOW)
    assert "secret-person" not in str(err.value)
