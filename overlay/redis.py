"""Redis plumbing: the client factory and the version-guarded record write every read model uses.

A read model stores each source record as a hash ``{v, deleted, doc, event, …}``. The write is one
Lua script touching **one key** (so it runs on a Redis Cluster or Valkey as well as on one server),
atomic on the server: it applies an upsert or delete only if its version is not older than the
stored one, and a delete leaves a versioned tombstone, so an old upsert replayed after the delete
cannot bring the record back. That makes at-least-once delivery and full replays safe.

Equal versions are applied again (a redelivered event after a crash repeats its follow-up work; a
source whose clock gives two changes one version keeps the later one in Kafka order). The script also
keeps a record's *link* (the record it belongs to, e.g. a contact medium's party): a delete keeps
the stored one (its event names nobody), and when an upsert changes it the previous link is kept
in ``prev`` (with the version that changed it in ``pv``), so the caller can tell both owners that
something changed — also when it repeats that write after a crash.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import redis.asyncio as aioredis
from redis.asyncio.connection import ConnectionPool
from redis.commands.core import CoreCommands
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from overlay.settings import Settings, get_settings


def make_redis(settings: Settings | None = None, **overrides: Any) -> aioredis.Redis:
    s = settings or get_settings()
    options: dict[str, Any] = {"decode_responses": True, "health_check_interval": 30}
    options.update(overrides)
    client: aioredis.Redis = aioredis.from_url(s.redis_url.get_secret_value(), **options)
    return client


Arg = str | bytes | int | float


class Commands(CoreCommands):
    """Commands queued as argument tuples, built by the client library's own command methods
    (``cmds.zadd(key, mapping, lt=True)``, ``cmds.hget(key, field)`` …): what a pipeline would send,
    for :func:`execute_many`. Passes for a pipeline where only commands are queued (e.g.
    :func:`customer_cache.search.index.search_ops`)."""

    _is_async_client: Literal[False] = False  # typed as the library's synchronous client
    _event_dispatcher: Any = None

    def __init__(self) -> None:
        self.commands: list[tuple[Arg, ...]] = []

    def execute_command(self, *args: Any, **options: Any) -> Commands:
        self.commands.append(args)
        return self

    def __len__(self) -> int:
        return len(self.commands)


def pack_command(*args: Arg) -> bytes:
    """One command in the Redis protocol (an array of bulk strings)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int):
            data = b"%d" % arg
        else:
            data = repr(arg).encode()
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


class _Incomplete(Exception):
    pass


class _ReplyParser:
    """RESP2/RESP3 replies from a byte buffer, as the client library would return them without
    response callbacks (maps as dicts, sets as sets; an error reply as its exception object)."""

    def __init__(self, encoding: str | None, errors: str = "strict") -> None:
        self.encoding = encoding
        self.errors = errors

    def text(self, data: bytes) -> str | bytes:
        return data.decode(self.encoding, self.errors) if self.encoding else data

    def parse(self, buf: bytes, pos: int) -> tuple[Any, int]:
        end = buf.find(b"\r\n", pos)
        if end < 0:
            raise _Incomplete
        kind = buf[pos:pos + 1]
        line = buf[pos + 1:end]
        pos = end + 2
        if kind == b"$" or kind == b"=" or kind == b"!":
            n = int(line)
            if n < 0:
                return None, pos
            if len(buf) < pos + n + 2:
                raise _Incomplete
            data = buf[pos:pos + n]
            pos += n + 2
            if kind == b"=":
                data = data[4:]  # "txt:" / "mkd:"
            if kind == b"!":
                return _error(data.decode(errors="replace")), pos
            return self.text(data), pos
        if kind == b":" or kind == b"(":
            return int(line), pos
        if kind == b"+":
            return self.text(line), pos
        if kind == b"-":
            return _error(line.decode(errors="replace")), pos
        if kind == b"*" or kind == b"~" or kind == b">":
            n = int(line)
            if n < 0:
                return None, pos
            items = []
            for _ in range(n):
                item, pos = self.parse(buf, pos)
                items.append(item)
            return (set(items) if kind == b"~" else items), pos
        if kind == b"%":
            out: dict[Any, Any] = {}
            for _ in range(int(line)):
                key, pos = self.parse(buf, pos)
                out[key], pos = self.parse(buf, pos)
            return out, pos
        if kind == b"_":
            return None, pos
        if kind == b",":
            return float(line), pos
        if kind == b"#":
            return line == b"t", pos
        if kind == b"|":  # attributes: skipped
            for _ in range(2 * int(line)):
                _, pos = self.parse(buf, pos)
            return self.parse(buf, pos)
        raise ResponseError(f"unexpected reply type {kind!r}")


