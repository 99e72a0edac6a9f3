"""Rebuild the customer 360 read model from Kafka, and verify one model against another.

:func:`rebuild` reads every canonical topic the worker consumes (:data:`~customer_cache.store.
CUSTOMER_ENTITIES`) from its first offset up to the end offsets captured when it starts, validates
each record as the worker does (an invalid one is counted and skipped: the worker sent it to the
dead-letter topic already), applies the events in batches with
:class:`~customer_cache.store.RecordStore` (stage 1) and then runs a
:class:`~customer_cache.resolver.Resolver` of its own until nothing is dirty (stages 2 and 3). It
writes under a prefix of its own (``c360-rebuild-<UTC time>`` by default), beside the live model, so
it can run while the workers serve; identity events are not published (a rebuild decides nothing new).

Because stages 2 and 3 are pure functions of the latest source records, the rebuilt model is the
model the workers built incrementally; :func:`verify` checks that, key family by key family, in
batches (memory bounded: nothing is loaded whole):

* ``customers`` (the listing) and every customer's document (``cust:``) and member set, walked in id
  order over the union of both listings — compared byte for byte, **nothing is ignored** (the
  document carries no clock and no arrival order, see :mod:`customer_cache.view.model`);
* every document and member set against its own model's listing (one not listed is a difference);
* exact lookups (``lk:``), the fuzzy search indexes (``s:``) and the identifier index (``idx:``);
* redirects (``moved:``) by where they lead: an id redirected on both sides must end at the same
  customer. A redirect on one side only, for an id the other side does not know, is *merge history*
  (an id that existed for a while before it was merged away; which ones existed depends on the order
  in which the changes arrived), reported but not a difference.

Not compared: the stage 1 records (``rec:``, ``kids:``, ``ostat:``) and profiles (``sp:``), working
state whose history legitimately differs (a record superseded before compaction, a stale child link,
the profile of a party that was only ever referenced), the dirty set, the lease and pending channel
writes (``pw:``), which are not derived from Kafka.

The rebuild holds the target prefix's resolver lease (``{prefix}:resolver:lease``) from start to end:
it refuses to start while a resolver (a running worker, another rebuild) holds it, and no worker's
resolver can work on that prefix meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, cast

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import ValidationError
from redis.exceptions import RedisError

from customer_cache.events import IdentityEvent
from customer_cache.identity import IdentityRules
from customer_cache.keys import DEFAULT_PREFIX, Keys
from customer_cache.resolver import Resolver
from customer_cache.search.index import INDEXES
from customer_cache.store import CUSTOMER_ENTITIES, ENTITY_MODELS, RecordStore
from overlay import topics
from overlay.events import ChangeEvent, EntityType
from overlay.logging import get_logger
from overlay.redis import execute_many, make_redis
from overlay.settings import Settings

log = get_logger(__name__)

MAX_MOVED_HOPS = 8
"""As :data:`customer_cache.reader.MAX_MOVED_HOPS`: a redirect chain longer than this leads nowhere."""

_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_STALL_S = 120.0
_SCAN_COUNT = 1000


class RebuildError(Exception):
    """The rebuild cannot start or cannot go on (the message says why and what to do)."""


class ProgressCallback(Protocol):
    def __call__(self, phase: str, done: int, total: int | None) -> None:
        """``phase`` ``read`` (offsets of the canonical topics consumed / to consume), ``resolve``
        (dirty source parties resolved / resolved plus still dirty), verify's ``customers`` and
        ``keys``; ``total`` None while unknown."""
        ...


def check_prefix(prefix: str) -> str:
    """A model prefix is letters, digits, ``.``, ``_``, ``-``: no ``:`` (a prefix ``c360:x`` would
    live inside ``c360``'s keys) and no glob characters (SCAN patterns)."""
    if not _PREFIX.match(prefix):
        raise RebuildError(
            f"invalid prefix {prefix!r}: use letters, digits, '.', '_' and '-' (no ':' or '*')"
        )
    return prefix


def default_prefix(now: datetime | None = None) -> str:
    """``c360-rebuild-YYYYmmdd-HHMMSS`` (UTC)."""
    moment = now or datetime.now(UTC)
    return f"{DEFAULT_PREFIX}-rebuild-{moment:%Y%m%d-%H%M%S}"


def _match(keys: Keys, family: str = "") -> str:
    """SCAN pattern of the model's keys (of one family); prefixes hold no glob characters."""
    return f"{check_prefix(keys.prefix)}:{family}*"


# --- keys of a prefix ---------------------------------------------------------------------------------


async def _scan(client: aioredis.Redis, pattern: str, count: int = _SCAN_COUNT) -> AsyncIterator[list[str]]:
    """The keys matching ``pattern``, one SCAN reply at a time (deduplicated within a reply)."""
    cursor: int = 0
    while True:
        cursor, found = await client.scan(cursor=cursor, match=pattern, count=count)
        if found:
            yield sorted({str(k) for k in found})
        if cursor == 0:
            return


async def holds_keys(client: aioredis.Redis, keys: Keys, *, ignore: Iterable[str] = ()) -> bool:
    """Whether any key of the prefix exists (but those in ``ignore``). One SCAN pass at worst."""
    skip = set(ignore)
    async for found in _scan(client, _match(keys), count=10_000):
        if any(k not in skip for k in found):
            return True
    return False


async def drop(client: aioredis.Redis, keys: Keys, *, keep: Iterable[str] = (), batch: int = 1000) -> int:
    """Delete every key of the prefix (SCAN + UNLINK in batches) but those in ``keep``; how many."""
    skip = set(keep)
    deleted = 0
    pending: list[str] = []
    async for found in _scan(client, _match(keys)):
        pending += [k for k in found if k not in skip]
        while len(pending) >= batch:
            chunk, pending = pending[:batch], pending[batch:]
            deleted += int(await client.unlink(*chunk))
    if pending:
        deleted += int(await client.unlink(*pending))
    return deleted


# --- rebuild ------------------------------------------------------------------------------------------


@dataclass
class RebuildReport:
    prefix: str
    topics: list[str]
    partitions: int = 0
    offsets: int = 0
    """Sum over the partitions of (end - first offset) when the rebuild started."""
    events_read: int = 0
    events_applied: int = 0
    events_ignored: int = 0
    """Valid events older than the version already stored (an equal version, a duplicate, applies
    again: see :mod:`overlay.redis`)."""
    events_invalid: int = 0
    keys_deleted: int = 0
    parties_resolved: int = 0
    unresolved: int = 0
    """Source parties still dirty at the end (their data breaks resolution, see the resolver's log)."""
    customers: int = 0
    read_seconds: float = 0.0
    resolve_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return self.unresolved == 0

    @property
    def events_per_second(self) -> float:
        return self.events_read / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["events_per_second"] = round(self.events_per_second, 1)
        for name in ("read_seconds", "resolve_seconds", "seconds"):
            out[name] = round(out[name], 3)
        return out


def customer_topics(settings: Settings) -> dict[str, EntityType]:
    """The canonical topics the customer 360 worker consumes → their entity."""
    return {topics.BY_ENTITY[e].full_name(settings): e for e in CUSTOMER_ENTITIES}


class _Decoder:
    """Raw Kafka values → change events, validated as the worker validates them."""

    def __init__(self, by_topic: dict[str, EntityType]) -> None:
        self._by_topic = by_topic
        self._models: dict[str, Any] = {
            t: cast(Any, ChangeEvent)[ENTITY_MODELS[e.value]] for t, e in by_topic.items()
        }

    def __call__(self, topic: str, raw: bytes | None) -> ChangeEvent[Any] | None:
        """The event, or None for an invalid record (not JSON, not a valid event, a Kafka tombstone,
        or an event of another entity)."""
        try:
            event: ChangeEvent[Any] = self._models[topic].model_validate_json(raw)
        except (ValidationError, ValueError):
            return None
        if event.entity_type is not self._by_topic[topic]:
            return None
        return event


class _Unpublished:
    """Where the rebuild's resolver "publishes" identity events: nowhere (a rebuild decides nothing
    new), counting them and keeping none (:class:`~customer_cache.resolver.NullPublisher` keeps them
    all, too much for millions of customers)."""

    def __init__(self) -> None:
        self.count = 0

    async def publish(self, events: Sequence[IdentityEvent]) -> None:
        self.count += len(events)


class _LeaseKeeper:
    """Renews the rebuild resolver's lease in the background while stage 1 runs (which can take
    minutes); ``lost`` once another holder has it."""

    def __init__(self, resolver: Resolver) -> None:
        self._resolver = resolver
        self.lost = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"lease:{self._resolver.owner}")

    async def _run(self) -> None:
        interval = max(0.1, self._resolver.lease_ms / 3000)
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self._resolver.hold_lease():
                    self.lost = True
                    return
            except RedisError as exc:  # try again; the lease lasts a few intervals
                log.warning("rebuild.lease_renew_failed", error=type(exc).__name__)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def rebuild(
    settings: Settings,
    keys: Keys,
    *,
    progress: ProgressCallback | None = None,
    replace: bool = False,
    client: aioredis.Redis | None = None,
    apply_batch: int = 2000,
    resolver_batch: int | None = None,
    rules: IdentityRules | None = None,
) -> RebuildReport:
    """Recompute the whole customer 360 under ``keys.prefix`` from the canonical topics.

    Refuses (:class:`RebuildError`) if a resolver holds the prefix's lease, or if the prefix holds
    keys and ``replace`` is False; with ``replace`` its keys are deleted first. ``client`` must decode
    responses (as :func:`overlay.redis.make_redis`); one is made from ``settings`` if not given."""
    check_prefix(keys.prefix)
    own = client is None
    redis_client = make_redis(settings) if client is None else client
    report = RebuildReport(prefix=keys.prefix, topics=sorted(customer_topics(settings)))
    started = time.perf_counter()
    resolver = Resolver(
        redis_client, keys=keys, rules=rules, publisher=_Unpublished(),
        batch_size=resolver_batch or settings.resolver_batch_size, lease_ms=settings.resolver_lease_ms,
        owner=f"rebuild-{keys.prefix}-{int(time.time())}",
    )
    keeper = _LeaseKeeper(resolver)
    try:
        if not await resolver.hold_lease():
            holder = await redis_client.get(keys.resolver_lease)
            raise RebuildError(
                f"the resolver lease of prefix {keys.prefix!r} is held by {holder!r}: a worker or "
                "another rebuild is working on it (stop the workers before rebuilding the live prefix; "
                f"the lease of a holder that died expires after {settings.resolver_lease_ms} ms)"
            )
        keeper.start()
        lease = {keys.resolver_lease}
        if await holds_keys(redis_client, keys, ignore=lease):
            if not replace:
                raise RebuildError(
                    f"prefix {keys.prefix!r} holds keys: choose another prefix, or pass --replace to "
                    "delete them first"
                )
            report.keys_deleted = await drop(redis_client, keys, keep=lease)
            log.info("rebuild.replaced", prefix=keys.prefix, keys_deleted=report.keys_deleted)

        await _read_and_apply(settings, RecordStore(redis_client, keys), report, keeper, progress,
                              apply_batch)
        report.read_seconds = time.perf_counter() - started

        resolve_started = time.perf_counter()
        await _resolve(redis_client, resolver, report, keeper, progress)
        report.resolve_seconds = time.perf_counter() - resolve_started
        report.customers = int(await redis_client.zcard(keys.customers))
    finally:
        await keeper.stop()
        with contextlib.suppress(RedisError, OSError):
            await resolver.release_lease()
        if own:
            await redis_client.aclose()
    report.seconds = time.perf_counter() - started
    log.info("rebuild.done", **{k: v for k, v in report.as_dict().items() if k != "topics"})
    return report


