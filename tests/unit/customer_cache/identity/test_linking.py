"""When two profiles link: trust of what they share, the guards, the names."""

from __future__ import annotations

from datetime import date

import pytest

from customer_cache.identity import IdentityRules, IdType, link_score, linked
from overlay.models.common import SourceRef
from overlay.models.party import PartyKind
from tests.unit.customer_cache.identity.factories import RULES, address, contact, profile

LANDLINE = "030 1234567"
MOBILE = "+4915123456789"
BIRTH = date(1975, 5, 17)


def test_strong_identifier_links_with_compatible_names():
    a = profile("crm/K1", "Jürgen", "Müller", email="j.mueller@web.de")
    b = profile("mobile/MC1", "Juergen", "MUELLER", email=" J.Mueller@Web.DE ")
    assert linked(a, b, RULES) and link_score(a, b, RULES) == 1.0
    c = profile("fixed/FX1", "J.", "Müller", phone=MOBILE, email="j.mueller@web.de")
    d = profile("mobile/MC2", "Jürgen", "Müller", phone="0151 2345 6789", email="J.MUELLER@WEB.DE")
    assert link_score(c, d, RULES) == 2.0  # email and mobile


def test_nothing_shared_no_link():
    assert not linked(profile("crm/K1", email="a@b.de"), profile("crm/K2", email="c@d.de"), RULES)


def test_household_landline_alone_does_not_link():
    head = profile("crm/K1", "Anna", "Schmidt", children=[contact("crm/K1", "phone", LANDLINE)])
    partner = profile("fixed/FX2", "Andreas", "Schmidt", phone=LANDLINE)
    assert not linked(head, partner, RULES)
    # Not even with the same name: a landline says "same household", not "same person".
    namesake = profile("fixed/FX3", "Anna", "Schmidt", phone=LANDLINE)
    assert not linked(head, namesake, RULES)


def test_landline_and_name_with_birth_date_link():
    a = profile("crm/K1", "Anna", "Schmidt", birth=BIRTH, children=[contact("crm/K1", "phone", LANDLINE)])
    b = profile("fixed/FX1", "A.", "Schmidt", birth=BIRTH, phone="(030) 1234567")
    assert link_score(a, b, RULES) == pytest.approx(1.1)


def test_name_and_full_address_link_name_and_postcode_alone_does_not():
    a = profile("crm/K1", "Anna", "Schmidt",
                children=[address("crm/K1", street="Lindenstraße", house="5")])
    b = profile("fixed/FX1", "Anna", "Schmidt",
                children=[address("fixed/FX1", street="Lindenstr.", house="5")])
    assert link_score(a, b, RULES) == 1.0
    elsewhere = profile("fixed/FX2", "Anna", "Schmidt", children=[address("fixed/FX2", house="77")])
    assert not linked(a, elsewhere, RULES)


def test_generic_mailbox_does_not_link_colleagues():
    mailbox = "info@mueller-bau.de"
    anna = profile("crm/K1", "Anna", "Weber", email=mailbox)
    bernd = profile("crm/K2", "Bernd", "Koch", email=mailbox)
    assert not linked(anna, bernd, RULES)
    # Colleagues of compatible names (Meier/Meyer): a generic mailbox is weak evidence on its own.
    meier = profile("crm/K3", "Anna", "Meier", email=mailbox)
    meyer = profile("fixed/FX4", "Anna", "Meyer", email="INFO@mueller-bau.de")
    assert not linked(meier, meyer, RULES)
    # Personal addresses of the same shape do link.
    assert linked(profile("crm/K3", "Anna", "Meier", email="a.meier@mueller-bau.de"),
                  profile("fixed/FX4", "Anna", "Meier", email="a.meier@mueller-bau.de"), RULES)
    # With a second weak identifier the mailbox does its part.
    a = profile("crm/K5", "Anna", "Meier", email=mailbox, children=[contact("crm/K5", "phone", LANDLINE)])
    b = profile("fixed/FX5", "Anna", "Meier", email=mailbox, phone=LANDLINE)
    assert link_score(a, b, RULES) == 1.0


def test_identifier_held_by_too_many_parties_links_nobody():
    a = profile("crm/K1", "Anna", "Weber", email="kunde@example.de")
    b = profile("mobile/MC1", "Anna", "Weber", email="kunde@example.de")
    assert linked(a, b, RULES, {"email:kunde@example.de": RULES.max_holders})
    assert not linked(a, b, RULES, {"email:kunde@example.de": RULES.max_holders + 1})


def test_strong_identifier_with_incompatible_names_does_not_link():
    # A recycled mobile number, now someone else's.
    old = profile("mobile/MC1", "Anna", "Weber", phone=MOBILE)
    new = profile("mobile/MC2", "Bernd", "Koch", phone=MOBILE)
    assert not linked(old, new, RULES)
    assert linked(old, new, IdentityRules(require_compatible_names=False))


def test_conflicting_birth_dates_or_national_ids_keep_people_apart():
    parent = profile("crm/K1", "Hans", "Weber", birth=date(1950, 1, 1), email="weber@web.de")
    child = profile("crm/K2", "Hans", "Weber", birth=date(1980, 1, 1), email="weber@web.de")
    assert not linked(parent, child, RULES)
    assert linked(parent, child, IdentityRules(birth_dates_must_agree=False))
    a = profile("crm/K3", "Hans", "Weber", national_id="111", email="h@w.de")
    b = profile("crm/K4", "Hans", "Weber", national_id="222", email="h@w.de")
    assert not linked(a, b, RULES)
    assert linked(a, profile("crm/K5", "Hans", "Weber", email="h@w.de"), RULES)  # one without: fine


def test_national_id_and_cross_reference_need_no_name_check():
    a = profile("crm/K1", "Anna", "Weber", national_id="DE-123")
    b = profile("fixed/FX1", "Anna", "Koch-Weber", national_id="de123", birth=date(1990, 1, 1))
    assert link_score(a, b, RULES) == 1.0
    crm = profile("crm/K7", "Anna", "Weber")
    referring = profile("mobile/MC9", "Hasi", "Mausi", cross_refs=(SourceRef(system="crm", key="K7"),))
    assert linked(crm, referring, RULES)


def test_individual_and_organisation_do_not_link_on_a_shared_email():
    person = profile("crm/K1", "Anna", "Weber", email="anna@weber-bau.de")
    company = profile("crm/K2", None, None, kind=PartyKind.ORGANIZATION, organization_name="Weber Bau",
                      email="anna@weber-bau.de")
    assert not linked(person, company, RULES)


def test_deleted_or_same_profile_never_links():
    a = profile("crm/K1", email="a@b.de")
    deleted = a.model_copy(update={"ref": "crm/K2", "deleted": True})
    assert not linked(a, deleted, RULES) and not linked(a, a, RULES)


def test_trust_and_threshold_are_configurable():
    a = profile("crm/K1", "Anna", "Schmidt", children=[contact("crm/K1", "phone", LANDLINE)])
    b = profile("fixed/FX1", "Anna", "Schmidt", phone=LANDLINE)
    assert not linked(a, b, RULES)
    assert linked(a, b, IdentityRules(threshold=0.5))
    assert linked(a, b, IdentityRules(trust={**RULES.trust, IdType.PHONE: 1.0}))
