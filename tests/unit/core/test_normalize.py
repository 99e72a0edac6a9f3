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