async def _read_and_apply(
    settings: Settings, store: RecordStore, report: RebuildReport, keeper: _LeaseKeeper,
    progress: ProgressCallback | None, apply_batch: int,
) -> None:
    by_topic = customer_topics(settings)
    decode = _Decoder(by_topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", client_id="overlay-cache-rebuild",
    )
    await consumer.start()
    try:
        available = await consumer.topics()
        missing = sorted(set(by_topic) - set(available))
        if missing:
            raise RebuildError(f"topics missing: {', '.join(missing)} (run 'overlay topics ensure')")
        tps = await _partitions(settings, sorted(by_topic))
        begin: dict[Any, int] = await consumer.beginning_offsets(tps)
        end: dict[Any, int] = await consumer.end_offsets(tps)
        report.partitions = len(tps)
        report.offsets = sum(end[tp] - begin[tp] for tp in tps)
        consumer.assign(tps)
        position = {tp: begin[tp] for tp in tps}
        for tp in tps:
            consumer.seek(tp, begin[tp])
        pending = {tp for tp in tps if end[tp] > begin[tp]}
        done = {tp for tp in tps if tp not in pending}
        if done:
            consumer.pause(*done)

        def consumed() -> int:
            return sum(min(position[tp], end[tp]) - begin[tp] for tp in tps)

        if progress is not None:
            progress("read", 0, report.offsets)
        batch: list[ChangeEvent[Any]] = []
        last_progress = time.monotonic()
        while pending:
            if keeper.lost:
                raise RebuildError(f"the resolver lease of prefix {store.keys.prefix!r} was lost")
            records = await consumer.getmany(*pending, timeout_ms=500, max_records=apply_batch)
            for tp, rows in records.items():
                for row in rows:
                    if row.offset >= end[tp]:
                        break  # written after the rebuild started: not part of it
                    report.events_read += 1
                    event = decode(tp.topic, row.value)
                    if event is None:
                        report.events_invalid += 1
                        continue
                    batch.append(event)
            if len(batch) >= apply_batch:
                await _apply(store, batch, report)
                batch = []
            moved = False
            for tp in sorted(pending, key=lambda t: (t.topic, t.partition)):
                now = await consumer.position(tp)
                if now != position[tp]:
                    position[tp], moved = now, True
                if now >= end[tp]:
                    pending.discard(tp)
                    consumer.pause(tp)
            if moved:
                last_progress = time.monotonic()
                if progress is not None:
                    progress("read", consumed(), report.offsets)
            elif time.monotonic() - last_progress > _STALL_S:
                stuck = ", ".join(f"{tp.topic}[{tp.partition}]@{position[tp]}/{end[tp]}" for tp in pending)
                raise RebuildError(f"no progress reading for {_STALL_S:.0f} s: {stuck}")
        if batch:
            await _apply(store, batch, report)
        if progress is not None:
            progress("read", report.offsets, report.offsets)
    finally:
        await consumer.stop()


