import pytest

from customer_cache.search.phonetic import cologne, edit_distance, typo_budget


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Müller-Lüdenscheidt", "65752682"),  # the reference example of Kölner Phonetik
        ("Wikipedia", "3412"),
        ("Breschnew", "17863"),
        ("Müller", "657"),
        ("Mueller", "657"),
        ("MUELLER", "657"),
        ("Meier", "67"),
        ("Meyer", "67"),
        ("Mayr", "67"),
        ("Maier", "67"),
        ("Schmidt", "862"),
        ("Schmitt", "862"),
        ("Schmid", "862"),
        ("Christoph", "47823"),  # initial C before H: 4
        ("Cäsar", "487"),  # initial C before A: 4
        ("Celine", "856"),  # initial C before E: 8
        ("Xaver", "4837"),  # X: 48
        ("Alex", "0548"),
        ("Hecker", "047"),  # H ignored, C before K: 4, ck → one 4
        ("Philipp", "351"),  # PH: 3
        ("Stadt", "822"),  # D before T: 2; the vowel between keeps both 2s
        ("Matz", "68"),  # T before Z: 8
        ("", ""),
        ("1234", ""),
    ],
)
def test_koelner_phonetik(name, code):
    assert cologne(name) == code


def test_sound_alikes_share_a_code():
    assert cologne("Hoffmann") == cologne("Hofmann")
    assert cologne("Schulz") == cologne("Schultz")
    assert cologne("Fischer") == cologne("Vischer")
    assert cologne("Müller") == cologne("Miller")  # vowels after the first letter are dropped
    assert cologne("Becker") == cologne("Bäcker") == "147"


def test_edit_distance_is_damerau_levenshtein_with_a_limit():
    assert edit_distance("mueller", "mueller") == 0
    assert edit_distance("mueller", "muller") == 1  # deletion
    assert edit_distance("schmidt", "schmdit") == 1  # transposition counts once
    assert edit_distance("schmidt", "schnidt") == 1  # substitution
    assert edit_distance("abc", "xyzabcdefg", limit=2) == 3  # beyond the limit: limit + 1
    assert edit_distance("kaiser", "keiser") == 1


def test_typo_budget_grows_with_length():
    assert typo_budget("li") == 0
    assert typo_budget("meier") == 1
    assert typo_budget("mueller") == 1
    assert typo_budget("schneider") == 2
