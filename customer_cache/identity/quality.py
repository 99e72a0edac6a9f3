"""Matching quality of identity resolution against the simulated estate's ground truth.

:func:`pairwise_quality` scores any clustering (source party ref → cluster) against the truth: over
all pairs of source parties, *precision* is the share of pairs put together that belong to one
person, *recall* the share of one person's pairs put together.

:func:`simulate_estate` builds, offline (no Kafka, no Redis, no servers), the profiles the resolver
would see for a simulated estate: persons from :mod:`legacy_sim.people`, each system's records as
its store and server produce them (CRM rows; the mobile API's JSON items; the fixed/TV API's XML,
parsed as the connector parses it), mapped by the demo connectors' compiled mappings
(``deploy/connectors/demo.yaml``), the latest version of each record kept, children grouped by
party, :func:`~customer_cache.identity.profile.build_profile` for each party.

    python -m customer_cache.identity.quality --customers 20000 --seed 42

prints one JSON line: persons, records (live source parties scored), precision, recall, f1, clusters,
largest_cluster, seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import re
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from connectors.config import LoadedConnector, load_config
from connectors.mapping.engine import CompiledStream
from connectors.mapping.errors import MappingError
from connectors.registry import source_types
from connectors.sources.xml_http import XmlStreamConfig, parse_xml
from customer_cache.identity.cluster import components
from customer_cache.identity.memory import MemoryGraph
from customer_cache.identity.model import IdentityRules, Profile
from customer_cache.identity.profile import Child, build_profile
from legacy_sim.crm_db import crm_rows
from legacy_sim.fixed_tv_bss import customer_element
from legacy_sim.fixed_tv_store import fixed_rows
from legacy_sim.ground_truth import TruthLine, truth_dict
from legacy_sim.mobile_bss import Subscriber
from legacy_sim.mobile_store import mobile_rows
from legacy_sim.people import person
from overlay.events import ChangeEvent, EntityType, Operation
from overlay.models import Account, Address, ContactMedium, Party, ProductInstance

DEMO_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "connectors" / "demo.yaml"
OBSERVED_AT = datetime(2026, 1, 1, tzinfo=UTC)
_SUBSCRIBER = re.compile(r"SUB-(\d{8})\d")


# --- scoring --------------------------------------------------------------------------------------


class Quality(BaseModel):
    """Pairwise quality of a clustering against the truth."""

    records: int  # source parties scored (in both the clustering and the truth)
    persons: int  # real persons among them
    clusters: int  # clusters among them
    largest_cluster: int
    true_pairs: int  # pairs of one person
    predicted_pairs: int  # pairs put in one cluster
    correct_pairs: int  # both
    precision: float
    recall: float
    f1: float


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pairwise_quality(assignment: Mapping[str, object], truth: Mapping[str, str]) -> Quality:
    """Score ``assignment`` (source party ref → its cluster) against ``truth`` (ref → person id).

    Refs missing from either side are left out: a deleted party is in no cluster, a party the truth
    does not know cannot be judged."""
    refs = [r for r in assignment if r in truth]
    by_cluster = Counter(assignment[r] for r in refs)
    by_person = Counter(truth[r] for r in refs)
    cells = Counter((assignment[r], truth[r]) for r in refs)
    predicted = sum(_pairs(n) for n in by_cluster.values())
    true = sum(_pairs(n) for n in by_person.values())
    correct = sum(_pairs(n) for n in cells.values())
    precision = correct / predicted if predicted else 1.0
    recall = correct / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Quality(
        records=len(refs), persons=len(by_person), clusters=len(by_cluster),
        largest_cluster=max(by_cluster.values(), default=0), true_pairs=true, predicted_pairs=predicted,
        correct_pairs=correct, precision=precision, recall=recall, f1=f1,
    )


def truth_refs(lines: Iterable[TruthLine], mobile_party: Mapping[str, str] | None = None) -> dict[str, str]:
    """Source party ref → person id from ground-truth lines (e.g. :func:`legacy_sim.ground_truth.iter_truth`).

    The truth lists CRM customers (``crm/K…``), fixed/TV customers (``fixed/FX…``) and *mobile
    subscribers* (``SUB-…``); a subscriber belongs to the mobile party of its ``customerRef``:
    ``mobile_party`` maps subscriber id → customerRef, else the simulator's numbering is used
    (``SUB-nnnnnnnnL`` → ``MCnnnnnnnn``)."""
    out: dict[str, str] = {}
    for line in lines:
        for record in line.records:
            if record.system == "mobile":
                customer_ref = (mobile_party or {}).get(record.key)
                if customer_ref is None:
                    match = _SUBSCRIBER.fullmatch(record.key)
                    if match is None:
                        continue
                    customer_ref = f"MC{match.group(1)}"
                out[f"mobile/{customer_ref}"] = line.person_id
            else:
                out[f"{record.system}/{record.key}"] = line.person_id
    return out


def assignment_of(clusters: Iterable[set[str]]) -> dict[str, int]:
    """Source party ref → cluster number."""
    return {ref: n for n, cluster in enumerate(clusters) for ref in cluster}


# --- the simulated estate, offline -----------------------------------------------------------------


class _DummyEnviron(Mapping[str, str]):
    """Every ``${OVERLAY_SIM_…}`` of the demo configuration resolves to a placeholder: only the
    mappings are used, nothing is connected."""

    def __getitem__(self, name: str) -> str:
        if name.startswith("OVERLAY_SIM_"):
            return "sqlite+aiosqlite:///:memory:" if name.endswith("_DSN") else "http://127.0.0.1:1"
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


@dataclass
class _Mappings:
    crm: Mapping[str, CompiledStream]
    mobile: CompiledStream
    fixed: CompiledStream
    fixed_force: tuple[str, ...]

    @classmethod
    def load(cls, path: Path = DEMO_CONFIG) -> _Mappings:
        loaded: dict[str, LoadedConnector] = {
            c.config.name: c for c in load_config(path, source_types(), environ=_DummyEnviron())
        }
        fixed = loaded["fixed-tv"]
        stream = next(s for s in fixed.config.streams if s.name == "customers")
        force = stream.force() if isinstance(stream, XmlStreamConfig) else ("Customer",)
        return cls(loaded["crm"].compiled, loaded["mobile"].compiled["subscribers"],
                   fixed.compiled["customers"], force)


@dataclass
class SimulatedEstate:
    """Profiles of every source party of a simulated estate, and the truth to score them against."""

    persons: int
    profiles: list[Profile]
    truth: dict[str, str]  # live or deleted source party ref → person id
    records: int = 0  # source records mapped (rows, API items)
    dead_letters: int = 0  # records the mappings rejected
    mobile_party: dict[str, str] = field(default_factory=dict)  # subscriber id → customerRef


def _ref(system: str, key: str) -> str:
    return f"{system}/{key}"


class _Latest:
    """The latest version of each source record, as stage 1 keeps it (an equal version is a replay)."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str, str], ChangeEvent[Any]] = {}

    def add(self, events: Iterable[ChangeEvent[Any]]) -> None:
        for event in events:
            key = (event.entity_type.value, event.source_system, event.source_key)
            old = self.events.get(key)
            if old is None or event.version > old.version:
                self.events[key] = event

    def parties(self) -> tuple[dict[str, Party | None], dict[str, list[Child]]]:
        parties: dict[str, Party | None] = {}
        children: dict[str, list[Child]] = {}
        for (entity, system, key) in sorted(self.events):
            event = self.events[(entity, system, key)]
            payload = event.payload if event.operation is Operation.UPSERT else None
            if entity == EntityType.PARTY.value:
                parties[_ref(system, key)] = payload if isinstance(payload, Party) else None
            elif isinstance(payload, ContactMedium | Address | Account | ProductInstance):
                owner = payload.party
                if owner is None:  # an address of nobody (a service location): no party's identity
                    continue
                children.setdefault(_ref(owner.system, owner.key), []).append(payload)
        for ref in children:
            parties.setdefault(ref, None)
        return parties, children