async def _partitions(settings: Settings, names: list[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="overlay-cache-rebuild")
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    return sorted(
        (TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]),
        key=lambda tp: (tp.topic, tp.partition),
    )


async def _apply(store: RecordStore, events: Sequence[ChangeEvent[Any]], report: RebuildReport) -> None:
    flags = await store.apply(events)
    applied = sum(flags)
    report.events_applied += applied
    report.events_ignored += len(flags) - applied


async def _resolve(
    client: aioredis.Redis, resolver: Resolver, report: RebuildReport, keeper: _LeaseKeeper,
    progress: ProgressCallback | None,
) -> None:
    dirty = resolver.keys.dirty
    total = int(await client.zcard(dirty))
    if progress is not None:
        progress("resolve", 0, total)
    idle = 0  # batches in a row that resolved nobody (only parties whose data fails are left)
    failures = 0
    while idle < 3:
        if keeper.lost or not await resolver.hold_lease():
            raise RebuildError(f"the resolver lease of prefix {resolver.keys.prefix!r} was lost")
        try:
            result = await resolver.run_once()
        except (RedisError, OSError, TimeoutError) as exc:
            failures += 1
            if failures > 5:
                raise
            log.warning("rebuild.resolve_retry", error=type(exc).__name__, attempt=failures)
            await asyncio.sleep(0.2 * 2**failures)
            continue
        failures = 0
        if result is None:
            break
        report.parties_resolved += result.parties
        idle = 0 if result.parties else idle + 1
        if progress is not None:
            total = report.parties_resolved + int(await client.zcard(dirty))
            progress("resolve", report.parties_resolved, total)
    report.unresolved = int(await client.zcard(dirty))
    if progress is not None:
        progress("resolve", report.parties_resolved, report.parties_resolved + report.unresolved)


