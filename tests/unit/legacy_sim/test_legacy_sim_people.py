"""The person generator: determinism, identifier formats, noise and population rates."""

import random
import re
from collections import Counter

import phonenumbers
import pytest

from legacy_sim.people import Phone, ascii_fold, messy_email, person

N = 3000


@pytest.fixture(scope="module")
def population():
    return [person(42, i) for i in range(N)]


def test_person_is_deterministic_and_independent_of_other_indexes():
    late = person(42, 2999)
    for i in range(50):
        person(42, i)
    assert person(42, 2999) == late
    assert person(43, 2999) != late
    assert person(42, 2999).view("mobile") == late.view("mobile")


def test_identifier_formats(population):
    p = population[122]
    assert p.person_id == "P000123"
    assert re.fullmatch(r"K\d{8}", p.crm_key)
    assert re.fullmatch(r"FX\d{8}", p.fixed_customer_id)
    for q in population:
        for sid in q.subscriber_ids():
            assert re.fullmatch(r"SUB-\d{9}", sid)


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("spaced", "0151 2345 6789"),
        ("international", "+49 151 23456789"),
        ("dashed", "0049-151-23456789"),
        ("parenthesized", "(0151) 23456789"),
        ("bare", "4915123456789"),
    ],
)
def test_phone_formats_all_normalise_to_the_same_e164(style, expected):
    phone = Phone("151", "23456789")
    text = phone.format(style)
    assert text == expected
    raw = "+" + text if style == "bare" else text
    parsed = phonenumbers.parse(raw, "DE")
    assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == phone.e164


def test_email_variants_differ_only_in_case_and_spaces_mostly():
    r = random.Random(1)
    email = "max.mueller1@example.de"
    variants = [messy_email(r, email) for _ in range(1000)]
    assert any(v != v.strip() for v in variants)
    assert any(v.strip() == "Max.Mueller1@EXAMPLE.DE" for v in variants)
    same = sum(v.strip().lower() == email for v in variants)
    assert 0.95 * len(variants) <= same < len(variants)  # a few typos, the rest recoverable


def test_population_rates(population):
    def rate(pred):
        return sum(1 for p in population if pred(p)) / N

    assert 0.25 < rate(lambda p: p.national_id is not None) < 0.35
    assert 0.65 < rate(lambda p: p.in_mobile) < 0.75
    assert 0.45 < rate(lambda p: p.in_fixed) < 0.55
    assert rate(lambda p: p.in_crm) > 0.97
    assert 0.015 < rate(lambda p: p.crm_duplicate) < 0.045
    households = Counter(p.household_id for p in population)
    assert 0.07 < rate(lambda p: households[p.household_id] > 1) < 0.14
    assert 0.08 < rate(lambda p: p.segment == "business") < 0.16


def test_household_members_share_address_and_landline(population):
    by_id = {p.person_id: p for p in population}
    members = [p for p in population if p.household_id != p.person_id]
    assert members
    for m in members:
        head = by_id[m.household_id]
        assert (m.address, m.landline) == (head.address, head.landline)


def test_strong_identifiers_are_unique_except_shared_company_mailboxes(population):
    assert len({p.mobile.e164 for p in population}) == N
    residential = [p.email for p in population if p.segment == "residential"]
    assert len(set(residential)) == len(residential)
    mailboxes = Counter(p.email for p in population if p.company and p.email == p.company.mailbox)
    assert any(n > 1 for n in mailboxes.values()), "colleagues should share a generic mailbox"
    national = [p.national_id for p in population if p.national_id]
    assert len(set(national)) == len(national)


def test_views_carry_realistic_noise(population):
    assert any(any(c in p.family_name for c in "äöüß") for p in population)
    views = [(p, p.view("mobile")) for p in population if p.in_mobile]
    assert any(v.family_name == ascii_fold(p.family_name) != p.family_name for p, v in views)
    assert any(" " in v.given_name and "-" in p.given_name for p, v in views)
    for p, v in views[:200]:
        raw = v.mobile if v.mobile.startswith(("0", "+", "(")) else "+" + v.mobile
        assert phonenumbers.parse(raw, "DE").national_number == int(p.mobile.ndc + p.mobile.subscriber)


def test_messy_mobile_formats_appear_in_views(population):
    formats = {
        "spaced": r"0\d{3} \d{4} \d+",
        "international": r"\+49 \d{3} \d+",
        "dashed": r"0049-\d{3}-\d+",
        "parenthesized": r"\(0\d{3}\) \d+",
        "bare": r"49\d+",
    }
    seen = {name for p in population[:300] for name, rx in formats.items()
            if re.fullmatch(rx, p.view("crm").mobile or "")}
    assert seen == set(formats)
