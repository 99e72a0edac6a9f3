"""Survivorship order: system priority, then a caller's preference, then recency, then ref."""

from __future__ import annotations

from datetime import UTC, datetime

from customer_cache.identity import IdentityRules
from customer_cache.view.survivorship import Candidate, choose, ranked, system_rank

RULES = IdentityRules()
EARLY = datetime(2024, 1, 1, tzinfo=UTC)
LATE = datetime(2024, 6, 1, tzinfo=UTC)


def test_unlisted_systems_come_after_every_listed_one():
    priority = RULES.system_priority
    assert system_rank("crm", priority) == 0
    assert system_rank("partner-x", priority) == len(priority)


def test_priority_beats_recency():
    crm = Candidate("a", "crm", "K1", EARLY)
    mobile = Candidate("b", "mobile", "M1", LATE)
    assert choose([mobile, crm], RULES) is crm


def test_recency_within_a_system_and_missing_times_lose():
    old = Candidate("a", "mobile", "M1", EARLY)
    new = Candidate("b", "mobile", "M2", LATE)
    unknown = Candidate("c", "mobile", "M0", None)
    assert choose([old, unknown, new], RULES) is new
    assert ranked([old, unknown, new], RULES) == [new, old, unknown]


def test_preference_between_priority_and_recency():
    preferred_old = Candidate("a", "crm", "C1", EARLY, preference=0)
    plain_new = Candidate("b", "crm", "C2", LATE, preference=1)
    assert choose([plain_new, preferred_old], RULES) is preferred_old


def test_ref_breaks_ties_and_nothing_is_none():
    a = Candidate("a", "crm", "K1", EARLY)
    b = Candidate("b", "crm", "K2", EARLY)
    assert choose([b, a], RULES) is a
    assert choose([], RULES) is None