# --- verify -------------------------------------------------------------------------------------------


@dataclass
class Example:
    """One difference: a customer id (or a key of another family) and what differs."""

    id: str
    detail: list[str]


@dataclass
class Tally:
    """The comparison of one key family between the live (L) and the rebuilt (R) model."""

    family: str
    compared: int = 0
    identical: int = 0
    differing: int = 0
    only_live: int = 0
    only_rebuilt: int = 0
    one_sided_ok: bool = False
    """Keys on one side only are not differences (the redirects of merge history)."""
    examples: list[Example] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.differing == 0 and (self.one_sided_ok or self.only_live == self.only_rebuilt == 0)

    def note(self, limit: int, key: str, detail: list[str]) -> None:
        if len(self.examples) < limit:
            self.examples.append(Example(key, detail))


@dataclass
class VerifyReport:
    live: str
    rebuilt: str
    customers: Tally
    listing: Tally
    """Every document and member set checked against its own model's listing (``customers``): one
    whose id is not listed there counts on its side."""
    lookups: Tally
    search: Tally
    index: Tally
    redirects: Tally
    seconds: float = 0.0

    @property
    def tallies(self) -> list[Tally]:
        return [self.customers, self.listing, self.lookups, self.search, self.index, self.redirects]

    @property
    def identical(self) -> bool:
        return all(t.ok for t in self.tallies)

    @property
    def exit_code(self) -> int:
        return 0 if self.identical else 1

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"identical": self.identical, "live": self.live, "rebuilt": self.rebuilt}
        for t in self.tallies:
            entry = asdict(t)
            entry.pop("family")
            entry.pop("one_sided_ok")
            out[t.family] = entry
        out["seconds"] = round(self.seconds, 3)
        return out


