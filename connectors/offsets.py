"""Source positions kept in a compacted Kafka topic, keyed by connector name.

Kafka is the only durable store a connector needs: on start the whole (small, compacted) topic is
read to its end and the last state per connector wins.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from overlay.kafka import EventPublisher
from overlay.settings import Settings, get_settings
from overlay.topics import SOURCE_OFFSETS


class OffsetStore:
    def __init__(self, publisher: EventPublisher, settings: Settings | None = None) -> None:
        self._publisher = publisher
        self._settings = settings or get_settings()

    async def load(self, connector: str) -> dict[str, dict[str, Any]]:
        """The last committed state of every stream of ``connector`` (empty on first run)."""
        return (await self.load_all()).get(connector, {})

    async def load_all(self) -> dict[str, dict[str, dict[str, Any]]]:
        topic = SOURCE_OFFSETS.full_name(self._settings)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            group_id=None,
        )
        await consumer.start()
        states: dict[str, dict[str, dict[str, Any]]] = {}
        try:
            partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or {0})]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            end = await consumer.end_offsets(partitions)
            remaining = {tp for tp in partitions if end[tp] > 0}
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=1000)
                for records in batch.values():
                    for record in records:
                        if record.key is None:
                            continue
                        name = record.key.decode()
                        if record.value is None:
                            states.pop(name, None)
                        else:
                            states[name] = json.loads(record.value)
                for tp in list(remaining):
                    if await consumer.position(tp) >= end[tp]:
                        remaining.discard(tp)
        finally:
            await consumer.stop()
        return states

    async def commit(self, connector: str, streams: Mapping[str, Mapping[str, Any]]) -> None:
        """Write the full state of ``connector``; callers do so only after their records were acked."""
        value = json.dumps(streams, sort_keys=True, default=str).encode()
        await self._publisher.send_raw(SOURCE_OFFSETS, connector.encode(), value)
