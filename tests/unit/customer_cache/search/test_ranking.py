from datetime import date

from customer_cache.search.index import entries
from customer_cache.search.parse import parse
from customer_cache.search.query import Stage, ranges, rank
from tests.unit.customer_cache.search.factory import person

PEOPLE = [
    person("CU-exact", "Hans", "Müller", n=1, birth=date(1980, 2, 3), postcode="10115", products=False),
    person(
        "CU-other-pc",
        "Hans",
        "Müller",
        n=2,
        birth=date(1975, 1, 1),
        postcode="80331",
        city="München",
        products=False,
    ),
    person("CU-prefix", "Hans", "Müllerschön", n=3, postcode="10115", products=False),
    person("CU-phonetic", "Hans", "Miller", n=4, postcode="10115", products=False),
    person("CU-typo", "Hans", "Mülker", n=5, postcode="10115", products=False),
    person("CU-anna", "Anna", "Müller", n=6, postcode="10115", products=False),
    person("CU-meier", "Jana", "Meier", n=7, postcode="50667", city="Köln", products=False),
]
ALL = [e for p in PEOPLE for e in entries(p)]


def _ids(q):
    return [h.id for h in rank(parse(q), ALL)]


def test_exact_before_prefix_before_phonetic_before_typo():
    hits = rank(parse("Müller"), ALL)
    by_id = {h.id: h for h in hits}
    assert by_id["CU-exact"].stage is Stage.NAME
    assert by_id["CU-prefix"].stage is Stage.PREFIX
    assert by_id["CU-phonetic"].stage is Stage.PHONETIC
    assert by_id["CU-typo"].stage is Stage.TYPO
    assert (
        by_id["CU-exact"].score
        > by_id["CU-prefix"].score
        > by_id["CU-phonetic"].score
        > by_id["CU-typo"].score
    )
    assert "CU-meier" not in by_id


def test_postcode_match_boosts():
    ids = _ids("Müller 10115")
    assert ids.index("CU-exact") < ids.index("CU-other-pc")
    assert ids.index("CU-anna") < ids.index("CU-other-pc")
    # a phonetic match in the right postcode outranks an exact name elsewhere
    assert ids.index("CU-phonetic") < ids.index("CU-other-pc")


def test_given_name_and_birth_date():
    hits = rank(parse("Hans Mueller 1980-02-03"), ALL)
    assert hits[0].id == "CU-exact"
    scores = {h.id: h.score for h in hits}
    assert scores["CU-exact"] > scores["CU-anna"]  # the given name conflicts
    assert scores["CU-exact"] > scores["CU-other-pc"]  # another birth date
    assert hits[0].postcode == "10115" and hits[0].city == "Berlin" and hits[0].name == "Hans Müller"


def test_family_name_first_with_comma():
    assert _ids("mueller, hans")[:2] == ["CU-exact", "CU-other-pc"]


def test_typo_with_postcode():
    hits = rank(parse("Hans Mülkr 10115"), ALL)
    assert hits[0].id == "CU-typo"


def test_sound_alike():
    hits = rank(parse("Mayr"), ALL)
    assert [h.id for h in hits] == ["CU-meier"]
    assert hits[0].stage is Stage.PHONETIC


def test_place_only():
    assert set(_ids("50667")) == {"CU-meier"}


def test_ranges_read_exact_prefix_phonetic_and_the_postcode():
    plan = ranges(parse("Hans Müller 10115"))
    described = {(r.index, r.low) for r in plan}
    assert ("name", "[mueller|hans") in described
    assert ("name", "[mueller") in described
    assert ("phon", "[657|068") in described
    assert ("pc", "[10115|mueller") in described
    assert ("pc", "[10115|") in described
