"""Clusters from the graph: merges and splits as identifiers change, the cap, determinism, batching,
stable customer ids."""

from __future__ import annotations

import hashlib
import itertools
import random
from datetime import date

import pytest

from customer_cache.identity import IdentityRules, MemoryGraph, Profile, components, customer_id
from tests.unit.customer_cache.identity.factories import RULES, address, contact, profile


def frozen(clusters: list[set[str]]) -> list[frozenset[str]]:
    return sorted((frozenset(c) for c in clusters), key=min)


async def clusters_of(
    graph: MemoryGraph, seeds: list[str], rules: IdentityRules = RULES
) -> list[frozenset[str]]:
    return frozen(await components(seeds, graph, rules))


def person_records(n: int, **extra: str) -> list[Profile]:
    """CRM, mobile and fixed records of one person ``n``."""
    given, family = f"Name{chr(97 + n % 26)}{n}", f"Family{n}"
    mobile = f"+49151{n:08d}"
    return [
        profile(f"crm/K{n}", given, family, email=f"p{n}@web.de",
                children=[contact(f"crm/K{n}", "mobile", mobile)]),
        profile(f"mobile/MC{n}", given, family, phone=mobile),
        profile(f"fixed/FX{n}", given, family, email=f"P{n}@WEB.DE", **extra),
    ]


async def test_one_person_across_systems_is_one_cluster_and_its_id_is_the_crm_anchors():
    graph = MemoryGraph(person_records(1))
    [cluster] = await components(["fixed/FX1"], graph, RULES)
    assert cluster == {"crm/K1", "mobile/MC1", "fixed/FX1"}
    assert customer_id(cluster, RULES) == "CU-" + hashlib.blake2b(b"crm/K1", digest_size=8).hexdigest()


async def test_single_crm_party_id_is_that_of_its_ref():
    graph = MemoryGraph([profile("crm/K00000001", email="a@b.de")])
    [cluster] = await components(["crm/K00000001"], graph, RULES)
    assert customer_id(cluster, RULES) == "CU-" + hashlib.blake2b(b"crm/K00000001", digest_size=8).hexdigest()


async def test_merge_when_an_identifier_is_added_and_split_when_it_is_removed():
    crm = profile("crm/K1", "Anna", "Weber", email="anna@web.de")
    mobile = profile("mobile/MC1", "Anna", "Weber", phone=MOBILE_1)
    graph = MemoryGraph([crm, mobile])
    assert await clusters_of(graph, ["crm/K1", "mobile/MC1"]) == [{"crm/K1"}, {"mobile/MC1"}]
    crm_alone_id = customer_id({"crm/K1"}, RULES)
    mobile_alone_id = customer_id({"mobile/MC1"}, RULES)

    # The CRM learns the mobile number: the mobile party merges into the CRM's customer.
    graph.put(profile("crm/K1", "Anna", "Weber", email="anna@web.de",
                      children=[contact("crm/K1", "mobile", "0151 1111 1111")]))
    [merged] = await components(["crm/K1"], graph, RULES)
    assert merged == {"crm/K1", "mobile/MC1"}
    assert customer_id(merged, RULES) == crm_alone_id  # the anchor's id survives the merge

    # The number is removed again: the resolver recomputes the old cluster's members, which split.
    graph.put(crm)
    split = await clusters_of(graph, sorted(merged))
    assert split == [{"crm/K1"}, {"mobile/MC1"}]
    assert [customer_id(c, RULES) for c in split] == [crm_alone_id, mobile_alone_id]


async def test_a_changed_identifier_moves_a_party_between_customers():
    graph = MemoryGraph([
        profile("crm/K1", "Anna", "Weber", email="anna@web.de"),
        profile("crm/K2", "Anna", "Weber", email="anna.weber@gmx.de"),
        profile("mobile/MC1", "Anna", "Weber", email="anna@web.de"),
    ])
    assert await clusters_of(graph, ["mobile/MC1"]) == [{"crm/K1", "mobile/MC1"}]
    graph.put(profile("mobile/MC1", "Anna", "Weber", email="Anna.Weber@gmx.de"))
    assert await clusters_of(graph, ["crm/K1", "mobile/MC1"]) == [{"crm/K1"}, {"crm/K2", "mobile/MC1"}]


