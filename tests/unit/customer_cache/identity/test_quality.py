"""Matching quality against the simulated estate's ground truth, offline."""

from __future__ import annotations

import asyncio
import json

import pytest

from customer_cache.identity import IdentityRules
from customer_cache.identity.quality import (
    SimulatedEstate,
    assignment_of,
    cluster_profiles,
    evaluate,
    main,
    pairwise_quality,
    simulate_estate,
    truth_refs,
)
from legacy_sim.ground_truth import TruthLine
from legacy_sim.people import person

SEED = 42


def test_pairwise_scores():
    truth = {"a": "P1", "b": "P1", "c": "P1", "d": "P2", "e": "P2"}
    perfect = pairwise_quality({"a": 1, "b": 1, "c": 1, "d": 2, "e": 2}, truth)
    assert (perfect.precision, perfect.recall, perfect.f1) == (1.0, 1.0, 1.0)
    # c split off, d put with a and b, e alone: of the 4 true pairs (ab, ac, bc, de) only ab is kept,
    # and of the 3 pairs put together (ab, ad, bd) only ab is right; x has no truth and is left out.
    q = pairwise_quality({"a": 1, "b": 1, "c": 3, "d": 1, "e": 2, "x": 9}, truth)
    assert (q.true_pairs, q.predicted_pairs, q.correct_pairs) == (4, 3, 1)
    assert q.precision == pytest.approx(1 / 3) and q.recall == pytest.approx(1 / 4)
    assert q.records == 5 and q.largest_cluster == 3


def test_truth_records_map_to_source_parties():
    line = TruthLine.model_validate({"person_id": "P000001", "records": [
        {"system": "crm", "key": "K00000001"}, {"system": "crm", "key": "K50000001"},
        {"system": "mobile", "key": "SUB-000000010"}, {"system": "mobile", "key": "SUB-000000011"},
        {"system": "fixed", "key": "FX00000001"}]})
    expected = {"crm/K00000001", "crm/K50000001", "mobile/MC00000001", "fixed/FX00000001"}
    assert set(truth_refs([line])) == expected
    assert set(truth_refs([line], {"SUB-000000010": "MCX", "SUB-000000011": "MCX"})) == (
        expected - {"mobile/MC00000001"} | {"mobile/MCX"})


@pytest.fixture(scope="module")
def small_estate() -> SimulatedEstate:
    return simulate_estate(300, SEED)


@pytest.fixture(scope="module")
def small_clusters(small_estate: SimulatedEstate) -> dict[str, int]:
    return assignment_of(asyncio.run(cluster_profiles(small_estate.profiles, IdentityRules())))


def test_estate_profiles_come_through_the_demo_mappings(small_estate):
    refs = {p.ref for p in small_estate.profiles}
    assert {r.partition("/")[0] for r in refs} == {"crm", "mobile", "fixed"}
    assert small_estate.dead_letters == 0 and set(small_estate.truth) == refs
    mobile = next(p for p in small_estate.profiles if p.ref.startswith("mobile/") and not p.deleted)
    assert any(i.startswith("mobile:+49") for i in mobile.identifiers)
    assert any(i.startswith("account:mobile:BA") for i in mobile.identifiers)


def test_crm_duplicates_link_to_their_twins(small_estate, small_clusters):
    twins = [p for p in (person(SEED, i) for i in range(300)) if p.crm_duplicate]
    assert twins
    for p in twins:
        assert small_clusters[f"crm/{p.crm_key}"] == small_clusters[f"crm/{p.crm_duplicate_key}"], p.person_id


def test_households_and_mailbox_colleagues_are_not_merged(small_estate, small_clusters):
    by_cluster: dict[int, set[str]] = {}
    for ref, cluster in small_clusters.items():
        by_cluster.setdefault(cluster, set()).add(small_estate.truth[ref])
    assert all(len(persons) == 1 for persons in by_cluster.values())
    people = [person(SEED, i) for i in range(300)]
    assert any(p.household_id != p.person_id for p in people)  # the estate has them
    assert any(p.company is not None and p.email == p.company.mailbox for p in people)


async def test_quality_on_three_thousand_simulated_persons():
    result = await evaluate(3000, SEED)
    print(json.dumps(result))
    assert result["precision"] >= 0.99
    assert result["recall"] >= 0.95
    assert result["largest_cluster"] <= IdentityRules().cluster_cap


def test_command_line_prints_one_json_line(capsys):
    assert main(["--customers", "40", "--seed", "7"]) == 0
    line = capsys.readouterr().out.strip()
    figures = json.loads(line)
    assert set(figures) >= {"persons", "records", "precision", "recall", "f1", "clusters", "largest_cluster",
                            "seconds"}
    assert figures["persons"] == 40
