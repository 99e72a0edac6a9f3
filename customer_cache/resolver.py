"""Stages 2 and 3 of the customer 360: dirty source parties → identity → the Customer360 documents.

One resolver works at a time (a Redis lease, ``SET NX PX`` renewed; every worker runs one, the
holder resolves, the others wait to take over). It takes batches of dirty parties and, per batch,
with a few pipelined round trips:

1. loads each party's records (:class:`~customer_cache.store.RecordStore`), builds its identity
   profile and moves its identifiers in the index (``idx:``) and its profile (``sp:`` ``prof``);
2. finds the clusters (:func:`customer_cache.identity.components`) around the dirty parties, the
   other parties of their previous customers (a party that leaves splits them) and the holders of an
   identifier whose holder count crossed ``max_holders`` (it links them, or stops linking them);
   until every customer touched is covered, its previous members included;
3. gives each cluster its id (:func:`customer_cache.identity.customer_id`), assembles its document
   (:func:`customer_cache.view.assemble.assemble`) and publishes the identity events
   (:mod:`customer_cache.events`) — before writing, so a crash repeats them rather than losing them;
4. writes everything in one pipeline, in an order that keeps every prefix recoverable (below), and
   removes the batch's dirty marks only where their score did not change meanwhile.

**Crash safety.** Stage 1 marks a party dirty after writing its record; the resolver never removes a
mark it did not see unchanged. Taking a batch *claims* its marks: their scores move up by
:data:`CLAIM_OFFSET` (one Lua script on the dirty set). A change arriving while the batch runs marks
the party again with ``ZADD LT`` and its real time, which is lower than any claimed score, so the
score changes and the final compare-and-remove keeps the mark. A resolver that takes over the lease
first gives orphaned claims (a crashed holder's) back their original scores.

Before its write pipeline a batch marks every party it will touch (the previous and new members of
every customer involved) dirty, claimed. A crash anywhere in the pipeline therefore leaves all of
them dirty, and each is recomputed from the stored records (identities and documents are pure
functions of them). The pipeline's order keeps every prefix recoverable: new and changed customers
first (members added, listing, search keys, the document last, so a repeat that finds the document
written finds the rest done), then the customers gone (redirect, listing, search keys, document,
member set — before any pointer moves, so a repeat still reaches them through the pointers of
their members; a missing document tells it the redirect was already decided), then the parties'
customer pointers, then the members that left the remaining customers, and last the marks. The
identifier index and profiles are written before clustering, index first and profile last, so a
repeat sees the same difference to apply; holders of an identifier whose holder count crosses
``max_holders`` are marked dirty in the same pipeline, before the index changes.

A crash may repeat identity events (they are published before the write) but never loses one.

**Settling.** A party's records (party, contacts, addresses, accounts, products) arrive on five
topics at different moments; resolving after each arrival repeats the work. The service loop
(:meth:`Resolver.run`) therefore takes only marks whose score — the earliest pending observation —
is at least ``settle_ms`` old by the local clock (``ZRANGEBYSCORE -inf now-settle`` in the take
script, never reaching the claimed range), so what arrives meanwhile is resolved with it: settling
adds at most ``settle_ms`` to freshness (a change already older than that, e.g. a backlog's, waits
not at all). Scores are connectors' clocks, which are assumed NTP-synced; a mark scored ahead of
the local clock is still taken, once the local clock has passed its score plus ``settle_ms`` (it
waits its skew longer). While more marks are ready than a batch takes, the next batch takes twice
as many, up to ``max_batch``; the idle loop sleeps until the oldest unclaimed mark settles (at most
``idle_s``, a poke wakes it). :meth:`Resolver.run_once` without ``settled`` (tests, rebuilds) takes
every unclaimed mark at once, ``batch_size`` at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge, Histogram
from pydantic import ValidationError
from redis.exceptions import NoScriptError, RedisError

from customer_cache.events import IdentityChange, IdentityEvent
from customer_cache.graph import RedisGraph
from customer_cache.identity import IdentityRules, Profile, build_profile, components, customer_id
from customer_cache.keys import KEYS, Keys
from customer_cache.search.index import search_ops
from customer_cache.store import PartyRecords, RecordStore
from customer_cache.view.assemble import assemble
from customer_cache.view.model import Customer360
from customer_cache.view.survivorship import system_rank
from overlay.logging import bind_correlation, clear_correlation, get_logger
from overlay.models import Account, Address, ContactMedium, ProductInstance
from overlay.redis import Commands, Script, as_set, execute
from overlay.settings import get_settings

log = get_logger(__name__)
_DEBUG = logging.getLogger(__name__)

CLAIM_OFFSET = 1 << 45
"""Added to a dirty mark's score (epoch ms, < 2**41 until the year 2039… 2**45 is ~1100 years) while
a batch holds it. Scores stay exact integers in a double."""

VISIBLE = Histogram(
    "overlay_customer_visible_seconds",
    "Freshness: from a source change observed by a connector to the customer 360 written.",
    buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0,
             5.0, 7.5, 10.0),
)
BATCH_SECONDS = Histogram(
    "overlay_customer_resolver_batch_seconds", "Time of one resolver batch.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PARTIES = Counter("overlay_customer_resolver_parties_total", "Dirty source parties resolved.")
CUSTOMERS_WRITTEN = Counter(
    "overlay_customer_documents_total", "Customer 360 documents written or removed.", ["op"]
)
IDENTITY_EVENTS = Counter(
    "overlay_customer_identity_events_total", "Identity events published.", ["change"]
)
LEADER = Gauge("overlay_customer_resolver_leader", "1 while this worker holds the resolver lease.")
FAILED = Counter("overlay_customer_resolver_failures_total",
                 "Source parties that could not be resolved (their marks go to the back of the queue).")

# --- Lua, one key each ---------------------------------------------------------------------------------

_TAKE = Script("""
-- KEYS[1] dirty set; ARGV[1] how many, ARGV[2] the claim offset, ARGV[3] the cutoff (epoch ms,
-- below the offset: claimed marks are never taken).
-- The lowest scores up to the cutoff first, claimed (score + offset). Returns {pairs of member,
-- score (as it was); how many unclaimed marks were ready (up to the cutoff) before this take; the
-- lowest unclaimed score left, or -1}.
local offset = tonumber(ARGV[2])
local cutoff = ARGV[3]
local ready = redis.call('ZCOUNT', KEYS[1], '-inf', cutoff)
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff, 'WITHSCORES', 'LIMIT', 0,
                         tonumber(ARGV[1]))