async def test_chain_merges_transitively_and_a_removed_bridge_splits_it():
    a = profile("crm/K1", "Anna", "Weber", email="a@web.de")
    bridge = profile("mobile/MC1", "Anna", "Weber", email="a@web.de", phone=MOBILE_1)
    c = profile("fixed/FX1", "Anna", "Weber", phone=MOBILE_1)
    graph = MemoryGraph([a, bridge, c])
    assert await clusters_of(graph, ["crm/K1"]) == [{"crm/K1", "mobile/MC1", "fixed/FX1"}]
    graph.put(bridge.model_copy(update={"deleted": True, "identifiers": ()}))
    assert await clusters_of(graph, ["crm/K1", "mobile/MC1", "fixed/FX1"]) == [
        {"crm/K1"}, {"fixed/FX1"}, {"mobile/MC1"}]


async def test_deleted_and_unknown_seeds_are_alone():
    graph = MemoryGraph([profile("crm/K1", email="a@b.de"), profile("mobile/MC1", email="a@b.de")])
    graph.put(profile("crm/K1", email="a@b.de").model_copy(update={"deleted": True}))
    assert await clusters_of(graph, ["crm/K1", "crm/K404", "mobile/MC1"]) == [
        {"crm/K1"}, {"crm/K404"}, {"mobile/MC1"}]
    assert await components([], graph, RULES) == []


async def test_household_and_colleagues_stay_apart():
    mailbox = "info@weber-bau.de"
    graph = MemoryGraph([
        profile("crm/K1", "Anna", "Schmidt", birth=date(1970, 1, 1), email=mailbox,
                children=[contact("crm/K1", "phone", "030 1234567"), address("crm/K1")]),
        profile("fixed/FX2", "Bernd", "Schmidt", phone="+49301234567", children=[address("fixed/FX2")]),
        profile("crm/K3", "Clara", "Koch", email=mailbox),
        profile("mobile/MC4", "Dieter", "Braun", email=mailbox),
    ])
    assert await clusters_of(graph, graph.refs()) == [{"crm/K1"}, {"crm/K3"}, {"fixed/FX2"}, {"mobile/MC4"}]


async def test_namesakes_at_one_address_are_not_bridged_by_a_record_without_birth_date():
    # Mother and daughter Helga Scholz share address and landline; the fixed record (no birth date)
    # is the daughter's (same email) but matches the mother's name and address too.
    mother = profile("crm/K1", "Helga", "Scholz", birth=date(1955, 1, 1), email="h.scholz@web.de",
                     children=[address("crm/K1"), contact("crm/K1", "phone", "030 1234567")])
    daughter = profile("crm/K2", "Helga", "Scholz", birth=date(1990, 1, 1), email="helga.s@gmx.de",
                       children=[address("crm/K2"), contact("crm/K2", "phone", "030 1234567")])
    fixed = profile("fixed/FX2", "Helga", "Scholz", email="helga.s@gmx.de", phone="030 1234567",
                    children=[address("fixed/FX2")])
    graph = MemoryGraph([mother, daughter, fixed])
    expected = [{"crm/K1"}, {"crm/K2", "fixed/FX2"}]
    for seeds in (["crm/K1"], ["crm/K2"], ["fixed/FX2"], graph.refs()):
        # The component is returned whole: a seed's cluster and the other, seedless, one.
        assert await clusters_of(graph, seeds) == expected


