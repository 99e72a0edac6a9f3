"""The identity graph in Redis: the :class:`~customer_cache.identity.Graph` the resolver clusters over.

Profiles live in ``sp:{ref}`` (field ``prof``), the identifier index in ``idx:{type}:{value}`` sets.
Each call is one pipelined round trip however many refs or identifiers it asks for. A graph is made
for one resolver batch and remembers what it read: only the resolver writes profiles and the index,
and it writes them before it clusters, so within a batch nothing read can change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import redis.asyncio as aioredis
from pydantic import ValidationError

from customer_cache.identity import Profile
from customer_cache.keys import KEYS, Keys
from overlay.logging import get_logger
from overlay.redis import Commands, as_set, execute

log = get_logger(__name__)


def _parse(ref: str, raw: str | None) -> Profile | None:
    """A stored profile; None if absent or written by an incompatible version (the party is then
    unknown to clustering until it is resolved again)."""
    if raw is None:
        return None
    try:
        return Profile.model_validate_json(raw)
    except ValidationError:
        log.warning("identity.profile_unreadable", source=ref)
        return None


class RedisGraph:
    def __init__(
        self, client: aioredis.Redis, keys: Keys = KEYS, *, holders_limit: int | None = None
    ) -> None:
        """``holders_limit``: read at most this many holders of an identifier (``max_holders + 1`` is
        enough: an identifier held by more parties than ``max_holders`` links nobody, only that it has
        that many matters). None reads every holder."""
        self._client = client
        self.keys = keys
        self._holders_limit = holders_limit
        self._profiles: dict[str, Profile | None] = {}
        self._holders: dict[str, set[str]] = {}
        self.round_trips = 0

    def prime(self, profiles: Mapping[str, Profile | None]) -> None:
        """Remember profiles just written (or known absent) without reading them back."""
        self._profiles.update(profiles)

    def prime_holders(self, holders: Mapping[str, set[str]]) -> None:
        """Remember holders already known (as :meth:`holders` would read them now)."""
        for identifier, refs in holders.items():
            self._holders[identifier] = set(refs)

    def known(self, ref: str) -> Profile | None:
        return self._profiles.get(ref)

    async def profiles(self, refs: Iterable[str]) -> Mapping[str, Profile]:
        refs = list(refs)
        wanted = sorted({r for r in refs if r not in self._profiles})
        if wanted:
            self.round_trips += 1
            pipe = Commands()
            for ref in wanted:
                pipe.hget(self.keys.source_party(ref), "prof")
            raws = await execute(self._client, pipe)
            for ref, raw in zip(wanted, raws, strict=True):
                self._profiles[ref] = _parse(ref, raw)
        out: dict[str, Profile] = {}
        for ref in refs:
            profile = self._profiles.get(ref)
            if profile is not None:
                out[ref] = profile
        return out

    async def holders(self, identifiers: Iterable[str]) -> Mapping[str, set[str]]:
        identifiers = list(identifiers)
        wanted = sorted({i for i in identifiers if i not in self._holders})
        if wanted:
            self.round_trips += 1
            limit = self._holders_limit
            pipe = Commands()
            for identifier in wanted:
                if limit is None:
                    pipe.smembers(self.keys.holders(identifier))
                else:
                    pipe.srandmember(self.keys.holders(identifier), limit)
            raws = await execute(self._client, pipe)
            for identifier, raw in zip(wanted, raws, strict=True):
                self._holders[identifier] = as_set(raw)
        return {i: set(self._holders[i]) for i in identifiers if self._holders.get(i)}
