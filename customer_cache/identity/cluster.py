"""Clusters of linked source parties and their stable ids. (Stub: any shared identifier links.)"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Protocol

from customer_cache.identity.model import IdentityRules, Profile


class Graph(Protocol):
    """Read access to the identity graph, batched: each call is one round trip."""

    async def profiles(self, refs: Iterable[str]) -> Mapping[str, Profile]:
        """The stored profiles of these source parties (missing ones left out)."""
        ...

    async def holders(self, identifiers: Iterable[str]) -> Mapping[str, set[str]]:
        """The source party refs holding each identifier."""
        ...


def linked(a: Profile, b: Profile, rules: IdentityRules) -> bool:
    if a.deleted or b.deleted:
        return False
    return bool(set(a.identifiers) & set(b.identifiers))


async def components(seeds: Iterable[str], graph: Graph, rules: IdentityRules) -> list[set[str]]:
    """The clusters containing ``seeds`` (each seed in exactly one; deleted parties alone)."""
    done: set[str] = set()
    out: list[set[str]] = []
    for seed in seeds:
        if seed in done:
            continue
        cluster = {seed}
        frontier = [seed]
        while frontier:
            profiles = await graph.profiles(frontier)
            ids = {i for p in profiles.values() if not p.deleted for i in p.identifiers}
            holders = await graph.holders(ids)
            candidates = {r for rs in holders.values() for r in rs} - cluster
            cand_profiles = await graph.profiles(candidates)
            new = {r for r, p in cand_profiles.items()
                   if any(linked(p, profiles[f], rules) for f in frontier if f in profiles)}
            cluster |= new
            frontier = list(new)
        done |= cluster
        out.append(cluster)
    return out


def customer_id(members: Iterable[str], rules: IdentityRules) -> str:
    """``CU-`` + a hash of the cluster's anchor: its first member by system priority, then ref."""
    order = {s: i for i, s in enumerate(rules.system_priority)}
    anchor = min(members, key=lambda r: (order.get(r.partition("/")[0], len(order)), r))
    return "CU-" + hashlib.blake2b(anchor.encode(), digest_size=8).hexdigest()
