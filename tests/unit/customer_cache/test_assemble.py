"""The 360 document as a pure function of the stored records: survivorship, deduplication, orders."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from customer_cache.identity import IdentityRules
from customer_cache.store import PartyRecords, StoredRecord
from customer_cache.view.assemble import assemble, phone_medium
from overlay.models import (
    Account,
    Address,
    ContactMedium,
    MediumType,
    Order,
    OrderItem,
    OrderState,
    OrderStatus,
    Party,
    ProductInstance,
    ProductStatus,
    SourceRef,
)

RULES = IdentityRules()
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def rec(entity: str, ref: str, model: Any, *, version: int = 1, minutes: int = 0, link: str | None = None,
        deleted: bool = False, event: str | None = None) -> StoredRecord:
    if link is None:
        if entity == "party":
            link = ref
        elif isinstance(model, OrderStatus):
            link = f"{model.order.system}/{model.order.key}"
        else:
            party = getattr(model, "party", None)
            link = f"{party.system}/{party.key}" if party else None
    return StoredRecord(
        entity=entity, ref=ref, version=version, deleted=deleted,
        event_id=event or f"ev-{entity}-{ref}-{version}",
        observed_at=T0 + timedelta(minutes=minutes, seconds=1), modified_at=T0 + timedelta(minutes=minutes),
        link=link, model=None if deleted else model,
    )


def party_ref(ref: str) -> SourceRef:
    system, _, key = ref.partition("/")
    return SourceRef(system=system, key=key)


def member(ref: str, party: Party | None, *children: StoredRecord, minutes: int = 0, version: int = 1,
           statuses: dict[str, list[StoredRecord]] | None = None) -> PartyRecords:
    return PartyRecords(
        ref=ref,
        party=None if party is None else rec("party", ref, party, minutes=minutes, version=version),
        children=list(children),
        statuses=statuses or {},
    )


def crm_and_mobile() -> list[PartyRecords]:
    crm = member(
        "crm/K1",
        Party(given_name="Eva", family_name="Schmidt", birth_date=date(1980, 2, 3), segment="residential"),
        rec("contactMedium", "crm/C1", ContactMedium(party=party_ref("crm/K1"), medium_type=MediumType.EMAIL,
                                                     value="eva@example.de", preferred=True)),
        rec("address", "crm/A1", Address(party=party_ref("crm/K1"), street="Hauptstr.", house_number="1",
                                         postcode="10115", city="Berlin")),
        minutes=1,
    )
    mobile = member(
        "mobile/M1", Party(given_name="Eva", family_name="Schmidt-Meyer", email="eva@example.de",
                           phone="+4915123456789"),
        rec("account", "mobile/B1",
            Account(party=party_ref("mobile/M1"), account_number="B1", stack="mobile")),
        rec("productInstance", "mobile/S1", ProductInstance(
            party=party_ref("mobile/M1"), account=SourceRef(system="mobile", key="B1"), stack="mobile",
            offering_code="TARIF-L", status=ProductStatus.ACTIVE, identifiers={"msisdn": "+4915123456789"})),
        rec("address", "mobile/A9", Address(party=party_ref("mobile/M1"), street="hauptstr.",
                                            house_number="1", postcode="10115", city="BERLIN"), minutes=5),
        minutes=9,
    )
    return [crm, mobile]


def test_golden_fields_follow_system_priority_with_provenance():
    doc = assemble("CU-1", crm_and_mobile(), RULES)
    assert doc is not None
    # CRM wins where it has a value, although the mobile record is newer …
    assert doc.golden.family_name == "Schmidt"
    assert doc.provenance["family_name"].system == "crm"
    # … the mobile stack fills what the CRM lacks.
    assert doc.golden.phone == "+4915123456789"
    assert doc.provenance["phone"].system == "mobile"
    assert doc.golden.birth_date == date(1980, 2, 3)
    assert doc.golden.segment == "residential"
    # The CRM files email as a contact medium: it survives with that record as its source.
    assert doc.golden.email == "eva@example.de"
    assert (doc.provenance["email"].system, doc.provenance["email"].key) == ("crm", "C1")
    assert [(s.system, s.key) for s in doc.sources] == [("crm", "K1"), ("mobile", "M1")]


def test_recency_decides_within_one_system_then_ref():
    older = member("crm/K1", Party(given_name="Eva", family_name="Alt"), minutes=1)
    newer = member("crm/K2", Party(given_name="Eva", family_name="Neu"), minutes=2)
    doc = assemble("CU-1", [older, newer], RULES)
    assert doc is not None and doc.golden.family_name == "Neu"
    assert doc.provenance["family_name"].key == "K2"
    tie_a = member("crm/K1", Party(family_name="A"))
    tie_b = member("crm/K2", Party(family_name="B"))
    assert assemble("CU-1", [tie_b, tie_a], RULES).golden.family_name == "A"  # type: ignore[union-attr]


def test_contact_media_deduplicated_with_their_records_including_party_fields():
    doc = assemble("CU-1", crm_and_mobile(), RULES)
    assert doc is not None
    points = {(p.medium_type, p.value): p for p in doc.contact_media}
    email = points[(MediumType.EMAIL, "eva@example.de")]
    assert email.sources == ["contactMedium|crm/C1", "party|mobile/M1"]
    assert email.preferred
    mobile = points[(MediumType.MOBILE, "+4915123456789")]
    assert mobile.sources == ["party|mobile/M1"]
    assert len(doc.contact_media) == 2


def test_phone_on_a_party_is_typed_by_its_number():
    assert phone_medium("+4915123456789") is MediumType.MOBILE
    assert phone_medium("+493012345678") is MediumType.PHONE


def test_addresses_deduplicated_by_normalised_value_shown_as_the_surviving_record_spells_them():
    doc = assemble("CU-1", crm_and_mobile(), RULES)
    assert doc is not None
    assert len(doc.addresses) == 1
    address = doc.addresses[0]
    assert (address.street, address.city) == ("Hauptstr.", "Berlin")  # CRM first
    assert address.sources == ["address|crm/A1", "address|mobile/A9"]


def test_accounts_and_products_with_status():
    doc = assemble("CU-1", crm_and_mobile(), RULES)
    assert doc is not None
    assert [(a.system, a.key, a.account_number, a.stack) for a in doc.accounts] == [
        ("mobile", "B1", "B1", "mobile")]
    product = doc.products[0]
    assert (product.key, product.status, product.account) == ("S1", ProductStatus.ACTIVE, "mobile/B1")
    assert product.identifiers == {"msisdn": "+4915123456789"}


def _order(key: str, state: OrderState = OrderState.ACKNOWLEDGED) -> StoredRecord:
    return rec("order", f"overlay/{key}", Order(
        party=party_ref("crm/K1"), channel="web", state=state,
        items=(OrderItem(item_id="1", action="add", offering_code="FIBER"),
               OrderItem(item_id="2", action="add", offering_code="TV")),
    ))


def _status(key: str, order: str, state: OrderState, version: int, **items: OrderState) -> StoredRecord:
    return rec("orderStatus", f"backend/{key}", OrderStatus(
        order=SourceRef(system="overlay", key=order), state=state, item_states=items), version=version)


def test_orders_take_the_latest_status_by_version_and_final_ones_are_left_out():
    statuses = {
        "overlay/O1": [
            _status("S2", "O1", OrderState.IN_PROGRESS, 2, **{"1": OrderState.COMPLETED}),
            _status("S1", "O1", OrderState.PENDING, 1, **{"1": OrderState.IN_PROGRESS, "2": OrderState.HELD}),
        ],
        "overlay/O2": [_status("S3", "O2", OrderState.COMPLETED, 5)],
    }
    party = member("crm/K1", Party(family_name="Schmidt"), _order("O1"), _order("O2"),
                   _order("O3", OrderState.CANCELLED), statuses=statuses)
    doc = assemble("CU-1", [party], RULES)
    assert doc is not None
    assert [o.key for o in doc.orders] == ["O1"]
    order = doc.orders[0]
    assert order.state is OrderState.IN_PROGRESS
    assert {i.item_id: i.state for i in order.items} == {"1": OrderState.COMPLETED, "2": OrderState.HELD}


def test_stale_and_deleted_children_and_deleted_parties_do_not_contribute():
    moved = rec("contactMedium", "crm/C7", ContactMedium(
        party=party_ref("crm/K2"), medium_type=MediumType.EMAIL, value="other@example.de"))
    gone = rec("contactMedium", "crm/C8", None, deleted=True, link="crm/K1")
    alive = member("crm/K1", Party(family_name="Schmidt"), moved, gone)
    dead = member("mobile/M1", None)
    doc = assemble("CU-1", [alive, dead], RULES)
    assert doc is not None
    assert doc.contact_media == []
    assert [s.key for s in doc.sources] == ["K1"]
    assert assemble("CU-1", [dead], RULES) is None


def test_version_updated_at_and_event_id_of_the_newest_record():
    doc = assemble("CU-1", crm_and_mobile(), RULES)
    assert doc is not None
    assert doc.version == 1
    assert doc.updated_at == T0 + timedelta(minutes=9, seconds=1)
    assert doc.event_id == "ev-party-mobile/M1-1"


def test_the_document_is_a_pure_function_of_the_records():
    members = crm_and_mobile()
    expected = assemble("CU-1", members, RULES).model_dump_json()  # type: ignore[union-attr]
    rng = random.Random(7)
    for _ in range(20):
        shuffled = []
        for m in members:
            children = list(m.children)
            rng.shuffle(children)
            shuffled.append(PartyRecords(m.ref, m.party, children, m.statuses))
        rng.shuffle(shuffled)
        assert assemble("CU-1", shuffled, RULES).model_dump_json() == expected  # type: ignore[union-attr]
