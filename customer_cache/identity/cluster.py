"""Clusters of linked source parties and their stable ids.

Two profiles *link* (:func:`link_score`, :func:`linked`) when the trust of the identifiers they share
reaches the threshold — each identifier type counted once, with its best shared value; a generic
mailbox (``info@…``) counting less than a personal email — ignoring identifiers held by more than
``max_holders`` parties, and when nothing says they are different people: for individuals
compatible names and no conflicting birth dates, for anybody no conflicting national ids. A shared
national id or an explicit cross-reference overrides those checks.

:func:`components` finds the clusters around some seed parties through a :class:`Graph`: one
breadth-first search for all seeds, with two batched graph calls per level. A cluster is a connected
component of the link graph, unless the component is larger than ``cluster_cap`` or its parties
disagree on a national id or a birth date (two namesakes at one address, bridged by a record that
has no birth date). Then the links are taken strongest first (ties by refs) and a link is cut when
it would make a cluster exceed the cap or join parties that disagree: the weakest links go first.
Everything is sorted, so the result is a function of the graph alone — neither the order of the
seeds nor which of a component's parties are seeds changes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Protocol

from customer_cache.identity.model import IdentityRules, IdType, Profile
from customer_cache.identity.names import names_compatible
from overlay.logging import get_logger

log = get_logger(__name__)

_TYPES: dict[str, IdType] = {t.value: t for t in IdType}
_EPSILON = 1e-9


class Graph(Protocol):
    """Read access to the identity graph, batched: each call is one round trip."""

    async def profiles(self, refs: Iterable[str]) -> Mapping[str, Profile]:
        """The stored profiles of these source parties (missing ones left out)."""
        ...

    async def holders(self, identifiers: Iterable[str]) -> Mapping[str, set[str]]:
        """The source party refs holding each identifier (an identifier held by nobody may be left
        out). For an identifier held by more than ``max_holders`` parties any ``max_holders + 1`` of
        them are enough: such an identifier links nobody, only its count is looked at."""
        ...


def identifier_type(identifier: str) -> IdType | None:
    return _TYPES.get(identifier.partition(":")[0])


def trust(identifier: str, rules: IdentityRules) -> float:
    """The trust of one identifier: its type's, less for a generic mailbox (``info@…``)."""
    kind, _, value = identifier.partition(":")
    id_type = _TYPES.get(kind)
    if id_type is None:
        return 0.0
    return _trust(id_type, value, rules)


def _trust(id_type: IdType, value: str, rules: IdentityRules) -> float:
    weight = rules.trust.get(id_type, 0.0)
    if id_type is IdType.EMAIL and value.partition("@")[0] in rules.generic_mailboxes:
        return min(weight, rules.generic_mailbox_trust)
    return weight


def _has(profile: Profile, id_type: IdType) -> bool:
    prefix = f"{id_type.value}:"
    return any(i.startswith(prefix) for i in profile.identifiers)


def link_score(
    a: Profile, b: Profile, rules: IdentityRules, holder_counts: Mapping[str, int] | None = None
) -> float:
    """The summed trust of what ``a`` and ``b`` share if they link, else 0.0.

    ``holder_counts``: how many source parties hold each identifier (from the identifier index);
    shared identifiers held by more than ``rules.max_holders`` are ignored. Without it no identifier
    is ignored (fine for comparing two profiles, not for clustering).
    """
    return _evaluate(a, b, rules, holder_counts)[0]


def _evaluate(
    a: Profile, b: Profile, rules: IdentityRules, holder_counts: Mapping[str, int] | None
) -> tuple[float, bool]:
    """(score, whether a national id or cross-reference is shared); score 0.0 if they do not link."""
    if a.deleted or b.deleted or a.ref == b.ref:
        return 0.0, False
    shared = set(a.identifiers).intersection(b.identifiers)
    if not shared:
        return 0.0, False
    best: dict[IdType, float] = {}
    for identifier in shared:
        if holder_counts is not None and holder_counts.get(identifier, 0) > rules.max_holders:
            continue
        kind, _, value = identifier.partition(":")
        id_type = _TYPES.get(kind)
        if id_type is None:
            continue
        weight = _trust(id_type, value, rules)
        if weight > best.get(id_type, 0.0):
            best[id_type] = weight
    score = round(sum(best[t] for t in sorted(best)), 9)  # a fixed order: the same float everywhere
    if score < rules.threshold - _EPSILON:
        return 0.0, False
    if IdType.NATIONAL_ID in best or IdType.XREF in best:
        return score, True
    if rules.national_ids_must_agree and _has(a, IdType.NATIONAL_ID) and _has(b, IdType.NATIONAL_ID):
        return 0.0, False  # both have one, and not the same
    if a.kind != b.kind:
        return 0.0, False
    if a.kind == "individual":
        if rules.birth_dates_must_agree and a.birth_date and b.birth_date and a.birth_date != b.birth_date:
            return 0.0, False
        if rules.require_compatible_names and not names_compatible(
            a.given_name, a.family_name, b.given_name, b.family_name
        ):
            return 0.0, False
    return score, False