def diff_fields(live: str | None, rebuilt: str | None) -> list[str]:
    """What differs between two 360 documents (JSON), as field paths: a top-level field, or
    ``field.sub`` inside ``golden`` / ``provenance``-like objects; ``document`` if one is missing."""
    if live == rebuilt:
        return []
    if live is None or rebuilt is None:
        return [f"document (missing in {'live' if live is None else 'rebuilt'})"]
    try:
        a, b = json.loads(live), json.loads(rebuilt)
    except ValueError:
        return ["document (not JSON)"]
    if not isinstance(a, dict) or not isinstance(b, dict):
        return ["document"]
    out: list[str] = []
    for name in sorted(a.keys() | b.keys()):
        va, vb = a.get(name), b.get(name)
        if va == vb:
            continue
        if isinstance(va, dict) and isinstance(vb, dict):
            out += [f"{name}.{sub}" for sub in sorted(va.keys() | vb.keys()) if va.get(sub) != vb.get(sub)]
        else:
            out.append(name)
    return out or ["document (formatting)"]  # equal as JSON values, different bytes


def classify_redirect(
    live_has: bool, live_end: str | None, rebuilt_has: bool, rebuilt_end: str | None,
) -> str:
    """``identical``, ``differing``, ``only_live`` or ``only_rebuilt`` for an id that has a redirect
    on at least one side; ``*_end`` is where the id leads on that side (the customer reached
    following redirects, itself if it is a customer; None: nowhere).

    A redirect on one side only is merge history when the other side does not know the id at all;
    if the other side leads somewhere else, the two models disagree."""
    if live_has and rebuilt_has:
        return "identical" if live_end == rebuilt_end else "differing"
    same = "identical" if live_end == rebuilt_end else "differing"
    if live_has:
        return "only_live" if rebuilt_end is None else same
    return "only_rebuilt" if live_end is None else same