def _error(message: str) -> ResponseError:
    if message.startswith("NOSCRIPT"):
        return NoScriptError(message)
    return ResponseError(message)


async def _read_replies(connection: Any, count: int, timeout: float | None) -> list[Any]:
    reader = connection._reader
    encoder = connection.encoder
    parser = _ReplyParser(encoder.encoding if encoder.decode_responses else None, encoder.encoding_errors)
    replies: list[Any] = []
    buf = b""
    pos = 0
    while len(replies) < count:
        try:
            reply, end = parser.parse(buf, pos)
        except _Incomplete:
            chunk = await asyncio.wait_for(reader.read(1 << 16), timeout)
            if not chunk:
                raise RedisConnectionError("connection closed by the server") from None
            buf = buf[pos:] + chunk
            pos = 0
            continue
        replies.append(reply)
        pos = end
    if pos != len(buf):
        raise RedisConnectionError("more replies than commands")
    return replies


async def execute_many(client: aioredis.Redis, commands: Sequence[Sequence[Arg]]) -> list[Any]:
    """Run ``commands`` in one round trip, as a pipeline without transaction would (but without
    response callbacks: hashes as dicts or flat lists, sets as sets or lists, per protocol); a reply
    that is an error comes back as its exception, in its place.

    With a plain client the commands are packed and the replies parsed here, several times cheaper
    than the client library does it (the hot paths of the customer 360 send thousands of small
    commands per batch); any other client (a cluster client routes commands by slot) runs them
    through its pipeline."""
    if not commands:
        return []
    pool = getattr(client, "connection_pool", None)
    if type(client) is not aioredis.Redis or not isinstance(pool, ConnectionPool):
        async with client.pipeline(transaction=False) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            return list(await pipe.execute(raise_on_error=False))
    payload = b"".join([pack_command(*command) for command in commands])
    plain: Any = pool
    try:
        connection = await plain.get_connection()
    except TypeError:  # redis-py < 5.3 wants a command name
        connection = await plain.get_connection("EVALSHA")
    try:
        await connection.send_packed_command(payload)
        if isinstance(getattr(connection, "_reader", None), asyncio.StreamReader):
            replies = await _read_replies(connection, len(commands),
                                          getattr(connection, "socket_timeout", None) or 60.0)
        else:
            replies = []
            for _ in commands:
                try:
                    replies.append(await connection.read_response())
                except ResponseError as exc:
                    replies.append(exc)
    except BaseException:
        await connection.disconnect()  # replies may be left unread: never reuse it
        raise
    finally:
        await plain.release(connection)
    return replies


async def execute(client: aioredis.Redis, commands: Commands | Sequence[Sequence[Arg]]) -> list[Any]:
    """:func:`execute_many`, raising the first error reply (after every command ran)."""
    replies = await execute_many(client, commands.commands if isinstance(commands, Commands) else commands)
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


def as_dict(reply: Any) -> dict[Any, Any]:
    """A hash reply (a dict in RESP3, a flat list in RESP2)."""
    if isinstance(reply, dict):
        return reply
    if not reply:
        return {}
    return dict(zip(reply[::2], reply[1::2], strict=True))


def as_set(reply: Any) -> set[Any]:
    """A set reply (a set in RESP3, a list in RESP2)."""
    return set(reply) if reply else set()


