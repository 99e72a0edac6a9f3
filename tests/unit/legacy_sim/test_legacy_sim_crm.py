"""CrmStore mutations: each stamps UPD_TS with the current second on the rows it touches."""

from datetime import date, datetime

import pytest

from legacy_sim.crm_db import CrmStore
from legacy_sim.db import sqlite_dsn
from legacy_sim.people import person

NOW = datetime(2030, 5, 6, 7, 8, 9, 987654)


@pytest.fixture
async def store(tmp_path):
    crm = CrmStore(sqlite_dsn(tmp_path / "crm.sqlite"), clock=lambda: NOW)
    await crm.create_schema()
    await crm.load(person(3, i) for i in range(20))
    yield crm
    await crm.dispose()


async def test_update_and_soft_delete(store):
    cust_no = person(3, 0).crm_key
    assert await store.update_customer(cust_no, LAST_NM="Neu")
    record = await store.get_customer(cust_no)
    assert record.customer["LAST_NM"] == "Neu"
    assert record.customer["UPD_TS"] == NOW.replace(microsecond=0)
    live_before = await store.count(include_deleted=False)
    assert await store.soft_delete_customer(cust_no)
    assert (await store.get_customer(cust_no)).customer["DEL_FLG"] == "Y"
    assert await store.count(include_deleted=False) == live_before - 1
    assert not await store.update_customer("K99999999", LAST_NM="x")


async def test_contacts_and_moves(store):
    cust_no = person(3, 1).crm_key
    cid = await store.update_contact(cust_no, "EMAIL", " New.Mail@Example.DE ")
    extra = await store.add_contact(cust_no, "PHONE", "030 1234567")
    addr_id = await store.move_address(
        cust_no, street="Neue Straße", house_no="1a", zip_cd="10115", city="Berlin"
    )
    record = await store.get_customer(cust_no)
    contacts = {c["CNTCT_ID"]: c for c in record.contacts}
    assert contacts[cid]["CNTCT_VAL"] == " New.Mail@Example.DE "
    assert contacts[cid]["UPD_TS"] == NOW.replace(microsecond=0)
    assert contacts[extra]["PRIM_FLG"] == "N"
    live = [a for a in record.addresses if a["DEL_FLG"] == "N" and a["ADDR_TYP"] == "HOME"]
    assert [a["ADDR_ID"] for a in live] == [addr_id]
    assert any(a["DEL_FLG"] == "Y" for a in record.addresses)
    # the master row is untouched by child changes, as in the legacy system
    assert record.customer["UPD_TS"] != NOW.replace(microsecond=0)


async def test_add_customer_and_person(store):
    before = await store.count()
    await store.add_customer(
        "K77777777", first_nm="Jürgen", last_nm="Groß", birth_dt=date(1970, 1, 2),
        contacts=[("EMAIL", "j@x.de"), ("MOBILE", "0151 2345 6789")],
        address={"STREET": "Hauptstraße", "HOUSE_NO": "3", "ZIP_CD": "50667", "CITY": "Köln"},
    )
    newcomer = person(3, 500)
    newcomer = newcomer if newcomer.in_crm else person(3, 501)
    await store.add_person(newcomer)
    assert await store.count() >= before + 2
    record = await store.get_customer("K77777777")
    assert record.customer["FIRST_NM"] == "Jürgen"
    assert {c["CNTCT_TYP"] for c in record.contacts} == {"EMAIL", "MOBILE"}
    assert record.addresses[0]["COUNTRY_CD"] == "DE"
    assert (await store.get_customer(newcomer.crm_key)).customer["CRT_TS"] == NOW.replace(microsecond=0)
