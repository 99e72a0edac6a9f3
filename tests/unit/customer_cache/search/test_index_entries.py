"""What search_ops writes, computed without Redis (the Redis side: tests/integration/customer_cache_api)."""

from datetime import date

from customer_cache.keys import Keys
from customer_cache.search.index import (
    INDEXES,
    decode,
    diff,
    entries,
    lookups,
    name_terms,
    search_members,
    search_ops,
)
from customer_cache.view.model import AddressView
from overlay.models import AddressRole, PartyKind
from tests.unit.customer_cache.search.factory import person


def _doc(**kw):
    base = dict(
        birth=date(1980, 2, 3),
        email="Hans.Mueller@Example.com",
        phone="030 1234567",
        mobile="+4915100000001",
        national_id="t22000129",
    )
    return person("CU-1", "Hans", "Müller", **(base | kw))


def test_lookups_cover_every_identifier():
    found = lookups(_doc())
    expected = {
        ("source", "crm/K00000001"),
        ("source", "mobile/MC00000001"),
        ("key", "K00000001"),
        ("source", "mobile/BA000000001"),
        ("account", "BA000000001"),
        ("account", "CA-1"),
        ("source", "mobile/S0000001"),
        ("source", "fixed/FX00000001/INET500"),
        ("key", "FX00000001/INET500"),
        ("source", "backend-mobile/O1"),
        ("order", "WEB-1"),
        ("email", "hans.mueller@example.com"),
        ("phone", "+49301234567"),
        ("phone", "+4915100000001"),
        ("msisdn", "+4915100000001"),
        ("iccid", "8949020000000000001"),
        ("imsi", "262020000000001"),
        ("national_id", "T22000129"),
    }
    assert expected <= found, expected - found


def test_members_encode_name_postcode_birth_date_and_summary():
    members = search_members(_doc(products=False))
    assert members["name"] == {"mueller|hans|mueller|hans|10115|1980-02-03|CU-1|Hans Müller|Berlin"}
    assert members["phon"] == {"657|068|mueller|hans|10115|1980-02-03|CU-1|Hans Müller|Berlin"}
    assert members["pc"] == {"10115|mueller|mueller|hans|10115|1980-02-03|CU-1|Hans Müller|Berlin"}
    assert members["dob"] == {"1980-02-03|mueller|mueller|hans|10115|1980-02-03|CU-1|Hans Müller|Berlin"}
    for index in INDEXES:
        (member,) = members[index]
        entry = decode(index, member)
        assert entry is not None
        assert (entry.term, entry.family, entry.given, entry.postcode, entry.id, entry.city) == (
            "mueller",
            "mueller",
            "hans",
            "10115",
            "CU-1",
            "Berlin",
        )


def test_one_entry_per_postcode_and_name_term():
    doc = person("CU-2", "Anna", "Schmidt-Weber", n=2)
    doc.addresses.append(AddressView(role=AddressRole.BILLING, postcode="80331", city="München"))
    got = {(e.term, e.postcode) for e in entries(doc)}
    assert got == {
        ("schmidt weber", "10115"),
        ("weber", "10115"),
        ("schmidt weber", "80331"),
        ("weber", "80331"),
        ("schmidt weber", "20095"),
        ("weber", "20095"),
    }  # + service address


def test_name_terms_skip_particles():
    assert name_terms("von der heide") == ["von der heide", "heide"]
    assert name_terms("mueller bau gmbh") == ["mueller bau gmbh", "bau gmbh"]


def test_organisations_are_filed_under_their_name():
    doc = person("CU-3", None, None, n=3, kind=PartyKind.ORGANIZATION, organization="Müller Bau GmbH")
    assert {e.term for e in entries(doc)} == {"mueller bau gmbh", "bau gmbh"}
    assert all(e.given == "" and e.name == "Müller Bau GmbH" for e in entries(doc))


def test_separator_in_free_text_cannot_break_a_member():
    doc = person("CU-4", "Eva", "Kurz", n=4, city="Halle|Saale", products=False)
    (entry,) = {decode("name", m) for m in search_members(doc)["name"]}
    assert entry is not None and entry.city == "Halle/Saale"


def test_diff_of_an_unchanged_document_is_empty():
    assert diff(_doc(), _doc()).empty


def test_diff_moves_only_what_changed():
    old, new = _doc(), _doc(email="hans@neu.de")
    d = diff(old, new)
    assert d.lookup_removed == {("email", "hans.mueller@example.com", "CU-1")}
    assert d.lookup_added == {("email", "hans@neu.de", "CU-1")}
    assert not any(d.members_removed.values()) and not any(d.members_added.values())

    moved = _doc(postcode="80331", city="München")
    d = diff(old, moved)
    assert not d.lookup_removed and not d.lookup_added
    assert all(len(d.members_removed[i]) == 1 and len(d.members_added[i]) == 1 for i in INDEXES)


class _Recorder:
    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        return lambda *args: self.calls.append((name, *args))


def test_search_ops_queues_single_key_commands_for_the_diff_only():
    keys = Keys("t")
    pipe = _Recorder()
    search_ops(pipe, keys, _doc(), _doc(email="hans@neu.de"))
    assert pipe.calls == [
        ("srem", "t:lk:email:hans.mueller@example.com", "CU-1"),
        ("sadd", "t:lk:email:hans@neu.de", "CU-1"),
    ]
    pipe = _Recorder()
    search_ops(pipe, keys, None, _doc())
    assert {c[0] for c in pipe.calls} == {"sadd", "zadd"}
    assert all(isinstance(c[1], str) for c in pipe.calls)  # one key per command
    removal = _Recorder()
    search_ops(removal, keys, _doc(), None)
    assert {c[0] for c in removal.calls} == {"srem", "zrem"}
    assert len(removal.calls) == len(pipe.calls)