VERSIONED_WRITE = """
-- KEYS[1]: the record hash.
-- ARGV[1] version (a non-negative integer in decimal), ARGV[2] 'upsert' | 'delete', ARGV[3] doc,
-- ARGV[4] event id, ARGV[5] link of an upsert ('' = none; a delete keeps the stored one),
-- ARGV[6..] field/value pairs to store as well ('' removes the field).
-- Returns 0 when a newer version is stored; 1 when an upsert applied and this version changed no
-- link; else the string "link\\nprev": the record's link, and the link before the change of link
-- made by this version ('' if it made none).
local cur = redis.call('HMGET', KEYS[1], 'v', 'link', 'pv', 'prev')
local v = ARGV[1]
local stored = cur[1]
if stored and (#stored > #v or (#stored == #v and stored > v)) then return 0 end
local link, pv, prev = cur[2], cur[3], cur[4]
local deleting = ARGV[2] == 'delete'
local new_link = ARGV[5]
if deleting then new_link = link or '' end
local fields = {'v', v, 'event', ARGV[4]}
local gone = {}
if link and new_link ~= link then
  prev, pv = link, v
  fields[#fields + 1] = 'prev'
  fields[#fields + 1] = link
  fields[#fields + 1] = 'pv'
  fields[#fields + 1] = v
end
if new_link ~= '' then
  fields[#fields + 1] = 'link'
  fields[#fields + 1] = new_link
else
  gone[#gone + 1] = 'link'
end
if deleting then
  fields[#fields + 1] = 'deleted'
  fields[#fields + 1] = '1'
  gone[#gone + 1] = 'doc'
else
  fields[#fields + 1] = 'deleted'
  fields[#fields + 1] = '0'
  fields[#fields + 1] = 'doc'
  fields[#fields + 1] = ARGV[3]
end
for i = 6, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    gone[#gone + 1] = ARGV[i]
  else
    fields[#fields + 1] = ARGV[i]
    fields[#fields + 1] = ARGV[i + 1]
  end
end
redis.call('HSET', KEYS[1], unpack(fields))
if #gone > 0 then redis.call('HDEL', KEYS[1], unpack(gone)) end
if pv ~= v then prev = '' end
if not deleting and prev == '' then return 1 end
return new_link .. '\\n' .. prev
"""


def write_result(reply: object, link: str) -> tuple[bool, str, str]:
    """(applied, link, prev) from a :data:`VERSIONED_WRITE` reply for a write that gave ``link``."""
    if reply == 0:
        return False, "", ""
    if reply == 1:
        return True, link, ""
    text = reply.decode() if isinstance(reply, bytes) else str(reply)
    kept, _, prev = text.partition("\n")
    return True, kept, prev


def versioned_write_args(
    version: int, *, deleted: bool, doc: str | bytes = "", event_id: str = "", link: str = "",
    extra: Sequence[str] = (),
) -> list[Any]:
    """ARGV of :data:`VERSIONED_WRITE`; ``extra`` is field, value, field, value…"""
    return [version, "delete" if deleted else "upsert", doc if not deleted else "", event_id, link, *extra]


class Script:
    """A Lua script run by EVALSHA, inline in pipelines (no SCRIPT EXISTS round trip per pipeline):
    load it once with :meth:`ensure`, and again with :meth:`load` after a ``NoScriptError`` (a Redis
    restarted or flushed its script cache)."""

    def __init__(self, source: str) -> None:
        import hashlib

        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
        self._loaded: set[int] = set()

    async def load(self, client: aioredis.Redis) -> None:
        await client.script_load(self.source)
        self._loaded.add(id(client))

    async def ensure(self, client: aioredis.Redis) -> None:
        if id(client) not in self._loaded:
            await self.load(client)

    def queue(self, pipe: Any, keys: Sequence[str], args: Sequence[Any]) -> None:
        pipe.evalsha(self.sha, len(keys), *keys, *args)

    async def __call__(self, client: aioredis.Redis, keys: Sequence[str], args: Sequence[Any]) -> Any:
        await self.ensure(client)
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.load(client)
            return await client.evalsha(self.sha, len(keys), *keys, *args)


VERSIONED_WRITE_SCRIPT = Script(VERSIONED_WRITE)


@dataclass(frozen=True)
class StoredDoc:
    version: int
    deleted: bool
    doc: str | None
    event_id: str | None


class VersionedDocStore:
    """Version-guarded documents, optionally listed in a lexicographic index (a sorted set).

    The document write and the index update are two single-key commands: the index follows the
    document only when the write applied, and a redelivered event (same version) applies again, so a
    crash between the two is repaired by the replay that at-least-once delivery brings."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client

    async def upsert(
        self, key: str, version: int, doc: str, *, event_id: str, index: str | None = None,
        member: str = "",
    ) -> bool:
        """Store ``doc`` unless a newer version is already there. True if applied."""
        result = await VERSIONED_WRITE_SCRIPT(
            self._client, [key], versioned_write_args(version, deleted=False, doc=doc, event_id=event_id)
        )
        applied = bool(result != 0)
        if applied and index:
            await self._client.zadd(index, {member: 0})
        return applied

    async def delete(
        self, key: str, version: int, *, event_id: str, index: str | None = None, member: str = ""
    ) -> bool:
        result = await VERSIONED_WRITE_SCRIPT(
            self._client, [key], versioned_write_args(version, deleted=True, event_id=event_id)
        )
        applied = bool(result != 0)
        if applied and index:
            await self._client.zrem(index, member)
        return applied

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
