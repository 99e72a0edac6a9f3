import pytest

from overlay import normalize


@pytest.mark.parametrize(
    "raw",
    ["0151 2345 6789", "+49 151 23456789", "0049-151-23456789", "(0151) 23456789", "4915123456789"],
)
def test_every_legacy_phone_format_becomes_e164(raw):
    assert normalize.phone_e164(raw) == "+4915123456789"


def test_landline_and_other_country():
    assert normalize.phone_e164("030 1234567") == "+49301234567"
    assert normalize.phone_e164("+44 20 7946 0958") == "+442079460958"


@pytest.mark.parametrize("raw", ["", "   ", "abc", "12"])
def test_garbage_is_a_clear_error(raw):
    with pytest.raises(normalize.NormalizationError):
        normalize.phone_e164(raw)


def test_email_trimmed_and_case_folded():
    assert normalize.email(" Max.Mueller@Example.DE ") == "max.mueller@example.de"
    with pytest.raises(normalize.NormalizationError):
        normalize.email("not-an-email")


def test_names():
    assert normalize.clean_name("  HANS-PETER   ") == "Hans-Peter"
    assert normalize.clean_name("Jürgen") == "Jürgen"
    assert normalize.clean_name("   ") is None
    assert normalize.fold_name("Müller") == normalize.fold_name("MUELLER") == "mueller"


def test_shouting_names_become_title_case():
    assert normalize.clean_name("JÜRGEN MÜLLER") == "Jürgen Müller"
    assert normalize.clean_name("hans-peter o'brien") == "Hans-Peter O'Brien"


def test_every_estate_phone_format_normalises_to_the_true_number():
    from legacy_sim.people import PHONE_STYLES, person

    for i in range(200):
        phone = person(11, i).mobile
        for style in PHONE_STYLES:
            assert normalize.phone_e164(phone.format(style)) == phone.e164, style


@pytest.mark.parametrize("raw", ["+49 (0)30 1234567", "+43 1 234567", "0043 1 234567", "+1 212 555 0100"])
def test_unusual_shapes_still_go_through_the_full_parser(raw):
    import phonenumbers

    expected = phonenumbers.format_number(phonenumbers.parse(raw, "DE"), phonenumbers.PhoneNumberFormat.E164)
    assert normalize.phone_e164(raw) == expected