def simulate_estate(customers: int, seed: int = 42, rules: IdentityRules | None = None,
                    config: Path = DEMO_CONFIG) -> SimulatedEstate:
    """Profiles of the first ``customers`` persons of the estate grown from ``seed`` (see module doc).

    A person's records are mapped and reduced to their latest versions together: no two persons
    share a record key, so nothing is held longer than one person."""
    rules = rules or IdentityRules()
    maps = _Mappings.load(config)
    truth_lines: list[TruthLine] = []
    mobile_party: dict[str, str] = {}
    profiles: list[Profile] = []
    records = dead = 0

    with _gc_paused():
        for index in range(customers):
            p = person(seed, index)
            truth_lines.append(TruthLine.model_validate(truth_dict(p)))
            latest = _Latest()

            def build(stream: CompiledStream, record: Mapping[str, Any], latest: _Latest = latest) -> None:
                nonlocal records, dead
                records += 1
                try:
                    latest.add(stream.build(dict(record), OBSERVED_AT))
                except MappingError:
                    dead += 1

            crm = crm_rows(p)
            for stream_name, rows in (("customers", crm.customers), ("contacts", crm.contacts),
                                      ("addresses", crm.addresses)):
                for row in rows:
                    build(maps.crm[stream_name], row)
            for row in mobile_rows(p):
                item = Subscriber.from_row(row).model_dump(mode="json")
                mobile_party[item["subscriberId"]] = item["customerRef"]
                build(maps.mobile, item)
            fixed = fixed_rows(p)
            if fixed is not None:
                xml = ET.tostring(customer_element(*fixed), encoding="utf-8")
                [record] = parse_xml(xml, maps.fixed_force)["Customer"]
                build(maps.fixed, record)
            parties, children = latest.parties()
            profiles.extend(build_profile(ref, party, children.get(ref, []), rules)
                            for ref, party in sorted(parties.items()))
    return SimulatedEstate(
        persons=customers, profiles=profiles, truth=truth_refs(truth_lines, mobile_party), records=records,
        dead_letters=dead, mobile_party=mobile_party,
    )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while building many small objects that stay alive (it would
    re-scan them again and again); collected once at the end."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


