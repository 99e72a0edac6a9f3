"""Kafka plumbing shared by connectors and processors: one way to build producers and publish events.

Producers are idempotent with ``acks=all`` so a retried send never duplicates a record inside
Kafka, and :meth:`EventPublisher.publish` returns only once the broker has acknowledged: callers
commit their source positions after that, never before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.structs import RecordMetadata

from overlay.events import ChangeEvent
from overlay.settings import Settings, get_settings
from overlay.topics import BY_ENTITY, TopicSpec

# One partitioner for single sends and batch building alike, so a key always maps to the same
# partition (murmur2, as the Java client) whichever path published it.
PARTITIONER = DefaultPartitioner()


def make_producer(settings: Settings | None = None, **overrides: Any) -> AIOKafkaProducer:
    s = settings or get_settings()
    options: dict[str, Any] = {
        "bootstrap_servers": s.kafka_bootstrap,
        "partitioner": PARTITIONER,
        "client_id": "overlay",
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 5,
        "max_batch_size": 256 * 1024,
        "request_timeout_ms": 30_000,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


class EventPublisher:
    """Publishes :class:`ChangeEvent` s to the topic of their entity type."""

    def __init__(self, producer: AIOKafkaProducer, settings: Settings | None = None) -> None:
        self._producer = producer
        self._settings = settings or get_settings()
        self._partitions: dict[str, list[int]] = {}

    @classmethod
    def create(cls, settings: Settings | None = None) -> EventPublisher:
        return cls(make_producer(settings), settings)

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def __aenter__(self) -> EventPublisher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def topic_for(self, event: ChangeEvent[Any]) -> str:
        return BY_ENTITY[event.entity_type].full_name(self._settings)

    async def enqueue(self, event: ChangeEvent[Any]) -> asyncio.Future[RecordMetadata]:
        """Hand one event to the producer's batch; await the returned future for the broker's ack."""
        future: asyncio.Future[RecordMetadata] = await self._producer.send(
            self.topic_for(event), value=event.to_bytes(), key=event.message_key()
        )
        return future

    async def enqueue_many(self, events: Sequence[ChangeEvent[Any]]) -> list[asyncio.Future[Any]]:
        """Hand many events to the producer as ready-made batches, one per partition.

        The fast path for connectors: building batches here skips most of the producer's
        per-record work. Per-key order is kept (a key always maps to one partition and batches of
        a partition are sent in order). Await the returned futures for the broker's acks.
        """
        builders: dict[tuple[str, int], BatchBuilder] = {}
        futures: list[asyncio.Future[Any]] = []
        for event in events:
            topic = self.topic_for(event)
            partitions = self._partitions.get(topic)
            if partitions is None:
                partitions = sorted(await self._producer.partitions_for(topic))
                self._partitions[topic] = partitions
            key = event.message_key()
            target = (topic, PARTITIONER(key, partitions, partitions))
            value = event.to_bytes()
            builder = builders.get(target)
            if builder is None:
                builder = builders[target] = self._producer.create_batch()
            if builder.append(key=key, value=value, timestamp=None) is None:  # full: ship it
                futures.append(await self._producer.send_batch(builder, target[0], partition=target[1]))
                builder = builders[target] = self._producer.create_batch()
                if builder.append(key=key, value=value, timestamp=None) is None:
                    raise ValueError(f"event {event.event_id} is larger than a whole batch")
        for (topic, partition), builder in builders.items():
            if builder.record_count():
                futures.append(await self._producer.send_batch(builder, topic, partition=partition))
        return futures

    async def publish(self, event: ChangeEvent[Any]) -> RecordMetadata:
        return await (await self.enqueue(event))

    async def publish_many(self, events: Iterable[ChangeEvent[Any]]) -> Sequence[RecordMetadata]:
        """Send events one by one and wait until the broker acknowledged every one of them."""
        futures = [await self.enqueue(e) for e in events]
        return await asyncio.gather(*futures)

    async def send_raw(self, topic: TopicSpec, key: bytes | None, value: bytes | None) -> RecordMetadata:
        future = await self._producer.send(topic.full_name(self._settings), value=value, key=key)
        result: RecordMetadata = await future
        return result
