"""Kafka and Redis plumbing against the real servers: publish, offsets, version-guarded writes."""

from __future__ import annotations

from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer

from connectors.offsets import OffsetStore
from customer_cache.identity import IdentityRules, customer_id
from customer_cache.keys import KEYS
from customer_cache.resolver import Resolver
from customer_cache.store import RecordStore
from customer_cache.view.model import Customer360
from overlay.events import ChangeEvent, EntityType, Operation
from overlay.kafka import EventPublisher
from overlay.models import Party
from overlay.topics import PARTY
from tests.integration.customer_cache.support import resolve_all


def party_event(key: str, version: int, family: str, op: Operation = Operation.UPSERT) -> ChangeEvent[Party]:
    return ChangeEvent[Party](
        source_system="crm", entity_type=EntityType.PARTY, source_key=key, operation=op,
        version=version, modified_at=datetime.now(UTC),
        payload=Party(given_name="Eva", family_name=family) if op is Operation.UPSERT else None,
    )


async def test_published_events_keep_per_entity_order_in_one_partition(settings):
    events = [party_event("K1", v, f"Name{v}") for v in range(1, 21)]
    events += [party_event("K2", v, f"Other{v}") for v in range(1, 21)]
    async with EventPublisher.create(settings) as publisher:
        acks = await publisher.publish_many(events)
    partitions_k1 = {a.partition for a, e in zip(acks, events, strict=True) if e.source_key == "K1"}
    assert len(partitions_k1) == 1

    consumer = AIOKafkaConsumer(PARTY.full_name(settings), bootstrap_servers=settings.kafka_bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        seen: list[ChangeEvent[Party]] = []
        while len(seen) < len(events):
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, "events did not arrive"
            for records in batch.values():
                seen += [ChangeEvent[Party].model_validate_json(r.value) for r in records]
    finally:
        await consumer.stop()
    assert [e.version for e in seen if e.source_key == "K1"] == list(range(1, 21))


async def test_offsets_survive_a_new_store_instance(settings):
    async with EventPublisher.create(settings) as publisher:
        store = OffsetStore(publisher, settings)
        assert await store.load("crm") == {}
        await store.commit("crm", {"customers": {"high_water": "2024-01-01T00:00:00Z"}})
        await store.commit("crm", {"customers": {"high_water": "2024-01-02T00:00:00Z"}})
        await store.commit("mobile", {"subscribers": {"page": 3}})
        again = OffsetStore(publisher, settings)
        assert await again.load("crm") == {"customers": {"high_water": "2024-01-02T00:00:00Z"}}
        assert await again.load("mobile") == {"subscribers": {"page": 3}}


async def test_the_customer_360_is_version_guarded_and_replay_safe(redis_client):
    store = RecordStore(redis_client)
    resolver = Resolver(redis_client)
    cid = customer_id(["crm/K7"], IdentityRules())

    async def family() -> str | None:
        await resolve_all(resolver)
        raw = await redis_client.get(KEYS.customer(cid))
        return None if raw is None else Customer360.model_validate_json(raw).golden.family_name

    history = [party_event("K7", 1, "Alt"), party_event("K7", 2, "Neu")]
    assert await store.apply(history) == [True, True]
    # An older event delivered again (at-least-once) does not overwrite the newer state …
    assert await store.apply([history[0]]) == [False]
    assert await family() == "Neu"
    # … a full replay ends in the same state …
    await store.apply(history)
    assert await family() == "Neu"
    # … and a delete is a versioned tombstone an old upsert cannot undo.
    assert await store.apply([party_event("K7", 3, "", Operation.DELETE)]) == [True]
    assert await store.apply([history[1]]) == [False]
    assert await family() is None
    assert await redis_client.zcard(KEYS.customers) == 0