async def _lex_walk(client: aioredis.Redis, key: str, page: int) -> AsyncIterator[list[str]]:
    """The members of a sorted set whose scores are all 0, in lexical order, a page at a time; a
    member added or removed meanwhile is seen or not, never repeated."""
    low = "-"
    while True:
        members = [str(m) for m in await client.zrangebylex(key, low, "+", start=0, num=page)]
        if members:
            yield members
        if len(members) < page:
            return
        low = "(" + members[-1]


async def _merged(
    client: aioredis.Redis, a: str, b: str, page: int,
) -> AsyncIterator[list[tuple[str, bool, bool]]]:
    """The union of two lexically ordered sorted sets in order: (member, in a, in b), in pages."""
    walks = (_lex_walk(client, a, page), _lex_walk(client, b, page))

    async def pull(it: AsyncIterator[list[str]]) -> list[str]:
        return await anext(it, [])

    buf_a, buf_b = await pull(walks[0]), await pull(walks[1])
    ia = ib = 0
    out: list[tuple[str, bool, bool]] = []
    while True:
        if ia == len(buf_a) and buf_a:
            buf_a, ia = await pull(walks[0]), 0
        if ib == len(buf_b) and buf_b:
            buf_b, ib = await pull(walks[1]), 0
        more_a, more_b = ia < len(buf_a), ib < len(buf_b)
        if not more_a and not more_b:
            break
        if more_a and (not more_b or buf_a[ia] < buf_b[ib]):
            out.append((buf_a[ia], True, False))
            ia += 1
        elif more_b and (not more_a or buf_b[ib] < buf_a[ia]):
            out.append((buf_b[ib], False, True))
            ib += 1
        else:
            out.append((buf_a[ia], True, True))
            ia += 1
            ib += 1
        if len(out) >= page:
            yield out
            out = []
    if out:
        yield out


async def _run(client: aioredis.Redis, commands: Sequence[Sequence[str | int]]) -> list[Any]:
    """Single-key commands in one round trip (:func:`overlay.redis.execute_many`: packed by hand on a
    plain client, a pipeline on a cluster client); the first error reply raised."""
    replies = await execute_many(client, commands)
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


def _set(reply: Any) -> set[str]:
    """A set reply, whatever the protocol and client (a set, a list, None)."""
    return {str(m) for m in reply} if reply else set()


async def verify(
    client: aioredis.Redis,
    live: Keys,
    rebuilt: Keys,
    *,
    examples: int = 20,
    page: int = 500,
    progress: ProgressCallback | None = None,
) -> VerifyReport:
    """Compare the model under ``rebuilt.prefix`` with the one under ``live.prefix`` (see the module
    documentation for what is compared). ``client`` must decode responses."""
    check_prefix(live.prefix)
    check_prefix(rebuilt.prefix)
    started = time.perf_counter()
    report = VerifyReport(
        live=live.prefix, rebuilt=rebuilt.prefix,
        customers=Tally("customers"), listing=Tally("listing"), lookups=Tally("lookups"),
        search=Tally("search"), index=Tally("index"), redirects=Tally("redirects", one_sided_ok=True),
    )
    await _compare_customers(client, live, rebuilt, report.customers, examples, page, progress)
    await _compare_search(client, live, rebuilt, report.search, examples, page)
    await _compare_keys(client, live, rebuilt, report, examples, page, progress)
    report.seconds = time.perf_counter() - started
    return report


