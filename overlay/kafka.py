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
from aiokafka.structs import RecordMetadata

from overlay.events import ChangeEvent
from overlay.settings import Settings, get_settings
from overlay.topics import BY_ENTITY, TopicSpec


def make_producer(settings: Settings | None = None, **overrides: Any) -> AIOKafkaProducer:
    s = settings or get_settings()
    options: dict[str, Any] = {
        "bootstrap_servers": s.kafka_bootstrap,
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

    async def publish(self, event: ChangeEvent[Any]) -> RecordMetadata:
        return await (await self.enqueue(event))

    async def publish_many(self, events: Iterable[ChangeEvent[Any]]) -> Sequence[RecordMetadata]:
        """Send a batch and wait until the broker acknowledged every record of it."""
        futures = [await self.enqueue(e) for e in events]
        return await asyncio.gather(*futures)

    async def send_raw(self, topic: TopicSpec, key: bytes | None, value: bytes | None) -> RecordMetadata:
        future = await self._producer.send(topic.full_name(self._settings), value=value, key=key)
        result: RecordMetadata = await future
        return result
