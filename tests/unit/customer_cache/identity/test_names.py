"""Name folding and compatibility: the spellings of one person pass, different people do not."""

from __future__ import annotations

import pytest

from customer_cache.identity.names import fold, names_compatible, osa_distance


@pytest.mark.parametrize(
    ("raw", "folded"),
    [("Müller", "mueller"), ("MUELLER", "mueller"), ("Groß", "gross"), ("Hans-Peter", "hans peter"),
     ("H.-P.", "h p"), ("Chloé", "chloe"), ("Yılmaz", "yilmaz"), ("Søren", "soeren"),  # noqa: RUF001
     ("Wiśniewski", "wisniewski"), ("O'Brien", "o brien"), ("  ", None), (None, None)],
)
def test_fold(raw, folded):
    assert fold(raw) == folded


def test_osa_distance_counts_a_swap_as_one_and_stops_at_the_limit():
    assert osa_distance("schmidt", "schmidt", 2) == 0
    assert osa_distance("schmidt", "schmdit", 2) == 1
    assert osa_distance("schmidt", "schmdt", 2) == 1
    assert osa_distance("schmidt", "schmiddt", 2) == 1
    assert osa_distance("schmidt", "meier", 1) == 2  # limit + 1


def compatible(a: tuple[str | None, str | None], b: tuple[str | None, str | None]) -> bool:
    result = names_compatible(fold(a[0]), fold(a[1]), fold(b[0]), fold(b[1]))
    assert result == names_compatible(fold(b[0]), fold(b[1]), fold(a[0]), fold(a[1]))  # symmetric
    return result


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("Jürgen", "Müller"), ("Juergen", "Mueller")),  # transliteration
        (("JÜRGEN", "MÜLLER"), ("jürgen", "müller")),
        (("Hans-Peter", "Meyer"), ("Hans Peter", "Meyer")),  # hyphen / space
        (("Hans-Peter", "Meyer"), ("H.-P.", "Meyer")),  # initials
        (("Hans-Peter", "Meyer"), ("H.", "Meyer")),
        (("Anna", "Schmidt"), ("A.", "Schmidt")),
        (("Jürgen-Otto", "Braun"), ("Jürgen", "Braun")),  # second given name dropped
        (("Anna", "Schmidt"), ("Schmidt", "Anna")),  # swapped
        (("Anna", "Schmidt"), ("Anna", "Schmdit")),  # typos: swapped neighbours, dropped, doubled letter
        (("Anna", "Schmidt"), ("Anna", "Schmdt")),
        (("Katharina", "Zimmermann"), ("Katahrina", "Zimmerman")),
        (("Emre", "Jäger"), ("Emre", "Jääger")),  # a doubled umlaut is one slip
        (("Linh", "Nguyen"), ("Lnih", "Nguyen")),
        (("Frank", "Meyer-Hansen"), ("Frank", "Hansen")),  # one part of a double name
        (("Anna", None), ("Anna", "Schmidt")),  # missing parts are not held against anyone
    ],
)
def test_spellings_of_one_person_are_compatible(a, b):
    assert compatible(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("Anna", "Schmidt"), ("Andreas", "Schmidt")),  # household members
        (("Anna", "Schmidt"), ("Anna", "Müller")),  # colleagues of one name
        (("Tim", "Weber"), ("Tom", "Weber")),  # short names tolerate no typo
        (("A.", "Schmidt"), ("Bernd", "Schmidt")),
        (("Hans-Peter", "Meyer"), ("H.-J.", "Meyer")),
        (("Anna", "Schmidt"), ("Schmidt", "Andreas")),
        (("Maximilian", "Koch"), ("Max", "Koch")),
    ],
)
def test_different_people_are_not(a, b):
    assert not compatible(a, b)