for i = 1, #items, 2 do
  local score = tonumber(items[i + 1])
  redis.call('ZADD', KEYS[1], 'XX', string.format('%.0f', score + offset), items[i])
end
local nxt = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.0f', offset),
                       'WITHSCORES', 'LIMIT', 0, 1)
local lowest = -1
if #nxt > 0 then lowest = nxt[2] end
return {items, ready, lowest}
""")

_UNCLAIM = Script("""
-- KEYS[1] dirty set; ARGV[1] the claim offset. Claimed marks get their original score back.
local items = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf', 'WITHSCORES')
local offset = tonumber(ARGV[1])
for i = 1, #items, 2 do
  redis.call('ZADD', KEYS[1], 'LT', string.format('%.0f', tonumber(items[i + 1]) - offset), items[i])
end
return #items / 2
""")

_COMPLETE = Script("""
-- KEYS[1] dirty set; ARGV member, expected score, member, expected score …
-- Removes each mark whose score is still the expected one.
local removed = 0
for i = 1, #ARGV, 2 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) == tonumber(ARGV[i + 1]) then
    redis.call('ZREM', KEYS[1], ARGV[i])
    removed = removed + 1
  end
end
return removed
""")

_RENEW = Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
""")

_RELEASE = Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""")

_DEFER = Script("""
-- KEYS[1] dirty set; ARGV[1] member, ARGV[2] its claimed score, ARGV[3] the new score.
if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or '-1') == tonumber(ARGV[2]) then
  return redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
end
return 0
""")

_SCRIPTS = (_TAKE, _UNCLAIM, _COMPLETE, _RENEW, _RELEASE, _DEFER)


class IdentityPublisher(Protocol):
    async def publish(self, events: Sequence[IdentityEvent]) -> None:
        """Publish and wait until every event is acknowledged."""
        ...


class NullPublisher:
    """Publishes nowhere (tests, rebuilds); keeps what it was given."""

    def __init__(self) -> None:
        self.events: list[IdentityEvent] = []

    async def publish(self, events: Sequence[IdentityEvent]) -> None:
        self.events.extend(events)


@dataclass(frozen=True)
class DirtyMark:
    ref: str
    score: int
    """The mark's original score: the earliest pending observation (epoch ms)."""
    claimed: int
    """Its score while this batch holds it."""