def star(n: int) -> list[Profile]:
    """``n`` records of one name around a hub holding all their mobile numbers; every third spoke
    also shares the hub's email (two strong identifiers: a stronger link)."""
    hub_children = [contact("crm/K000", "mobile", f"+4916{i:09d}") for i in range(1, n)]
    records = [profile("crm/K000", "Anna", "Weber", email="anna@weber.de", children=hub_children)]
    for i in range(1, n):
        extra = {"email": "anna@weber.de"} if i % 3 == 0 else {}
        records.append(profile(f"mobile/MC{i:03d}", "Anna", "Weber", phone=f"+4916{i:09d}", **extra))
    return records


async def test_cluster_cap_cuts_the_weakest_links_deterministically():
    rules = IdentityRules(cluster_cap=4, max_holders=100)
    graph = MemoryGraph(star(10))
    clusters = await clusters_of(graph, graph.refs(), rules)
    assert max(len(c) for c in clusters) <= 4
    assert {r for c in clusters for r in c} == set(graph.refs())
    # The hub keeps its strongest links (email + mobile); the spokes linked by a mobile number alone
    # are cut off, each alone.
    assert clusters == [frozenset({"crm/K000", "mobile/MC003", "mobile/MC006", "mobile/MC009"}),
                        *(frozenset({f"mobile/MC{i:03d}"}) for i in (1, 2, 4, 5, 7, 8))]
    for seed in graph.refs():
        assert await clusters_of(graph, [seed], rules) == clusters
    # Equal strength: the links of the smallest refs are kept.
    tie = await clusters_of(graph, ["crm/K000"], IdentityRules(cluster_cap=2, max_holders=100))
    assert tie[0] == frozenset({"crm/K000", "mobile/MC003"})
    assert frozenset({"mobile/MC006", "mobile/MC009"}) in tie


async def test_component_beyond_max_component_is_left_unresolved():
    rules = IdentityRules(max_component=5, max_holders=100)
    graph = MemoryGraph(star(8))
    clusters = await clusters_of(graph, ["mobile/MC001"], rules)
    assert all(len(c) == 1 for c in clusters)
    assert frozenset({"mobile/MC001"}) in clusters


def random_graph(seed: int, people: int = 40) -> MemoryGraph:
    """Persons whose records share identifiers, households, mailboxes and noise, at random."""
    r = random.Random(seed)
    records: list[Profile] = []
    for n in range(people):
        family = r.choice(["Weber", "Koch", "Braun"])
        given = r.choice(["Anna", "Anne", "Bernd", "A."])
        email = r.choice([f"p{n}@web.de", "info@firma.de", f"p{n % 7}@gmx.de", None])
        mobile = f"+49151{r.randrange(30):08d}"
        landline = f"+4930{r.randrange(10):07d}"
        birth = r.choice([None, date(1970, 1, 1), date(1980, 1, 1)])
        crm = f"crm/K{n:03d}"
        records.append(profile(crm, given, family, birth=birth, email=email, children=[
            contact(crm, "mobile", mobile), contact(crm, "phone", landline), address(crm)]))
        if r.random() < 0.7:
            records.append(profile(f"mobile/MC{n:03d}", given, family, birth=birth, phone=mobile,
                                   email=email))
        if r.random() < 0.5:
            records.append(profile(f"fixed/FX{n:03d}", given, family, phone=landline,
                                   children=[address(f"fixed/FX{n:03d}")]))
    return MemoryGraph(records)


@pytest.mark.parametrize("graph_seed", [1, 2, 3])
async def test_same_graph_same_clusters_whatever_the_seeds(graph_seed):
    rules = IdentityRules(cluster_cap=6, max_holders=8)
    graph = random_graph(graph_seed)
    refs = graph.refs()
    everything = await clusters_of(graph, refs, rules)
    assert sorted(r for c in everything for r in c) == refs  # a partition of every party
    assert max(len(c) for c in everything) <= 6
    r = random.Random(graph_seed)
    for _ in range(5):
        shuffled = refs[:]
        r.shuffle(shuffled)
        assert await clusters_of(graph, shuffled, rules) == everything
        some = r.sample(refs, 7)
        partial = await clusters_of(graph, some, rules)
        assert set(partial) <= set(everything)
        assert all(any(s in c for c in partial) for s in some)


