"""A source party's profile: normalised identifiers from the party and its children."""

from __future__ import annotations

from datetime import date

import pytest

from customer_cache.identity import IdentityRules, IdType, build_profile
from customer_cache.identity.profile import norm_email, norm_phone, phone_type
from overlay.models.common import SourceRef
from overlay.models.party import PartyKind
from tests.unit.customer_cache.identity.factories import (
    RULES,
    account,
    address,
    contact,
    ids_of,
    product,
    profile,
)


@pytest.mark.parametrize(
    "raw", ["0151 2345 6789", "+49 151 23456789", "0049-151-23456789", "(0151) 23456789", "4915123456789",
            " +4915123456789 "],
)
def test_every_legacy_phone_format_gives_one_mobile_identifier(raw):
    assert norm_phone(raw) == "+4915123456789"
    assert ids_of(profile("mobile/MC1", phone=raw), "mobile") == ["+4915123456789"]
    from_contact = profile("crm/K1", children=[contact("crm/K1", "mobile", raw)])
    assert ids_of(from_contact, "mobile") == ["+4915123456789"]


@pytest.mark.parametrize(
    "raw", [" Max.Mueller@Example.DE ", "MAX.MUELLER@EXAMPLE.DE", "max.mueller @example.de"]
)
def test_email_variants_give_one_identifier(raw):
    assert norm_email(raw) == "max.mueller@example.de"
    assert ids_of(profile("mobile/MC1", email=raw), "email") == ["max.mueller@example.de"]


def test_values_that_cannot_be_normalised_are_left_out():
    p = profile("crm/K1", email="not-an-email", phone="12",
                children=[contact("crm/K1", "email", "nobody-at-all"), contact("crm/K1", "phone", "abc")])
    assert ids_of(p, "email") == [] and ids_of(p, "phone") == [] and ids_of(p, "mobile") == []


def test_phones_are_classified_by_number_not_by_field():
    p = profile("fixed/FX1", phone="030 1234567", children=[
        contact("fixed/FX1", "mobile", "+49301112222"),  # a landline filed as mobile
        contact("fixed/FX1", "phone", "+4917012345678"),  # a mobile filed as phone
        contact("fixed/FX1", "fax", "+49301113333"),  # ignored
    ])
    assert ids_of(p, "phone") == ["+49301112222", "+49301234567"]
    assert ids_of(p, "mobile") == ["+4917012345678"]


def test_foreign_numbers_by_numbering_plan():
    assert phone_type("+447911123456", RULES) is IdType.MOBILE  # UK mobile
    assert phone_type("+442079460958", RULES) is IdType.PHONE  # London landline
    assert phone_type("+4916012345678", RULES) is IdType.MOBILE
    assert phone_type("+4969123456", RULES) is IdType.PHONE
    assert phone_type("+4969123456", IdentityRules(mobile_prefixes=["+4969"])) is IdType.MOBILE


def test_product_msisdn_is_a_mobile_and_accounts_are_scoped_by_stack():
    p = profile("mobile/MC1", children=[
        product("mobile/MC1", "0049-151-23456789"),
        account("mobile/MC1", "BA 000 001", stack="mobile"),
        account("mobile/MC1", "X-9"),  # no stack: its system's
    ])
    assert ids_of(p, "mobile") == ["+4915123456789"]
    assert ids_of(p, "account") == ["mobile:BA000001", "mobile:X9"]


def test_national_id_normalised_and_xrefs_include_the_party_itself():
    p = profile("crm/K1", national_id=" t22-000 129 ",
                cross_refs=(SourceRef(system="mobile", key="MC7"),))
    assert ids_of(p, "national_id") == ["T22000129"]
    assert ids_of(p, "xref") == ["crm/K1", "mobile/MC7"]


def test_identifiers_are_sorted_and_unique():
    p = profile("crm/K1", email="a@b.de", children=[contact("crm/K1", "email", " A@B.de")])
    assert list(p.identifiers) == sorted(set(p.identifiers))
    assert ids_of(p, "email") == ["a@b.de"]


def test_weak_composite_keys_fold_names():
    children = [address("crm/K1", postcode="10 115", street="Lindenstraße", house="12 a")]
    p = profile("crm/K1", "Hans-Peter", "Müller", birth=date(1970, 3, 4), children=children)
    assert ids_of(p, "name_dob") == ["mueller|h|1970-03-04"]
    assert ids_of(p, "name_postcode") == ["mueller|hanspeter|10115"]
    assert ids_of(p, "name_address") == ["mueller|hanspeter|10115|lindenstr|12a"]
    assert (p.given_name, p.family_name, p.postcode) == ("hans peter", "mueller", "10115")
    # The same person as another system writes them.
    other = profile("fixed/FX1", "HANS PETER", "MUELLER", birth=date(1970, 3, 4),
                    children=[address("fixed/FX1", postcode="10115", street="Lindenstr.", house="12a")])
    for kind in ("name_dob", "name_postcode", "name_address"):
        assert ids_of(other, kind) == ids_of(p, kind)


def test_no_name_keys_without_the_name_parts():
    p = profile("crm/K1", None, "Müller", birth=date(1970, 3, 4), children=[address("crm/K1")])
    assert not ids_of(p, "name_dob") and not ids_of(p, "name_postcode") and not ids_of(p, "name_address")


def test_organisation_named_by_its_organisation_name():
    p = profile("crm/K9", None, None, kind=PartyKind.ORGANIZATION, organization_name="Müller Bau GmbH",
                children=[address("crm/K9", postcode="10115")])
    assert p.kind == "organization" and p.family_name == "mueller bau gmbh" and p.given_name is None
    assert ids_of(p, "name_postcode") == ["muellerbaugmbh||10115"]


def test_deleted_party_has_no_identifiers():
    p = build_profile("crm/K1", None, [contact("crm/K1", "email", "a@b.de")], RULES)
    assert p.deleted and p.identifiers == () and p.system == "crm"


def test_profile_round_trips_as_json():
    p = profile("crm/K1", "Jürgen", "Groß", birth=date(1980, 1, 2), email="j@g.de",
                children=[address("crm/K1")])
    assert type(p).model_validate_json(p.model_dump_json()) == p
