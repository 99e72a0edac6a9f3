"""Periodic key reconciliation: deletes for rows that vanished from the source without a trace.

Legacy systems that delete rows for good leave nothing for an incremental reader to see. Every
``reconcile_every_s`` the runtime compares the keys still live on the compacted canonical topic
with the keys the source lists now, and publishes a delete for each key the source no longer has.

Order matters: the topic is read first, the source listed second. A row inserted in between is
absent from the topic's snapshot, so it is never mistaken for a deletion; a row deleted in between
is absent from the source listing and correctly deleted. Only outputs whose key is the stream's
own key (a plain ``key: COLUMN``) take part; the deletes carry the current time as version, so a
later re-insert (newer modified-at) wins over them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from connectors.mapping.spec import OutputSpec
from connectors.sources.base import StreamConfig
from overlay.events import ChangeEvent, EntityType, Operation, version_from_datetime
from overlay.kafka import EventPublisher
from overlay.logging import get_logger
from overlay.settings import Settings
from overlay.topics import BY_ENTITY

log = get_logger(__name__)


class ListsKeys(Protocol):
    def keys(self, stream: StreamConfig) -> AsyncIterator[list[str]]: ...


def reconcilable_outputs(outputs: Sequence[OutputSpec]) -> list[OutputSpec]:
    """Outputs keyed by the record's own key: a plain path, no template, transform or for_each."""
    return [o for o in outputs if o.key.from_ is not None and not o.key.transform and o.for_each is None]


async def live_keys_on_topic(settings: Settings, entity: EntityType, source_system: str) -> set[str]:
    """Source keys of ``source_system`` whose latest event on the entity's topic is not a delete."""
    topic = BY_ENTITY[entity].full_name(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    prefix = f"{source_system}/".encode()
    deleted_marker = b'"operation":"delete"'
    live: set[str] = set()
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=10_000)
            for records in batch.values():
                for record in records:
                    if record.key is None or not record.key.startswith(prefix):
                        continue
                    key = record.key[len(prefix):].decode()
                    if record.value is None or deleted_marker in record.value:
                        live.discard(key)
                    else:
                        live.add(key)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return live


async def reconcile_stream(
    stream: StreamConfig, source: ListsKeys, source_system: str, publisher: EventPublisher,
    settings: Settings,
) -> int:
    """Publish deletes for keys gone from the source; returns how many."""
    outputs = reconcilable_outputs(stream.outputs)
    if not outputs:
        return 0
    published: dict[EntityType, set[str]] = {}
    for output in outputs:
        published[output.entity] = await live_keys_on_topic(settings, output.entity, source_system)
    in_source: set[str] = set()
    async for page in source.keys(stream):
        in_source.update(page)
    now = datetime.now(UTC)
    deletes: list[ChangeEvent[Any]] = [
        ChangeEvent[Any](
            source_system=source_system, entity_type=entity, source_key=key,
            operation=Operation.DELETE, version=version_from_datetime(now), observed_at=now,
        )
        for entity, keys in published.items()
        for key in sorted(keys - in_source)
    ]
    if deletes:
        for future in await publisher.enqueue_many(deletes):
            await future
    log.info("connector.reconciled", stream=stream.name, source_keys=len(in_source),
             deletes=len(deletes))
    return len(deletes)
