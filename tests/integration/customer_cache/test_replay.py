"""Replays from Kafka: the same events consumed again, or in another interleaving of partitions and
batches, give the identical customer 360 in Redis."""

from __future__ import annotations

import random
from typing import Any

from aiokafka import AIOKafkaConsumer

from customer_cache.resolver import Resolver
from customer_cache.store import CUSTOMER_ENTITIES, ENTITY_MODELS, RecordStore
from overlay.events import ChangeEvent
from overlay.kafka import EventPublisher
from overlay.models import (
    Account,
    Address,
    AddressRole,
    ContactMedium,
    MediumType,
    Order,
    OrderItem,
    OrderState,
    OrderStatus,
    ProductInstance,
    SourceRef,
)
from overlay.topics import BY_ENTITY
from tests.integration.customer_cache.support import customers, event, owner, party, resolve_all, snapshot


def history() -> list[ChangeEvent[Any]]:
    """Forty people across CRM, mobile and fixed, with changes, moves and deletes."""
    events: list[ChangeEvent[Any]] = []
    for i in range(40):
        name = {"given_name": f"Vorname{i}", "family_name": f"Nachname{i}"}
        mail = f"person{i}@example.de"
        msisdn = f"+49151{i:08d}"
        events.append(party(f"crm/K{i}", 1, **name))
        events.append(event("contactMedium", f"crm/C{i}", 1, ContactMedium(
            party=owner(f"crm/K{i}"), medium_type=MediumType.EMAIL, value=mail, preferred=True)))
        events.append(event("address", f"crm/A{i}", 1, Address(
            party=owner(f"crm/K{i}"), role=AddressRole.HOME, street="Hauptstr.", house_number=str(i),
            postcode=f"{10000 + i}", city="Berlin")))
        if i % 2 == 0:
            events.append(party(f"mobile/M{i}", 1, email=mail if i % 4 == 0 else None, phone=msisdn, **name))
            events.append(event("account", f"mobile/B{i}", 1, Account(
                party=owner(f"mobile/M{i}"), account_number=f"B{i}", stack="mobile")))
            events.append(event("productInstance", f"mobile/S{i}", 1, ProductInstance(
                party=owner(f"mobile/M{i}"), account=SourceRef(system="mobile", key=f"B{i}"), stack="mobile",
                identifiers={"msisdn": msisdn})))
        if i % 3 == 0:
            events.append(party(f"fixed/F{i}", 1, phone=msisdn, **name))
            events.append(event("order", f"overlay/O{i}", 1, Order(
                party=owner(f"fixed/F{i}"), items=(OrderItem(item_id="1", action="add"),))))
            events.append(event("orderStatus", f"backend-fixed/O{i}", 2, OrderStatus(
                order=SourceRef(system="overlay", key=f"O{i}"), state=OrderState.IN_PROGRESS)))
    # later changes: renames, a contact moving to another party, deletes
    for i in range(0, 40, 5):
        events.append(party(f"crm/K{i}", 2, given_name=f"Vorname{i}", family_name=f"Neuname{i}"))
    events.append(event("contactMedium", "crm/C1", 2, ContactMedium(
        party=owner("crm/K2"), medium_type=MediumType.EMAIL, value="person1@example.de")))
    events.append(party("crm/K3", 3, delete=True))
    events.append(party("mobile/M4", 2, delete=True))
    events.append(event("orderStatus", "backend-fixed/O6", 3, OrderStatus(
        order=SourceRef(system="overlay", key="O6"), state=OrderState.COMPLETED)))
    return events


async def _read_all(settings) -> dict[str, list[list[bytes]]]:
    """Every record of the customer topics, per topic and partition, in offset order."""
    names = [BY_ENTITY[e].full_name(settings) for e in CUSTOMER_ENTITIES]
    consumer = AIOKafkaConsumer(*names, bootstrap_servers=settings.kafka_bootstrap,
                                auto_offset_reset="earliest", group_id=None, enable_auto_commit=False)
    await consumer.start()
    out: dict[str, dict[int, list[bytes]]] = {}
    try:
        idle = 0
        while idle < 3:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            idle = 0 if batch else idle + 1
            for tp, records in batch.items():
                out.setdefault(tp.topic, {}).setdefault(tp.partition, []).extend(r.value for r in records)
    finally:
        await consumer.stop()
    return {t: [parts[p] for p in sorted(parts)] for t, parts in out.items()}


def _decode(topic: str, raw: bytes, settings) -> ChangeEvent[Any]:
    entity = next(e for e in CUSTOMER_ENTITIES if BY_ENTITY[e].full_name(settings) == topic)
    return ChangeEvent[ENTITY_MODELS[entity.value]].model_validate_json(raw)  # type: ignore[misc]


async def _consume(client, settings, records, rng: random.Random, resolve_every: int) -> None:
    """Apply the records as workers would: each partition in order, partitions interleaved at random,
    batches of random size, the resolver running between batches."""
    store = RecordStore(client)
    resolver = Resolver(client, batch_size=7)
    assert await resolver.hold_lease()
    queues = [[_decode(t, raw, settings) for raw in part] for t, parts in records.items() for part in parts]
    queues = [q for q in queues if q]
    batches = 0
    while queues:
        queue = rng.choice(queues)
        n = rng.randint(1, 25)
        batch, queue[:n] = queue[:n], []
        await store.apply(batch)
        batches += 1
        if batches % resolve_every == 0:
            await resolver.run_once()
        queues = [q for q in queues if q]
    await resolve_all(resolver)
    await resolver.release_lease()


async def test_consuming_the_same_events_again_gives_the_identical_customer_360(settings, redis_client):
    async with EventPublisher.create(settings) as publisher:
        await publisher.publish_many(history())
    records = await _read_all(settings)
    assert sum(len(p) for parts in records.values() for p in parts) == len(history())

    await _consume(redis_client, settings, records, random.Random(1), resolve_every=3)
    first = await snapshot(redis_client)
    docs = await customers(redis_client)
    assert len(docs) > 30 and any(len(d.sources) > 1 for d in docs.values())
    assert any(d.orders for d in docs.values())

    # The same events delivered again (at-least-once, a consumer group reset): nothing changes.
    await _consume(redis_client, settings, records, random.Random(2), resolve_every=1)
    assert await snapshot(redis_client) == first

    # A rebuild from an empty Redis, partitions interleaved and batched differently.
    for seed in (3, 4):
        await redis_client.flushdb()
        await _consume(redis_client, settings, records, random.Random(seed), resolve_every=seed)
        rebuilt = await snapshot(redis_client)
        cust_keys = sorted(k for k in first if ":cust:" in k)
        assert sorted(k for k in rebuilt if ":cust:" in k) == cust_keys
        assert {k: rebuilt[k] for k in cust_keys} == {k: first[k] for k in cust_keys}
        # Everything else too, but for the redirects of ids merged away: those are history (which
        # intermediate customers a consumer happened to see), not a function of the records.
        assert _without_redirects(rebuilt) == _without_redirects(first)


def _without_redirects(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if ":moved:" not in k}
