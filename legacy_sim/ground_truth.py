"""Ground truth: which legacy records belong to which real person (``ground_truth.jsonl``).

One JSON line per person, written in index order while the estate is built and appended by the
change generator for sign-ups; matching quality of the overlay is measured against it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from legacy_sim.people import Person

TRUTH_FILE = "ground_truth.jsonl"
TruthSystem = Literal["crm", "mobile", "fixed"]


class TruthRecord(BaseModel):
    system: TruthSystem
    key: str


class TruthLine(BaseModel):
    person_id: str
    records: list[TruthRecord]


class TruthSummary(BaseModel):
    persons: int
    records: int
    records_by_system: dict[str, int]
    persons_by_system_count: dict[int, int]  # in how many distinct systems a person appears
    crm_duplicates: int  # persons with more than one CRM record
    multi_sim: int  # persons with more than one mobile subscriber


def truth_dict(p: Person) -> dict[str, object]:
    """The ground-truth line of a person as a plain dict (fast path for bulk writing)."""
    records: list[dict[str, str]] = []
    if p.in_crm:
        records.append({"system": "crm", "key": p.crm_key})
        if p.crm_duplicate:
            records.append({"system": "crm", "key": p.crm_duplicate_key})
    records.extend({"system": "mobile", "key": sid} for sid in p.subscriber_ids())
    if p.in_fixed:
        records.append({"system": "fixed", "key": p.fixed_customer_id})
    return {"person_id": p.person_id, "records": records}


def truth_lines(persons: Iterable[Person]) -> str:
    return "".join(json.dumps(truth_dict(p), ensure_ascii=False) + "\n" for p in persons)


def iter_truth(path: Path) -> Iterator[TruthLine]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield TruthLine.model_validate_json(line)


def count_persons(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def key_index(path: Path) -> dict[tuple[str, str], str]:
    """(system, key) → person_id, for scoring a matcher against the truth."""
    return {(r.system, r.key): line.person_id for line in iter_truth(path) for r in line.records}


def summarize(path: Path) -> TruthSummary:
    by_system: Counter[str] = Counter()
    by_count: Counter[int] = Counter()
    persons = duplicates = multi_sim = 0
    for line in iter_truth(path):
        persons += 1
        systems = Counter(r.system for r in line.records)
        by_system.update(systems)
        by_count[len(systems)] += 1
        duplicates += systems["crm"] > 1
        multi_sim += systems["mobile"] > 1
    return TruthSummary(
        persons=persons, records=sum(by_system.values()), records_by_system=dict(by_system),
        persons_by_system_count=dict(sorted(by_count.items())), crm_duplicates=duplicates,
        multi_sim=multi_sim,
    )
