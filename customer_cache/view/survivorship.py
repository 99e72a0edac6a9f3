"""Survivorship: which source record's value a golden field takes.

The order is the configured system priority (``IdentityRules.system_priority``: CRM first), then
the most recent ``modified_at`` (a record without one is older than any with one), then the
record's ref — a total order, so the choice never depends on the order records were read in.
Callers may put their own criterion between priority and recency (a contact marked preferred).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from customer_cache.identity import IdentityRules
from customer_cache.view.model import FieldSource

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def system_rank(system: str, priority: Sequence[str]) -> int:
    """The position of ``system`` in the priority list; unlisted systems after every listed one."""
    try:
        return priority.index(system)
    except ValueError:
        return len(priority)


def _micros(moment: datetime | None) -> int:
    if moment is None:
        return -(1 << 62)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True, slots=True)
class Candidate(Generic[T]):
    """A value offered by one source record."""

    value: T
    system: str
    key: str
    modified_at: datetime | None = None
    preference: int = 0
    """Lower wins between priority and recency (e.g. 0 for a preferred contact, 1 otherwise)."""
    ref: str = ""
    """Tie-breaker of last resort; defaults to ``system/key``."""

    def source(self) -> FieldSource:
        return FieldSource(system=self.system, key=self.key, modified_at=self.modified_at)


def order_key(candidate: Candidate[T], priority: Sequence[str]) -> tuple[int, int, int, str]:
    return (
        system_rank(candidate.system, priority),
        candidate.preference,
        -_micros(candidate.modified_at),
        candidate.ref or f"{candidate.system}/{candidate.key}",
    )


def choose(candidates: Iterable[Candidate[T]], rules: IdentityRules) -> Candidate[T] | None:
    """The surviving candidate, or None if there is none."""
    priority = rules.system_priority
    best: Candidate[T] | None = None
    best_key: tuple[int, int, int, str] | None = None
    for candidate in candidates:
        key = order_key(candidate, priority)
        if best_key is None or key < best_key:
            best, best_key = candidate, key
    return best


def ranked(candidates: Iterable[Candidate[T]], rules: IdentityRules) -> list[Candidate[T]]:
    """All candidates, the survivor first."""
    priority = rules.system_priority
    return sorted(candidates, key=lambda c: order_key(c, priority))