@dataclass
class BatchResult:
    parties: int = 0
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    events: list[IdentityEvent] = field(default_factory=list)


class LeaseLost(Exception):
    """The lease expired or another worker holds it: the batch must not be written."""


_TRANSIENT: tuple[type[BaseException], ...] = (LeaseLost, RedisError, KafkaError, OSError, TimeoutError)
"""Errors of the infrastructure (retried as they are) rather than of a party's data."""


def _anchor_order(ref: str, rules: IdentityRules) -> tuple[int, str]:
    return system_rank(ref.partition("/")[0], rules.system_priority), ref


_PROFILE_CHILDREN = (ContactMedium, Address, Account, ProductInstance)


class Resolver:
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        keys: Keys = KEYS,
        rules: IdentityRules | None = None,
        publisher: IdentityPublisher | None = None,
        batch_size: int = 200,
        max_batch: int | None = None,
        settle_ms: int | None = None,
        lease_ms: int = 10_000,
        idle_s: float = 0.05,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self.keys = keys
        self.rules = rules or IdentityRules()
        self.publisher: IdentityPublisher = publisher or NullPublisher()
        self.store = RecordStore(client, keys)
        self.batch_size = batch_size
        if max_batch is None:
            max_batch = get_settings().resolver_max_batch
        if settle_ms is None:
            settle_ms = get_settings().resolver_settle_ms
        self.max_batch = max(batch_size, max_batch)
        """The most marks one batch of the service loop takes while a backlog is ready."""
        self.settle_ms = max(0, settle_ms)
        """The service loop takes a mark only once its score is this old (local clock)."""
        self._next_batch = batch_size
        self._next_ready: float | None = None
        self.lease_ms = lease_ms
        self.idle_s = idle_s
        self.owner = owner or f"resolver-{uuid.uuid4().hex[:12]}"
        self._clock = clock
        self._stopping = asyncio.Event()
        self._work = asyncio.Event()
        self._leader = False
        self._task: asyncio.Task[None] | None = None
        self.fault: Callable[[str, Any], Awaitable[None]] | None = None
        """Test hook: awaited at named points of a batch — ``profiles`` and ``write`` (with the
        pipeline, before it is executed), ``planned`` and ``published`` — to simulate crashes."""

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        self._stopping.clear()
        self._task = asyncio.create_task(self.run(), name=f"resolver:{self.owner}")
        return self._task

    async def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch at hand, release the lease."""
        self._stopping.set()
        self._work.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(task, timeout)
            except TimeoutError:
                log.warning("resolver.stop_timeout", owner=self.owner)
            except Exception:  # already logged by run()
                pass

    def poke(self) -> None:
        """New dirty marks were written (by this process): look now rather than at the next poll."""
        self._work.set()

    @property
    def leader(self) -> bool:
        return self._leader

    async def run(self) -> None:
        backoff = 0.1
        try:
            while not self._stopping.is_set():
                try:
                    if not await self.hold_lease():
                        await self._sleep(max(0.05, self.lease_ms / 4000))
                        continue
                    result = await self.run_once(settled=True)
                    backoff = 0.1
                    if result is None:
                        await self._idle()
                except Exception as exc:
                    log.error("resolver.batch_failed", error=type(exc).__name__, detail=_safe_detail(exc))
                    await self._give_back_claims()
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            await self.release_lease()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _idle(self) -> None:
        """Wait for a poke, for the oldest unclaimed mark to settle, or ``idle_s`` at most."""
        self._work.clear()
        timeout = self.idle_s
        if self._next_ready is not None:
            timeout = min(timeout, max(0.001, self._next_ready - self._clock()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._work.wait(), timeout)

    # --- the lease -------------------------------------------------------------------------------------

    async def _scripts(self) -> None:
        for script in _SCRIPTS:
            await script.ensure(self._client)

    async def hold_lease(self) -> bool:
        """Renew the lease if held, else try to take it. True while this resolver holds it."""
        key = self.keys.resolver_lease
        if self._leader:
            renewed = await _RENEW(self._client, [key], [self.owner, self.lease_ms])
            if int(renewed):
                return True
            log.warning("resolver.lease_lost", owner=self.owner)
            self._set_leader(False)
        if await self._client.set(key, self.owner, nx=True, px=self.lease_ms):
            await self._scripts()
            self._set_leader(True)
            released = await self._give_back_claims()
            log.info("resolver.lease_taken", owner=self.owner, orphaned_claims=released)
            return True
        return False

    def _set_leader(self, value: bool) -> None:
        self._leader = value
        LEADER.set(1 if value else 0)

    async def release_lease(self) -> None:
        if not self._leader:
            return
        self._set_leader(False)
        try:
            await _RELEASE(self._client, [self.keys.resolver_lease], [self.owner])
        except Exception as exc:  # the lease expires on its own
            log.warning("resolver.release_failed", error=type(exc).__name__)

    async def _give_back_claims(self) -> int:
        try:
            return int(await _UNCLAIM(self._client, [self.keys.dirty], [CLAIM_OFFSET]))
        except Exception as exc:
            log.warning("resolver.unclaim_failed", error=type(exc).__name__)
            return 0

    # --- one batch -------------------------------------------------------------------------------------

    async def take(self, count: int | None = None, *, settle_ms: int = 0) -> list[DirtyMark]:
        """Claim up to ``count`` unclaimed marks whose score is at least ``settle_ms`` old (local
        clock), lowest scores first. Claimed marks (another batch's) are never taken."""
        count = count or self.batch_size
        now = self._clock()
        cutoff = min(int(now * 1000) - settle_ms, CLAIM_OFFSET - 1)
        raw = await _TAKE(self._client, [self.keys.dirty], [count, CLAIM_OFFSET, cutoff])
        items, ready, lowest = raw[0], int(raw[1]), int(float(raw[2]))
        marks = []
        for i in range(0, len(items), 2):
            score = int(float(items[i + 1]))
            original = score - CLAIM_OFFSET if score >= CLAIM_OFFSET else score
            marks.append(DirtyMark(str(items[i]), original, original + CLAIM_OFFSET))
        # A backlog (more ready than this batch took): the next batch takes more, up to max_batch.
        if ready > len(marks):
            self._next_batch = min(self.max_batch, max(self.batch_size, 2 * len(marks)))
        else:
            self._next_batch = self.batch_size
        self._next_ready = None if lowest < 0 else (lowest + settle_ms) / 1000
        return marks

    async def run_once(self, *, settled: bool = False) -> BatchResult | None:
        """Take one batch of dirty parties and resolve it (the caller holds the lease). None when
        nothing was dirty — or, with ``settled`` (the service loop), nothing was ready: only marks
        at least ``settle_ms`` old are taken, as many as ``max_batch`` while a backlog is ready.
        Without it (tests, rebuilds) every unclaimed mark is ready and batches are ``batch_size``."""
        if settled:
            marks = await self.take(self._next_batch, settle_ms=self.settle_ms)
        else:
            marks = await self.take()
        if not marks:
            return None
        started = time.perf_counter()
        try:
            result = await self.resolve(marks)
        except _TRANSIENT:
            raise
        except Exception as exc:
            # Not the infrastructure: something in these parties' data. Resolve them one by one so
            # that one bad party cannot hold up every other.
            log.error("resolver.batch_failed", error=type(exc).__name__, parties=len(marks),
                      detail=_safe_detail(exc))
            result = await self._one_by_one(marks)
        BATCH_SECONDS.observe(time.perf_counter() - started)
        return result

    async def _one_by_one(self, marks: Sequence[DirtyMark]) -> BatchResult:
        total = BatchResult()
        for mark in marks:
            try:
                result = await self.resolve([mark])
            except _TRANSIENT:
                raise
            except Exception as exc:
                # Its mark goes to the back of the queue (score: now), to be tried again after the
                # others; the error is logged each time until the data or the code is fixed.
                FAILED.inc()
                log.error("resolver.party_failed", source=mark.ref, error=type(exc).__name__,
                          detail=_safe_detail(exc))
                await _DEFER(self._client, [self.keys.dirty],
                             [mark.ref, mark.claimed, int(self._clock() * 1000)])
                continue
            total.parties += result.parties
            total.written += result.written
            total.removed += result.removed
            total.events += result.events
        return total

    async def resolve(self, marks: Sequence[DirtyMark]) -> BatchResult:
        """Resolve the parties of ``marks`` (taken by :meth:`take`) and remove the marks that did not
        change meanwhile."""
        batch = _Batch(self, marks)
        return await batch.run()

    async def _fault(self, point: str, detail: Any = None) -> None:
        if self.fault is not None:
            await self.fault(point, detail)


class _Batch:
    """The state of one resolver batch."""

    def __init__(self, resolver: Resolver, marks: Sequence[DirtyMark]) -> None:
        self.r = resolver
        self.client = resolver._client
        self.keys = resolver.keys
        self.rules = resolver.rules
        self.original = list(marks)
        self.marks = {m.ref: m for m in marks}
        self.dirty = sorted(self.marks)
        self.graph = RedisGraph(self.client, self.keys, holders_limit=self.rules.max_holders + 1)
        self.records: dict[str, PartyRecords] = {}
        self.pointers: dict[str, str | None] = {}
        self.old_members: dict[str, set[str]] = {}
        self.old_docs: dict[str, str | None] = {}

    async def run(self) -> BatchResult:
        result = BatchResult(parties=len(self.dirty))
        extra_seeds = await self.update_profiles()
        clusters, involved = await self.explore(set(self.dirty) | extra_seeds)
        plan = await self.plan(clusters, involved)
        await self.r._fault("planned")
        if plan.events:
            await self.r.publisher.publish(plan.events)
            for event in plan.events:
                IDENTITY_EVENTS.labels(event.change.value).inc()
        await self.r._fault("published")
        if not await self.lease_still_held():
            raise LeaseLost(self.r.owner)
        await self.write(plan, involved)
        now_ms = int(self.r._clock() * 1000)
        for mark in self.original:
            VISIBLE.observe(max(0.0, (now_ms - mark.score) / 1000))
        PARTIES.inc(len(self.dirty))
        result.written = sorted(plan.docs)
        result.removed = sorted(plan.vanished)
        result.events = plan.events
        if _DEBUG.isEnabledFor(logging.DEBUG):
            for cid, doc in sorted(plan.docs.items()):
                bind_correlation(customer_id=cid, event_id=doc.event_id)
                log.debug("customer.written", members=len(doc.sources), version=doc.version)
                clear_correlation()
        return result

    async def lease_still_held(self) -> bool:
        renewed = await _RENEW(self.client, [self.keys.resolver_lease], [self.r.owner, self.r.lease_ms])
        return bool(int(renewed))

    async def load(self, refs: Iterable[str]) -> None:
        missing = sorted(set(refs) - self.records.keys())
        if missing:
            self.records.update(await self.r.store.load_parties(missing))

    # --- stage 2: profiles and the identifier index ------------------------------------------------

    async def update_profiles(self) -> set[str]:
        """Rebuild the dirty parties' profiles and move their identifiers in the index. Returns the
        other holders of identifiers whose holder count crossed ``max_holders`` (their links change)."""
        keys = self.keys
        stored_raw: list[Any]
        pipe = Commands()
        for ref in self.dirty:
            pipe.hmget(keys.source_party(ref), ["prof", "cust"])
        stored_raw, _ = await asyncio.gather(execute(self.client, pipe), self.load(self.dirty))

        new: dict[str, Profile] = {}
        old: dict[str, Profile | None] = {}
        adds: dict[str, set[str]] = {}
        removes: dict[str, set[str]] = {}
        for ref, (prof, cust) in zip(self.dirty, stored_raw, strict=True):
            self.pointers[ref] = cust or None
            old[ref] = _parse_profile(prof)
            bundle = self.records[ref]
            children = [c.model for c in bundle.current_children() if isinstance(c.model, _PROFILE_CHILDREN)]
            profile = build_profile(ref, bundle.party_model(), children, self.rules)
            new[ref] = profile
            before = _indexed(old[ref])
            after = _indexed(profile)
            for identifier in after - before:
                adds.setdefault(identifier, set()).add(ref)
            for identifier in before - after:
                removes.setdefault(identifier, set()).add(ref)

        changed_profiles = [ref for ref in self.dirty if new[ref] != old[ref]]
        self.graph.prime(new)
        if not changed_profiles and not adds and not removes:
            return set()

        # Which identifiers change their holders enough to link (or unlink) *other* parties: read
        # up to the number that matters before writing, and mark those holders dirty in the same
        # pipeline as the index change, so a crash cannot hide them from the repeat.
        affected: set[str] = set()
        changed = sorted(adds.keys() | removes.keys())
        limit = self.rules.max_holders
        if changed:
            pipe = Commands()
            for identifier in changed:
                n = len(adds.get(identifier, ())) + len(removes.get(identifier, ()))
                pipe.srandmember(keys.holders(identifier), limit + 1 + n)
            samples = await execute(self.client, pipe)
            primed: dict[str, set[str]] = {}
            for identifier, sample in zip(changed, samples, strict=True):
                n = len(adds.get(identifier, ())) + len(removes.get(identifier, ()))
                holders = set(sample or ())
                after = (holders | adds.get(identifier, set())) - removes.get(identifier, set())
                # what the graph would read after the index change below: every holder, or more
                # than max_holders of them (then the identifier links nobody, which is all it says)
                primed[identifier] = after
                if len(holders) >= limit + 1 + n:
                    continue  # more holders than can ever drop to max_holders in this batch
                if (len(holders) <= limit) != (len(after) <= limit):
                    affected |= (holders | after)
            self.graph.prime_holders(primed)
        affected -= set(self.dirty)

        if not await self.lease_still_held():
            raise LeaseLost(self.r.owner)
        claimed_now = int(self.r._clock() * 1000) + CLAIM_OFFSET
        pipe = Commands()
        if affected:
            pipe.zadd(keys.dirty, dict.fromkeys(sorted(affected), claimed_now), lt=True)
        for identifier in changed:
            if identifier in removes:
                pipe.srem(keys.holders(identifier), *sorted(removes[identifier]))
            if identifier in adds:
                pipe.sadd(keys.holders(identifier), *sorted(adds[identifier]))
        for ref in changed_profiles:  # the profile last: a repeat sees the same difference
            pipe.hset(keys.source_party(ref), "prof", new[ref].model_dump_json())
        await self.r._fault("profiles", pipe)
        await execute(self.client, pipe)
        for ref in affected:
            self.marks.setdefault(ref, DirtyMark(ref, claimed_now - CLAIM_OFFSET, claimed_now))
        return affected

    # --- stage 2: clusters ---------------------------------------------------------------------------

    async def explore(self, seeds: set[str]) -> tuple[list[set[str]], set[str]]:
        """The clusters around ``seeds``, grown until every customer touched — the previous customer
        of any party involved, or a cluster's id — has all its previous members involved."""
        seen_customers: set[str] = set()
        while True:
            clusters = await components(sorted(seeds), self.graph, self.rules)
            involved = set(seeds).union(*clusters)
            await self._load_pointers(involved)
            profiles = await self.graph.profiles(involved)
            tentative = {
                customer_id(live, self.rules)
                for c in clusters if (live := [p for p in c if _live(profiles.get(p))])
            }
            customers = ({self.pointers[p] for p in involved} - {None}) | tentative
            fresh = sorted(c for c in customers if c is not None and c not in seen_customers)
            if fresh:
                pipe = Commands()
                for cid in fresh:
                    pipe.smembers(self.keys.members(cid))
                    pipe.get(self.keys.customer(cid))
                raw = await execute(self.client, pipe)
                for i, cid in enumerate(fresh):
                    self.old_members[cid] = as_set(raw[2 * i])
                    self.old_docs[cid] = raw[2 * i + 1]
                seen_customers.update(fresh)
            more = set().union(*self.old_members.values()) - involved
            # parties pointing at a customer are its members too, whatever its member set says
            if not more:
                return clusters, involved
            seeds |= more

    async def _load_pointers(self, refs: Iterable[str]) -> None:
        missing = sorted(set(refs) - self.pointers.keys())
        if not missing:
            return
        pipe = Commands()
        for ref in missing:
            pipe.hget(self.keys.source_party(ref), "cust")
        raw = await execute(self.client, pipe)
        for ref, cust in zip(missing, raw, strict=True):
            self.pointers[ref] = cust or None

    # --- stage 3: documents, events, the write ------------------------------------------------------

    async def plan(self, clusters: list[set[str]], involved: set[str]) -> _Plan:
        rules = self.rules
        profiles = await self.graph.profiles(involved)
        new_members: dict[str, list[str]] = {}
        new_of: dict[str, str | None] = dict.fromkeys(involved)
        for cluster in clusters:
            live = sorted(p for p in cluster if _live(profiles.get(p)))
            if not live:
                continue
            cid = customer_id(live, rules)
            new_members[cid] = live
            for p in live:
                new_of[p] = cid

        await self.load(p for ms in new_members.values() for p in ms)
        plan = _Plan()
        for cid, members in sorted(new_members.items()):
            doc = assemble(cid, [self.records[p] for p in members], rules)
            if doc is None:  # a profile said live, the record is gone: the next batch sees it
                for p in members:
                    new_of[p] = None
                continue
            new_json = doc.model_dump_json()
            if new_json != self.old_docs.get(cid):
                plan.docs[cid] = doc
                plan.doc_json[cid] = new_json
            plan.members[cid] = set(members)

        # Previous members of every customer touched: its member set and whoever points at it.
        previous: dict[str, set[str]] = {cid: set(ms) for cid, ms in self.old_members.items()}
        for p in involved:
            cust = self.pointers.get(p)
            if cust is not None:
                previous.setdefault(cust, set()).add(p)
        existed = {cid for cid, ms in previous.items() if ms or self.old_docs.get(cid) is not None}
        existed |= {cid for cid, doc in self.old_docs.items() if doc is not None}

        for cid in sorted(existed - plan.members.keys()):
            if self.old_docs.get(cid) is None:
                # Its document is gone: an earlier attempt of this work removed it (and set its
                # redirect first) before it died. Only its member set and listing remain to go.
                plan.leftovers.add(cid)
                continue
            successor = None
            for p in sorted(previous.get(cid, ()), key=lambda ref: _anchor_order(ref, rules)):
                if new_of.get(p) is not None:
                    successor = new_of[p]
                    break
            plan.vanished[cid] = successor

        for p in sorted(involved):
            if self.pointers.get(p) != new_of.get(p):
                plan.pointers[p] = new_of.get(p)

        plan.events = self._events(plan, previous, existed, new_of)
        return plan

    def _events(
        self, plan: _Plan, previous: Mapping[str, set[str]], existed: set[str],
        new_of: Mapping[str, str | None],
    ) -> list[IdentityEvent]:
        events: list[IdentityEvent] = []
        absorbed: dict[str, list[str]] = {}
        for old, successor in sorted(plan.vanished.items()):
            if successor is None:
                events.append(IdentityEvent(change=IdentityChange.DELETED, customer_id=old, members=[]))
            else:
                absorbed.setdefault(successor, []).append(old)
        for cid, members in sorted(plan.members.items()):
            before = set(previous.get(cid, set())) if cid in existed else set()
            merged_in = absorbed.get(cid, [])
            for old in merged_in:  # the successor answers for what its absorbed ids had
                before |= previous.get(old, set())
            gained = members - before
            lost = before - members
            member_list = sorted(members)
            if cid not in existed and not merged_in:
                events.append(IdentityEvent(change=IdentityChange.CREATED, customer_id=cid,
                                            members=member_list))
            elif merged_in or gained:
                events.append(IdentityEvent(change=IdentityChange.MERGED, customer_id=cid,
                                            members=member_list, merged_ids=sorted(merged_in)))
            if lost:
                split_ids = sorted({c for p in lost if (c := new_of.get(p)) is not None and c != cid})
                events.append(IdentityEvent(change=IdentityChange.SPLIT, customer_id=cid,
                                            members=member_list, split_ids=split_ids))
        return events

    async def write(self, plan: _Plan, involved: set[str]) -> None:
        keys = self.keys
        marks = dict(self.marks)
        has_writes = bool(plan.docs or plan.vanished or plan.leftovers or plan.pointers) or any(
            plan.members[cid] != self.old_members.get(cid, set()) for cid in plan.members
        )
        claimed_now = int(self.r._clock() * 1000) + CLAIM_OFFSET
        others = sorted(involved - marks.keys()) if has_writes else []
        for ref in others:
            marks[ref] = DirtyMark(ref, claimed_now - CLAIM_OFFSET, claimed_now)
        complete_args: list[Any] = []
        for ref in sorted(marks):
            complete_args += [ref, marks[ref].claimed]

        async def attempt() -> None:
            pipe = Commands()
            # a) every party this batch touches is marked (claimed) until the batch is complete
            if others:
                pipe.zadd(keys.dirty, dict.fromkeys(others, claimed_now), lt=True)
            # b) new and changed customers: members added, listed, search keys, the document
            #    last (a repeat that finds the document written finds all of this done)
            for cid in sorted(plan.members):
                doc = plan.docs.get(cid)
                added = plan.members[cid] - self.old_members.get(cid, set())
                lost = self.old_members.get(cid, set()) - plan.members[cid]
                if doc is None and not added and not lost:
                    continue  # unchanged
                if added:
                    pipe.sadd(keys.members(cid), *sorted(added))
                pipe.zadd(keys.customers, {cid: 0})
                pipe.delete(keys.moved(cid))
                if doc is not None:
                    search_ops(pipe, keys, _parse_doc(self.old_docs.get(cid)), doc)
                    pipe.set(keys.customer(cid), plan.doc_json[cid])
            # c) customers gone: redirect, unlist, search keys, the document, then the member
            #    set — all before any pointer moves, so a repeat still finds the customer
            #    through the pointers of its members (and a missing document tells it that the
            #    redirect was already decided)
            for cid, successor in sorted(plan.vanished.items()):
                if successor is not None:
                    pipe.set(keys.moved(cid), successor)
                pipe.zrem(keys.customers, cid)
                search_ops(pipe, keys, _parse_doc(self.old_docs.get(cid)), None)
                pipe.delete(keys.customer(cid))
                pipe.delete(keys.members(cid))
            for cid in sorted(plan.leftovers):
                pipe.zrem(keys.customers, cid)
                pipe.delete(keys.members(cid))
            # d) the parties' customer pointers
            for ref, target in sorted(plan.pointers.items(), key=lambda kv: kv[0]):
                if target is None:
                    pipe.hdel(keys.source_party(ref), "cust")
                else:
                    pipe.hset(keys.source_party(ref), "cust", target)
            # e) members that left the customers that remain
            for cid in sorted(plan.members):
                lost = self.old_members.get(cid, set()) - plan.members[cid]
                if lost:
                    pipe.srem(keys.members(cid), *sorted(lost))
            # f) the marks, where nothing marked them again meanwhile
            _COMPLETE.queue(pipe, [keys.dirty], complete_args)
            await self.r._fault("write", pipe)
            await execute(self.client, pipe)

        try:
            await attempt()
        except NoScriptError:
            await _COMPLETE.load(self.client)
            await attempt()
        CUSTOMERS_WRITTEN.labels("written").inc(len(plan.docs))
        CUSTOMERS_WRITTEN.labels("removed").inc(len(plan.vanished))


@dataclass
class _Plan:
    docs: dict[str, Customer360] = field(default_factory=dict)
    doc_json: dict[str, str] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)
    vanished: dict[str, str | None] = field(default_factory=dict)
    """Customers gone → the customer they went to (None: deleted)."""
    leftovers: set[str] = field(default_factory=set)
    """Customers already gone but for their member set (an earlier attempt died half way)."""
    pointers: dict[str, str | None] = field(default_factory=dict)
    events: list[IdentityEvent] = field(default_factory=list)


def _safe_detail(exc: BaseException) -> str:
    """An error's message when it cannot carry personal data (infrastructure errors); else only
    where it was raised (a validation error quotes the values it rejected)."""
    if isinstance(exc, _TRANSIENT):
        return str(exc)[:300]
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return "" if tb is None else f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"


def _live(profile: Profile | None) -> bool:
    return profile is not None and not profile.deleted


def _indexed(profile: Profile | None) -> set[str]:
    """The identifiers a profile holds in the index (a deleted one holds none)."""
    if profile is None or profile.deleted:
        return set()
    return set(profile.identifiers)


def _parse_profile(raw: str | None) -> Profile | None:
    if raw is None:
        return None
    try:
        return Profile.model_validate_json(raw)
    except ValidationError:
        log.warning("resolver.profile_unreadable")
        return None


def _parse_doc(raw: str | None) -> Customer360 | None:
    if raw is None:
        return None
    try:
        return Customer360.model_validate_json(raw)
    except ValidationError:
        log.warning("resolver.document_unreadable")
        return None
