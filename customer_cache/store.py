"""Stage 1 of the customer 360: canonical change events → version-guarded source records in Redis.

For every event of the customer topics (party, contactMedium, address, account, productInstance,
order, orderStatus) the record hash ``rec:{entity}:{system}/{key}`` is written by one single-key Lua
script (:data:`overlay.redis.VERSIONED_WRITE`): applied only if the event is not older than what is
stored, a delete leaves a tombstone. Then the record is linked to its owner — a child record
(contact medium, address, account, product, order) to its source party (``kids:``), an order status
to its order (``ostat:``) — and the owning source party is marked dirty (``ZADD dirty LT``, the score
the event's ``observed_at`` in ms, so the earliest pending change is kept for the freshness
measurement).

A batch costs two round trips whatever its size: the scripts, then the links and dirty marks of
the events that applied (a third for order statuses: their order's party is read after they are
linked, so that an order written at the same time by another worker is never missed). A crash
between them loses nothing: the Kafka offsets are committed only after the batch, the redelivered
events carry the same versions, and an equal version applies again and repeats the follow-up work.
A duplicate or older event applies nowhere and marks nobody dirty.

The record hash holds ``v``, ``deleted``, ``doc`` (the canonical payload as JSON), ``event`` (event
id), ``obs`` and ``mod`` (observed and modified time, ISO 8601), ``link`` (the owner's ``system/key``:
the party itself for a party, the party for a child, the order for an order status), ``prev`` and
``pv`` (the owner before the last change of owner and the version that changed it: that version,
applied or redelivered, marks the previous owner dirty as well).

This module also reads the records back for stages 2 and 3 (:meth:`RecordStore.load_parties`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import Counter
from redis.exceptions import NoScriptError

from customer_cache.keys import KEYS, Keys, record_ref, split_record_ref
from overlay.events import ChangeEvent, EntityType, Operation
from overlay.models import (
    Account,
    Address,
    ContactMedium,
    Order,
    OrderStatus,
    Party,
    ProductInstance,
)
from overlay.models.common import CanonicalModel, SourceRef
from overlay.redis import (
    VERSIONED_WRITE_SCRIPT,
    Commands,
    as_dict,
    as_set,
    execute,
    execute_many,
    write_result,
)

ENTITY_MODELS: dict[str, type[CanonicalModel]] = {
    EntityType.PARTY.value: Party,
    EntityType.CONTACT_MEDIUM.value: ContactMedium,
    EntityType.ADDRESS.value: Address,
    EntityType.ACCOUNT.value: Account,
    EntityType.PRODUCT_INSTANCE.value: ProductInstance,
    EntityType.ORDER.value: Order,
    EntityType.ORDER_STATUS.value: OrderStatus,
}
"""The entities of the customer 360 and their canonical payloads."""

CUSTOMER_ENTITIES: tuple[EntityType, ...] = tuple(EntityType(e) for e in ENTITY_MODELS)

_PARTY = EntityType.PARTY.value
_ORDER = EntityType.ORDER.value
_ORDER_STATUS = EntityType.ORDER_STATUS.value

RECORDS = Counter(
    "overlay_customer_records_total",
    "Change events applied to the customer 360 record store (result: applied, ignored = older or "
    "duplicate).",
    ["entity", "result"],
)


def epoch_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def _ref(ref: SourceRef | None) -> str:
    return "" if ref is None else f"{ref.system}/{ref.key}"


def owner_of(entity: str, source_ref: str, payload: CanonicalModel | None) -> str:
    """The ``system/key`` a record belongs to ('' if it names nobody or is a delete)."""
    if entity == _PARTY:
        return source_ref
    if payload is None:
        return ""
    if isinstance(payload, OrderStatus):
        return _ref(payload.order)
    ref: SourceRef | None = getattr(payload, "party", None)
    return _ref(ref)


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One source record as stage 1 stored it (a tombstone when ``deleted``)."""

    entity: str
    ref: str
    version: int
    deleted: bool
    event_id: str | None
    observed_at: datetime | None
    modified_at: datetime | None
    link: str | None
    model: Any = None
    """The parsed canonical payload (None for a tombstone)."""

    @property
    def record_ref(self) -> str:
        return record_ref(self.entity, self.ref)

    @property
    def system(self) -> str:
        return self.ref.partition("/")[0]

    @property
    def key(self) -> str:
        return self.ref.partition("/")[2]

    @classmethod
    def from_hash(cls, entity: str, ref: str, raw: Mapping[str, str]) -> StoredRecord | None:
        if not raw or "v" not in raw:
            return None
        deleted = raw.get("deleted") == "1"
        doc = raw.get("doc")
        model = None
        if not deleted and doc is not None:
            model = ENTITY_MODELS[entity].model_validate_json(doc)
        obs, mod = raw.get("obs"), raw.get("mod")
        return cls(
            entity=entity,
            ref=ref,
            version=int(raw["v"]),
            deleted=deleted or model is None,
            event_id=raw.get("event") or None,
            observed_at=datetime.fromisoformat(obs) if obs else None,
            modified_at=datetime.fromisoformat(mod) if mod else None,
            link=raw.get("link") or None,
            model=model,
        )