async def resolve(graph: MemoryGraph, assignment: dict[str, frozenset[str]], changed: Profile,
                  rules: IdentityRules) -> None:
    """What the resolver does for one changed party: store the profile and recompute the clusters of
    the party, of the other members of its customer, and of the holders of an identifier whose holder
    count crossed ``max_holders`` (it starts or stops linking them)."""
    old = (await graph.profiles([changed.ref])).get(changed.ref)
    touched = sorted(set(old.identifiers if old is not None else ()) | set(changed.identifiers))
    before = await graph.holders(touched)
    graph.put(changed)
    after = await graph.holders(touched)
    seeds = {changed.ref} | assignment.get(changed.ref, frozenset())
    for identifier in touched:
        was, now = before.get(identifier, set()), after.get(identifier, set())
        if (len(was) <= rules.max_holders) != (len(now) <= rules.max_holders):
            seeds |= was | now
    for cluster in await clusters_of(graph, sorted(seeds), rules):
        for member in cluster:
            assignment[member] = cluster


@pytest.mark.parametrize(("graph_seed", "cap"), [(1, 6), (2, 6), (3, 6), (4, 3), (7, 40), (9, 5)])
async def test_incremental_changes_end_where_a_rebuild_starts(graph_seed, cap):
    """Profiles arrive in any order, change and disappear; resolving each change as the resolver does
    gives the clusters a rebuild of the final graph gives."""
    rules = IdentityRules(cluster_cap=cap, max_holders=8)
    final = random_graph(graph_seed)
    refs = final.refs()
    profiles = await final.profiles(refs)
    r = random.Random(graph_seed)
    graph = MemoryGraph()
    assignment: dict[str, frozenset[str]] = {}
    for ref in r.sample(refs, len(refs)):
        # Some parties are first seen with another party's identifiers, some deleted on the way.
        other = profiles[r.choice(refs)]
        await resolve(graph, assignment, profiles[ref].model_copy(update={"identifiers": tuple(
            sorted(set(profiles[ref].identifiers) | set(other.identifiers[:2])))}), rules)
        if r.random() < 0.2:
            await resolve(graph, assignment, profiles[ref].model_copy(update={"deleted": True,
                                                                              "identifiers": ()}), rules)
    for ref in r.sample(refs, len(refs)):
        await resolve(graph, assignment, profiles[ref], rules)
    rebuilt = await clusters_of(final, refs, rules)
    assert sorted(set(assignment.values()), key=min) == rebuilt


async def test_graph_calls_are_batched_per_level_not_per_party():
    records = [p for n in range(50) for p in person_records(n)]
    graph = MemoryGraph(records)
    await components(graph.refs(), graph, RULES)
    assert graph.calls <= 1 + 2 * 2  # seeds' profiles, then holders + profiles for each level
    graph.calls = 0
    clusters = await components([f"fixed/FX{n}" for n in range(50)], graph, RULES)
    assert len(clusters) == 50
    # fixed → crm (email) → mobile (mobile number) → nothing new: three levels at most.
    assert graph.calls <= 1 + 2 * 3


def test_customer_id_anchor_is_first_by_system_priority_then_ref():
    members = ["mobile/MC1", "crm/K2", "crm/K1", "fixed/FX1"]
    ids = {customer_id(p, RULES) for p in itertools.permutations(members)}
    assert ids == {"CU-" + hashlib.blake2b(b"crm/K1", digest_size=8).hexdigest()}
    assert customer_id({"fixed/FX1", "mobile/MC9"}, RULES) == customer_id({"mobile/MC9"}, RULES)
    assert customer_id({"zzz/1", "fixed/FX1"}, RULES) == customer_id({"fixed/FX1"}, RULES)


MOBILE_1 = "+4915111111111"