async def cluster_profiles(profiles: Sequence[Profile], rules: IdentityRules) -> list[set[str]]:
    """Every party's cluster, through an in-memory graph (all parties as seeds)."""
    graph = MemoryGraph(profiles)
    with _gc_paused():
        return await components(graph.refs(), graph, rules)


async def evaluate(customers: int, seed: int = 42, rules: IdentityRules | None = None) -> dict[str, Any]:
    """Simulate, cluster and score an estate; the figures the command line prints."""
    rules = rules or IdentityRules()
    started = time.perf_counter()
    estate = simulate_estate(customers, seed, rules)
    clusters = await cluster_profiles(estate.profiles, rules)
    live = {p.ref for p in estate.profiles if not p.deleted}
    quality = pairwise_quality(
        {ref: n for ref, n in assignment_of(clusters).items() if ref in live}, estate.truth
    )
    return {
        "persons": estate.persons,
        "records": quality.records,
        "precision": round(quality.precision, 6),
        "recall": round(quality.recall, 6),
        "f1": round(quality.f1, 6),
        "clusters": quality.clusters,
        "largest_cluster": quality.largest_cluster,
        "seconds": round(time.perf_counter() - started, 2),
        "true_pairs": quality.true_pairs,
        "predicted_pairs": quality.predicted_pairs,
        "correct_pairs": quality.correct_pairs,
        "deleted_parties": len(estate.profiles) - len(live),
        "dead_letters": estate.dead_letters,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m customer_cache.identity.quality",
        description="Identity resolution's pairwise precision and recall on a simulated estate (offline).",
    )
    parser.add_argument("--customers", type=int, default=20_000, help="persons to simulate")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    result = asyncio.run(evaluate(args.customers, args.seed))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