def linked(
    a: Profile, b: Profile, rules: IdentityRules, holder_counts: Mapping[str, int] | None = None
) -> bool:
    """Whether ``a`` and ``b`` link directly (see :func:`link_score`)."""
    return link_score(a, b, rules, holder_counts) > 0.0


class _Forest:
    """Union-find over refs with component sizes; the smaller ref is always the root (deterministic)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.size: dict[str, int] = {}

    def add(self, ref: str) -> None:
        if ref not in self.parent:
            self.parent[ref] = ref
            self.size[ref] = 1

    def find(self, ref: str) -> str:
        root = ref
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[ref] != root:
            self.parent[ref], ref = root, self.parent[ref]
        return root

    def union(self, a: str, b: str) -> str:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if rb < ra:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size.pop(rb)
        return ra


_Edge = tuple[float, str, str, bool]  # score, ref, other ref (greater), national id / xref shared


class _Facts:
    """What members of one cluster must agree on: national ids and birth dates."""

    __slots__ = ("birth_dates", "national_ids")

    def __init__(self, profile: Profile, rules: IdentityRules) -> None:
        prefix = f"{IdType.NATIONAL_ID.value}:"
        self.national_ids = (
            frozenset(i for i in profile.identifiers if i.startswith(prefix))
            if rules.national_ids_must_agree else frozenset()
        )
        self.birth_dates = (
            frozenset((profile.birth_date,))
            if rules.birth_dates_must_agree and profile.birth_date is not None else frozenset()
        )

    def conflicts(self, other: _Facts) -> bool:
        return bool(
            (self.national_ids and other.national_ids and not self.national_ids & other.national_ids)
            or (self.birth_dates and other.birth_dates and not self.birth_dates & other.birth_dates)
        )

    def merge(self, other: _Facts) -> None:
        self.national_ids |= other.national_ids
        self.birth_dates |= other.birth_dates


def _clusters(members: list[str], edges: list[_Edge], profiles: Mapping[str, Profile],
              rules: IdentityRules) -> list[set[str]]:
    """The clusters of one connected component.

    The whole component unless it is larger than ``cluster_cap`` or its parties disagree on a
    national id or birth date (a record without birth date linking two people of one name at one
    address). Then links are taken strongest first (ties by refs), and a link is cut if it would make
    a cluster exceed the cap or bring together parties with different national ids or birth dates
    (unless the link itself is a shared national id or cross-reference)."""
    facts = {m: _Facts(profiles[m], rules) for m in members}
    national_ids = {i for f in facts.values() for i in f.national_ids}
    birth_dates = {d for f in facts.values() for d in f.birth_dates}
    if len(members) <= rules.cluster_cap and len(national_ids) <= 1 and len(birth_dates) <= 1:
        return [set(members)]
    forest = _Forest()
    for m in members:
        forest.add(m)
    for _, u, v, strong in sorted(edges, key=lambda e: (-e[0], e[1], e[2])):
        ru, rv = forest.find(u), forest.find(v)
        if ru == rv or forest.size[ru] + forest.size[rv] > rules.cluster_cap:
            continue
        if not strong and facts[ru].conflicts(facts[rv]):
            continue
        root = forest.union(ru, rv)
        other = rv if root == ru else ru
        facts[root].merge(facts.pop(other))
    groups: dict[str, set[str]] = {}
    for m in members:
        groups.setdefault(forest.find(m), set()).add(m)
    return list(groups.values())


async def components(seeds: Iterable[str], graph: Graph, rules: IdentityRules) -> list[set[str]]:
    """The clusters of the components containing ``seeds``, sorted by their smallest ref.

    Every seed is in exactly one cluster; a deleted or unknown seed is a cluster of its own. When a
    component is split (by ``cluster_cap``, or between parties with different birth dates or national
    ids) *all* its clusters are returned, also those holding no seed: their membership may have
    changed too. A component larger than ``max_component`` is not resolved: each of its parties
    reached is returned alone.

    Graph calls: one ``profiles`` for the seeds, then per level of the search one ``holders`` (the
    identifiers of the parties reached last) and one ``profiles`` (the parties holding them). The
    graph must be consistent: a party is among the holders of exactly the identifiers of its stored
    (live) profile.

    Seeds for a change of party P, so that incremental results equal a rebuild's: P, the other
    members of P's current customer, and all holders of any identifier whose holder count crossed
    ``max_holders`` with the change (it starts or stops linking them). Clusters that are not returned
    keep their membership: cutting a component by the cap or by disagreeing facts only ever depends on
    links inside the clusters it produces and links it refused.
    """
    seed_list = sorted(set(seeds))
    if not seed_list:
        return []
    profiles: dict[str, Profile] = dict(await graph.profiles(seed_list))
    holders: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    forest = _Forest()
    oversized: set[str] = set()  # roots of components beyond max_component
    edges: dict[tuple[str, str], tuple[float, bool]] = {}
    checked: set[tuple[str, str]] = set()
    alone: list[str] = []
    frontier: list[str] = []
    for ref in seed_list:
        profile = profiles.get(ref)
        if profile is None or profile.deleted:
            alone.append(ref)
        else:
            forest.add(ref)
            frontier.append(ref)

    while frontier:
        frontier = [f for f in frontier if forest.find(f) not in oversized]
        wanted = sorted({i for f in frontier for i in profiles[f].identifiers} - holders.keys())
        if wanted:
            found = await graph.holders(wanted)
            for identifier in wanted:
                members = set(found.get(identifier, ()))
                holders[identifier] = members
                counts[identifier] = len(members)
        candidates: dict[str, list[str]] = {}
        for f in frontier:
            near: set[str] = set()
            for identifier in profiles[f].identifiers:
                members = holders[identifier]
                if len(members) <= rules.max_holders:
                    near.update(members)
            near.discard(f)
            candidates[f] = sorted(near)
        unknown = sorted({r for near_refs in candidates.values() for r in near_refs} - profiles.keys())
        if unknown:
            profiles.update(await graph.profiles(unknown))
        reached: list[str] = []
        for f in frontier:
            for other in candidates[f]:
                pair = (f, other) if f < other else (other, f)
                if pair in checked:
                    continue
                checked.add(pair)
                profile = profiles.get(other)
                if profile is None:
                    continue
                score, strong = _evaluate(profiles[f], profile, rules, counts)
                if score <= 0.0:
                    continue
                edges[pair] = (score, strong)
                if other not in forest.parent:
                    forest.add(other)
                    reached.append(other)
                root = forest.union(f, other)
                if forest.size[root] > rules.max_component or root in oversized:
                    oversized.add(root)
        oversized = {forest.find(r) for r in oversized}
        frontier = sorted(reached)

    groups: dict[str, list[str]] = {}
    for ref in sorted(forest.parent):
        groups.setdefault(forest.find(ref), []).append(ref)
    component_edges: dict[str, list[_Edge]] = {}
    for (u, v), (score, strong) in edges.items():
        component_edges.setdefault(forest.find(u), []).append((score, u, v, strong))
    clusters: list[set[str]] = [{ref} for ref in alone]
    for root, group in groups.items():
        if root in oversized:
            log.warning("identity.component_too_large", parties=len(group), first=group[0],
                        limit=rules.max_component)
            clusters.extend({m} for m in group)
        else:
            clusters.extend(_clusters(group, component_edges.get(root, []), profiles, rules))
    clusters.sort(key=min)
    return clusters


def customer_id(members: Iterable[str], rules: IdentityRules) -> str:
    """``CU-`` + a hash of the cluster's anchor: its first member by system priority, then ref."""
    order = {s: i for i, s in enumerate(rules.system_priority)}
    anchor = min(members, key=lambda r: (order.get(r.partition("/")[0], len(order)), r))
    return "CU-" + hashlib.blake2b(anchor.encode(), digest_size=8).hexdigest()