async def _compare_customers(
    client: aioredis.Redis, live: Keys, rebuilt: Keys, tally: Tally, limit: int, page: int,
    progress: ProgressCallback | None,
) -> None:
    sizes = await _run(client, [("ZCARD", live.customers), ("ZCARD", rebuilt.customers)])
    total = max(int(sizes[0]), int(sizes[1]))
    async for chunk in _merged(client, live.customers, rebuilt.customers, page):
        commands: list[tuple[str, str]] = []
        for cid, _, _ in chunk:
            commands += [("GET", live.customer(cid)), ("GET", rebuilt.customer(cid)),
                         ("SMEMBERS", live.members(cid)), ("SMEMBERS", rebuilt.members(cid))]
        raw = await _run(client, commands)
        for i, (cid, in_live, in_rebuilt) in enumerate(chunk):
            tally.compared += 1
            if not in_rebuilt:
                tally.only_live += 1
                tally.note(limit, cid, ["missing in rebuilt"])
                continue
            if not in_live:
                tally.only_rebuilt += 1
                tally.note(limit, cid, ["missing in live"])
                continue
            doc_l, doc_r, mem_l, mem_r = raw[4 * i: 4 * i + 4]
            fields = diff_fields(doc_l, doc_r)
            if _set(mem_l) != _set(mem_r):
                fields.append("members")
            if fields:
                tally.differing += 1
                tally.note(limit, cid, fields)
            else:
                tally.identical += 1
        if progress is not None:
            progress("customers", tally.compared, total if tally.compared <= total else None)


async def _compare_search(
    client: aioredis.Redis, live: Keys, rebuilt: Keys, tally: Tally, limit: int, page: int,
) -> None:
    for index in INDEXES:
        async for chunk in _merged(client, live.search(index), rebuilt.search(index), page):
            for member, in_live, in_rebuilt in chunk:
                tally.compared += 1
                if in_live and in_rebuilt:
                    tally.identical += 1
                    continue
                side = "live" if in_live else "rebuilt"
                if in_live:
                    tally.only_live += 1
                else:
                    tally.only_rebuilt += 1
                # the member's customer id is its seventh field (customer_cache.search.index)
                parts = member.split("|")
                who = parts[6] if len(parts) == 9 else member[:80]
                tally.note(limit, f"{index}:{who}", [f"entry only in {side}: {member[:120]}"])


_SET_FAMILIES = ("lk", "idx")
_OWN_FAMILIES = ("cust", "members")


async def _compare_keys(
    client: aioredis.Redis, live: Keys, rebuilt: Keys, report: VerifyReport, limit: int, page: int,
    progress: ProgressCallback | None,
) -> None:
    """One SCAN pass over each model: documents and member sets against the listing, lookups, the
    identifier index and redirects."""
    seen = 0
    for side, own, other in (("live", live, rebuilt), ("rebuilt", rebuilt, live)):
        groups: dict[str, list[str]] = {}
        offset = len(own.prefix) + 1

        async def flush(family: str, rests: list[str], side: str = side, own: Keys = own,
                        other: Keys = other) -> None:
            if family in _OWN_FAMILIES:
                await _check_listed(client, own, family, rests, report.listing, side, limit)
            elif family in _SET_FAMILIES:
                tally = report.lookups if family == "lk" else report.index
                await _compare_sets(client, own, other, family, rests, tally, side, limit)
            else:
                await _compare_redirects(client, live, rebuilt, rests, report.redirects, side, limit)

        async for found in _scan(client, _match(own)):
            for key in found:
                family, sep, rest = key[offset:].partition(":")
                if sep and family in (*_OWN_FAMILIES, *_SET_FAMILIES, "moved"):
                    groups.setdefault(family, []).append(rest)
            for family, rests in list(groups.items()):
                if len(rests) >= page:
                    await flush(family, rests)
                    seen += len(rests)
                    groups[family] = []
            if progress is not None:
                progress("keys", seen, None)
        for family, rests in groups.items():
            if rests:
                await flush(family, rests)
                seen += len(rests)
    if progress is not None:
        progress("keys", seen, seen)


async def _check_listed(
    client: aioredis.Redis, keys: Keys, family: str, ids: list[str], tally: Tally, side: str, limit: int,
) -> None:
    [scores] = await _run(client, [("ZMSCORE", keys.customers, *ids)])
    for cid, score in zip(ids, scores, strict=True):
        tally.compared += 1
        if score is not None:
            tally.identical += 1
            continue
        if side == "live":
            tally.only_live += 1
        else:
            tally.only_rebuilt += 1
        what = "document" if family == "cust" else "member set"
        tally.note(limit, cid, [f"{what} in {side} but the id is not in its listing"])


