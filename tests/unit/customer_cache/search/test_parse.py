import pytest

from customer_cache.search.parse import NameGuess, parse


def test_customer_id():
    p = parse(" cu-ab12 ")
    assert p.customer_ids == ["CU-ab12"]
    assert not p.lookups and not p.fuzzy


def test_source_ref():
    p = parse("crm/K00000003")
    assert ("source", "crm/K00000003") in p.lookups
    assert ("key", "K00000003") in p.lookups
    assert not p.fuzzy


def test_source_key_with_a_slash_typed_without_its_system():
    assert ("key", "FX00000001/INET500") in parse("FX00000001/INET500").lookups


@pytest.mark.parametrize("typed", [" Hans.Mueller@Example.COM ", "hans.mueller@example.com"])
def test_email_is_trimmed_and_case_folded(typed):
    assert parse(typed).lookups == [("email", "hans.mueller@example.com")]


@pytest.mark.parametrize(
    "typed",
    [
        "0151 2345 6789",
        "+49 151 23456789",
        "0049-151-23456789",
        "(0151) 23456789",
        "4915123456789",
        "0151/23456789",
        "+49 (0)151 2345-6789",
    ],
)
def test_phone_numbers_in_any_spelling_become_e164(typed):
    p = parse(typed)
    assert ("phone", "+4915123456789") in p.lookups
    assert ("msisdn", "+4915123456789") in p.lookups
    assert not p.fuzzy


@pytest.mark.parametrize("typed", ["K00000003", "BA000000001", "ba 000000001"])
def test_account_contract_subscriber_numbers(typed):
    p = parse(typed)
    kinds = {k for k, _ in p.lookups}
    assert {"key", "account", "contract", "subscriber_id", "order"} <= kinds
    assert ("account", typed.replace(" ", "").upper()) in p.lookups


def test_long_digit_strings_are_tried_as_iccid_and_imsi():
    p = parse("8949020000000000001")
    assert ("iccid", "8949020000000000001") in p.lookups
    assert ("imsi", "8949020000000000001") in p.lookups


def test_name_and_postcode():
    p = parse("Müller 10115")
    assert p.names == [NameGuess("mueller")]
    assert p.postcode == "10115"
    assert not p.lookups


@pytest.mark.parametrize(
    "typed", ["Hans Mueller 1980-02-03", "Hans Müller 03.02.1980", "hans MUELLER 3/2/1980"]
)
def test_name_and_birth_date(typed):
    p = parse(typed)
    assert p.birth_date == "1980-02-03"
    assert p.names[0] == NameGuess("mueller", "hans")
    assert NameGuess("hans", "mueller") in p.names  # either order
    assert NameGuess("hans mueller") in p.names  # or one multi-word name


def test_comma_puts_the_family_name_first():
    assert parse("mueller, hans").names == [NameGuess("mueller", "hans")]
    assert parse("Müller-Lüdenscheidt, Hans Peter 10115").names == [
        NameGuess("mueller luedenscheidt", "hans peter")
    ]


def test_postcode_or_birth_date_alone():
    assert parse("10115").postcode == "10115" and parse("10115").names == []
    assert parse("1980-02-03").birth_date == "1980-02-03"


def test_invalid_date_is_not_a_birth_date():
    assert parse("Müller 1980-02-31").birth_date == ""


def test_empty():
    p = parse("   ")
    assert not (p.customer_ids or p.lookups or p.fuzzy)
