"""An identity graph in memory: the :class:`~customer_cache.identity.cluster.Graph` of tests and of the
offline quality run, and the reference for what a store must answer (profiles by ref, holders by
identifier, kept consistent with each other)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from customer_cache.identity.model import Profile


class MemoryGraph:
    """Profiles by ref and the identifier index over the live ones; counts its calls (round trips)."""

    def __init__(self, profiles: Iterable[Profile] = ()) -> None:
        self._profiles: dict[str, Profile] = {}
        self._index: dict[str, set[str]] = {}
        self.calls = 0
        for profile in profiles:
            self.put(profile)

    def put(self, profile: Profile) -> None:
        """Store (or replace) a profile and re-index its identifiers; a deleted one holds none."""
        self.remove(profile.ref)
        self._profiles[profile.ref] = profile
        if not profile.deleted:
            for identifier in profile.identifiers:
                self._index.setdefault(identifier, set()).add(profile.ref)

    def remove(self, ref: str) -> None:
        old = self._profiles.pop(ref, None)
        if old is None:
            return
        for identifier in old.identifiers:
            holders = self._index.get(identifier)
            if holders is not None:
                holders.discard(ref)
                if not holders:
                    del self._index[identifier]

    def refs(self) -> list[str]:
        return sorted(self._profiles)

    async def profiles(self, refs: Iterable[str]) -> Mapping[str, Profile]:
        self.calls += 1
        return {r: p for r in refs if (p := self._profiles.get(r)) is not None}

    async def holders(self, identifiers: Iterable[str]) -> Mapping[str, set[str]]:
        self.calls += 1
        return {i: set(self._index[i]) for i in identifiers if i in self._index}
