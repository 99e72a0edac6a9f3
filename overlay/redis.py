"""Redis plumbing: the client factory and the version-guarded document write every read model uses.

A read model stores each document as a hash ``{v, deleted, doc, event}``. The write is one Lua
script, atomic on the server: it applies an upsert or delete only if its version is not older than
the stored one, and a delete leaves a versioned tombstone, so an old upsert replayed after the
delete cannot bring the document back. That makes at-least-once delivery and full replays safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from overlay.settings import Settings, get_settings


def make_redis(settings: Settings | None = None, **overrides: Any) -> aioredis.Redis:
    s = settings or get_settings()
    options: dict[str, Any] = {"decode_responses": True, "health_check_interval": 30}
    options.update(overrides)
    client: aioredis.Redis = aioredis.from_url(s.redis_url.get_secret_value(), **options)
    return client


_VERSIONED_WRITE = """
local cur = redis.call('HGET', KEYS[1], 'v')
if cur and tonumber(cur) > tonumber(ARGV[1]) then return 0 end
if ARGV[2] == 'delete' then
  redis.call('HSET', KEYS[1], 'v', ARGV[1], 'deleted', '1', 'event', ARGV[5])
  redis.call('HDEL', KEYS[1], 'doc')
  if KEYS[2] then redis.call('ZREM', KEYS[2], ARGV[4]) end
else
  redis.call('HSET', KEYS[1], 'v', ARGV[1], 'deleted', '0', 'doc', ARGV[3], 'event', ARGV[5])
  if KEYS[2] then redis.call('ZADD', KEYS[2], 0, ARGV[4]) end
end
return 1
"""


@dataclass(frozen=True)
class StoredDoc:
    version: int
    deleted: bool
    doc: str | None
    event_id: str | None


class VersionedDocStore:
    """Version-guarded documents, optionally listed in a lexicographic index (a sorted set)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._script = client.register_script(_VERSIONED_WRITE)

    async def upsert(
        self, key: str, version: int, doc: str, *, event_id: str, index: str | None = None,
        member: str = "",
    ) -> bool:
        """Store ``doc`` unless a newer version is already there. True if applied."""
        keys = [key, index] if index else [key]
        applied = await self._script(keys=keys, args=[version, "upsert", doc, member, event_id])
        return bool(applied)

    async def delete(
        self, key: str, version: int, *, event_id: str, index: str | None = None, member: str = ""
    ) -> bool:
        keys = [key, index] if index else [key]
        applied = await self._script(keys=keys, args=[version, "delete", "", member, event_id])
        return bool(applied)

    async def get(self, key: str) -> StoredDoc | None:
        raw: dict[str, str] = await self._client.hgetall(key)  # type: ignore[assignment]
        if not raw:
            return None
        return StoredDoc(
            version=int(raw["v"]),
            deleted=raw.get("deleted") == "1",
            doc=raw.get("doc"),
            event_id=raw.get("event"),
        )