@dataclass
class PartyRecords:
    """What stage 1 holds about one source party: its record and the records linked to it.

    ``children`` are the records whose ``kids:`` link names the party, as stored (a child that moved
    to another party since, or was deleted, is still here: readers check ``link``/``deleted``);
    ``statuses`` the order status records of each order among them."""

    ref: str
    party: StoredRecord | None = None
    children: list[StoredRecord] = field(default_factory=list)
    statuses: dict[str, list[StoredRecord]] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.party is not None and not self.party.deleted

    def party_model(self) -> Party | None:
        if self.party is None or self.party.deleted:
            return None
        model: Party = self.party.model
        return model

    def current_children(self) -> list[StoredRecord]:
        """The live children that still name this party (sorted by entity, ref)."""
        return sorted(
            (c for c in self.children if not c.deleted and c.link == self.ref),
            key=lambda c: (c.entity, c.ref),
        )


@dataclass(frozen=True, slots=True)
class _Applied:
    event: ChangeEvent[Any]
    owner: str
    prev: str


class RecordStore:
    """Stage 1 writes and the record reads of stages 2 and 3."""

    def __init__(self, client: aioredis.Redis, keys: Keys = KEYS) -> None:
        self._client = client
        self.keys = keys

    # --- writes ------------------------------------------------------------------------------------

    async def apply(self, events: Sequence[ChangeEvent[Any]]) -> list[bool]:
        """Apply a batch of change events (any order, duplicates allowed); True where one applied.

        Events of one record are applied in their order in ``events``; the version guard makes
        the result the same whatever the order or repetitions."""
        if not events:
            return []
        await VERSIONED_WRITE_SCRIPT.ensure(self._client)
        try:
            results = await self._write_records(events)
        except NoScriptError:  # the server lost its script cache (restart, SCRIPT FLUSH)
            await VERSIONED_WRITE_SCRIPT.load(self._client)
            results = await self._write_records(events)

        applied: list[_Applied] = []
        flags: list[bool] = []
        counts: dict[tuple[str, bool], int] = {}
        for event, (owner, result) in zip(events, results, strict=True):
            ok, link, prev = write_result(result, owner)
            flags.append(ok)
            entity = event.entity_type.value
            counts[(entity, ok)] = counts.get((entity, ok), 0) + 1
            if ok:
                applied.append(_Applied(event, link, prev))
        for (entity, ok), n in counts.items():
            RECORDS.labels(entity, "applied" if ok else "ignored").inc(n)
        if not applied:
            return flags

        await self._link_and_mark(applied)
        return flags

    async def _write_records(self, events: Sequence[ChangeEvent[Any]]) -> list[tuple[str, Any]]:
        keys = self.keys
        sha = VERSIONED_WRITE_SCRIPT.sha
        owners: list[str] = []
        commands: list[tuple[Any, ...]] = []
        for event in events:
            entity = event.entity_type.value
            source_ref = event.entity_ref
            payload = event.payload
            deleted = event.operation is Operation.DELETE
            doc = b"" if payload is None else payload.__pydantic_serializer__.to_json(payload)
            owner = owner_of(entity, source_ref, payload)
            owners.append(owner)
            commands.append((
                "EVALSHA", sha, 1, keys.record(entity, source_ref), event.version,
                "delete" if deleted else "upsert", doc, event.event_id, owner,
                "obs", _iso(event.observed_at), "mod", _iso(event.modified_at),
            ))
        out = await execute_many(self._client, commands)
        for reply in out:
            if isinstance(reply, Exception):
                raise reply
        return list(zip(owners, out, strict=True))

    async def _link_and_mark(self, applied: Sequence[_Applied]) -> None:
        keys = self.keys
        links: dict[tuple[str, str], bool] = {}  # (set key, member) → present; the last event decides
        dirty: dict[str, int] = {}
        status_orders: dict[str, int] = {}  # order → earliest observation of its applied statuses

        def mark(party: str | None, ms: int) -> None:
            if party and (party not in dirty or ms < dirty[party]):
                dirty[party] = ms

        for item in applied:
            event = item.event
            entity = event.entity_type.value
            member = record_ref(entity, event.entity_ref)
            deleted = event.operation is Operation.DELETE
            ms = epoch_ms(event.observed_at)
            owner, prev = item.owner, item.prev
            if entity == _ORDER_STATUS:
                if prev and prev != owner:
                    links[(keys.order_statuses(prev), member)] = False
                if owner:
                    links[(keys.order_statuses(owner), member)] = not deleted
                    status_orders[owner] = min(ms, status_orders.get(owner, ms))
                continue
            if entity != _PARTY:
                if prev and prev != owner:
                    links[(keys.children(prev), member)] = False
                if owner:
                    links[(keys.children(owner), member)] = not deleted
            mark(owner, ms)
            if prev != owner:
                mark(prev, ms)

        add: dict[str, list[str]] = {}
        remove: dict[str, list[str]] = {}
        for (key, member), present in sorted(links.items()):
            (add if present else remove).setdefault(key, []).append(member)
        orders = sorted(status_orders)
        pipe = Commands()
        # Links first, the dirty mark last: whoever sees the mark finds the records linked.
        for key, members in add.items():
            pipe.sadd(key, *members)
        for key, members in remove.items():
            pipe.srem(key, *members)
        # An order status marks its order's party, read only now that the status is linked: an
        # order written meanwhile either is seen here or marks its party after this link.
        for order in orders:
            pipe.hget(keys.record(_ORDER, order), "link")
        if dirty and not orders:
            pipe.zadd(keys.dirty, dirty, lt=True)
        replies = await execute(self._client, pipe)
        if orders:
            for order, party in zip(orders, replies[len(replies) - len(orders):], strict=True):
                mark(party, status_orders[order])
            if dirty:
                await self._client.zadd(keys.dirty, dirty, lt=True)

    # --- reads (stages 2 and 3) --------------------------------------------------------------------

    async def load_parties(self, refs: Iterable[str]) -> dict[str, PartyRecords]:
        """Each source party's record, the records linked to it and their order statuses: three
        pipelined round trips for any number of parties."""
        wanted = sorted(set(refs))
        out = {ref: PartyRecords(ref) for ref in wanted}
        if not wanted:
            return out
        keys = self.keys
        pipe = Commands()
        for ref in wanted:
            pipe.hgetall(keys.record(_PARTY, ref))
            pipe.smembers(keys.children(ref))
        first = await execute(self._client, pipe)
        kids: list[tuple[str, str, str]] = []  # party ref, entity, record's source ref
        for i, ref in enumerate(wanted):
            out[ref].party = StoredRecord.from_hash(_PARTY, ref, as_dict(first[2 * i]))
            for member in sorted(as_set(first[2 * i + 1])):
                entity, source_ref = split_record_ref(member)
                if entity in ENTITY_MODELS and entity != _PARTY:
                    kids.append((ref, entity, source_ref))
        if not kids:
            return out

        statuses: list[tuple[str, str, str]] = []  # party ref, order ref, status's source ref
        pipe = Commands()
        for _, entity, source_ref in kids:
            pipe.hgetall(keys.record(entity, source_ref))
        for _, entity, source_ref in kids:
            if entity == _ORDER:
                pipe.smembers(keys.order_statuses(source_ref))
        second = await execute(self._client, pipe)
        for (party, entity, source_ref), raw in zip(kids, second[: len(kids)], strict=True):
            record = StoredRecord.from_hash(entity, source_ref, as_dict(raw))
            if record is not None:
                out[party].children.append(record)
        status_sets = iter(second[len(kids):])
        for party, entity, source_ref in kids:
            if entity == _ORDER:
                for member in sorted(as_set(next(status_sets))):
                    status_entity, status_ref = split_record_ref(member)
                    if status_entity == _ORDER_STATUS:
                        statuses.append((party, source_ref, status_ref))
        if not statuses:
            return out

        pipe = Commands()
        for _, _, status_ref in statuses:
            pipe.hgetall(keys.record(_ORDER_STATUS, status_ref))
        third = await execute(self._client, pipe)
        for (party, order, status_ref), raw in zip(statuses, third, strict=True):
            record = StoredRecord.from_hash(_ORDER_STATUS, status_ref, as_dict(raw))
            if record is not None:
                out[party].statuses.setdefault(order, []).append(record)
        return out