async def _compare_sets(
    client: aioredis.Redis, own: Keys, other: Keys, family: str, rests: list[str], tally: Tally, side: str,
    limit: int,
) -> None:
    own_keys = [f"{own.prefix}:{family}:{r}" for r in rests]
    other_keys = [f"{other.prefix}:{family}:{r}" for r in rests]
    if side == "rebuilt":  # compared in the live pass already; only what live lacks is left
        exists = await _run(client, [("EXISTS", k) for k in other_keys])
        for rest, n in zip(rests, exists, strict=True):
            if not int(n):
                tally.compared += 1
                tally.only_rebuilt += 1
                tally.note(limit, f"{family}:{rest}", ["only in rebuilt"])
        return
    raw = await _run(client, [("SMEMBERS", k) for pair in zip(own_keys, other_keys, strict=True)
                              for k in pair])
    for i, rest in enumerate(rests):
        mine, theirs = _set(raw[2 * i]), _set(raw[2 * i + 1])
        tally.compared += 1
        if mine == theirs:
            tally.identical += 1
        elif not theirs:
            tally.only_live += 1
            tally.note(limit, f"{family}:{rest}", ["only in live"])
        else:
            tally.differing += 1
            detail = [f"only in live: {', '.join(sorted(mine - theirs)[:5])}"] if mine - theirs else []
            if theirs - mine:
                detail.append(f"only in rebuilt: {', '.join(sorted(theirs - mine)[:5])}")
            tally.note(limit, f"{family}:{rest}", detail)


async def _ends(client: aioredis.Redis, keys: Keys, ids: Sequence[str]) -> dict[str, tuple[bool, str | None]]:
    """For each id: whether it has a redirect, and the customer it leads to as a reader follows it
    (its own document first, then ``moved``; None: nowhere)."""
    current = {cid: cid for cid in ids}
    seen: dict[str, set[str]] = {cid: {cid} for cid in ids}
    has: dict[str, bool] = {}
    out: dict[str, tuple[bool, str | None]] = {}
    for _ in range(MAX_MOVED_HOPS + 1):
        if not current:
            break
        order = sorted(current)
        commands: list[tuple[str, str]] = []
        for cid in order:
            commands += [("EXISTS", keys.customer(current[cid])), ("GET", keys.moved(current[cid]))]
        raw = await _run(client, commands)
        for i, cid in enumerate(order):
            exists, target = int(raw[2 * i]), raw[2 * i + 1]
            if cid not in has:
                has[cid] = target is not None
            if exists:
                out[cid] = (has[cid], current.pop(cid))
            elif target is None or target in seen[cid]:
                out[cid] = (has[cid], None)
                current.pop(cid)
            else:
                seen[cid].add(target)
                current[cid] = target
    for cid in current:
        out[cid] = (has.get(cid, False), None)
    return out


async def _compare_redirects(
    client: aioredis.Redis, live: Keys, rebuilt: Keys, ids: list[str], tally: Tally, side: str, limit: int,
) -> None:
    ends_l, ends_r = await asyncio.gather(_ends(client, live, ids), _ends(client, rebuilt, ids))
    for cid in ids:
        (has_l, end_l), (has_r, end_r) = ends_l[cid], ends_r[cid]
        if side == "rebuilt" and has_l:
            continue  # compared in the live pass
        verdict = classify_redirect(has_l, end_l, has_r, end_r)
        tally.compared += 1
        if verdict == "identical":
            tally.identical += 1
        elif verdict == "differing":
            tally.differing += 1
            tally.note(limit, cid, [f"leads to {end_l} in live, {end_r} in rebuilt"])
        elif verdict == "only_live":
            tally.only_live += 1
        else:
            tally.only_rebuilt += 1


# --- helpers for the CLI ------------------------------------------------------------------------------


async def with_client(settings: Settings, work: Callable[[aioredis.Redis], Awaitable[Any]]) -> Any:
    """Run ``work`` with a Redis client made from ``settings``, closed afterwards."""
    client = make_redis(settings)
    try:
        return await work(client)
    finally:
        await client.aclose()
