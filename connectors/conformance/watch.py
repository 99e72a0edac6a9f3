"""Reads what a connector published: canonical events and dead letters, from the beginning."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

from overlay.events import ChangeEvent, EntityType
from overlay.settings import Settings
from overlay.topics import BY_ENTITY, DEAD_LETTER


class TopicWatch:
    """Consumes every canonical topic and the dead-letter topic of one deployment (its prefix)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.events: dict[tuple[EntityType, str, str], list[ChangeEvent[Any]]] = defaultdict(list)
        self.dead_letters: list[dict[str, Any]] = []
        self._topics = {spec.full_name(settings): entity for entity, spec in BY_ENTITY.items()}
        self._dead_letter_topic = DEAD_LETTER.full_name(settings)
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> TopicWatch:
        self._consumer = AIOKafkaConsumer(
            *self._topics, self._dead_letter_topic, bootstrap_servers=self._settings.kafka_bootstrap,
            group_id=None, auto_offset_reset="earliest", enable_auto_commit=False,
        )
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def poll(self) -> None:
        assert self._consumer is not None
        batch = await self._consumer.getmany(timeout_ms=200)
        for tp, records in batch.items():
            for record in records:
                if tp.topic == self._dead_letter_topic:
                    self.dead_letters.append(json.loads(record.value))
                    continue
                entity = self._topics[tp.topic]
                payload = BY_ENTITY[entity].payload
                assert payload is not None
                event: ChangeEvent[Any] = ChangeEvent[payload].model_validate_json(  # type: ignore[valid-type]
                    record.value
                )
                self.events[(entity, event.source_system, event.source_key)].append(event)

    def keys(self, source_system: str) -> dict[EntityType, set[str]]:
        found: dict[EntityType, set[str]] = defaultdict(set)
        for entity, system, key in self.events:
            if system == source_system:
                found[entity].add(key)
        return found

    async def until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
            await self.poll()
            await asyncio.sleep(0)

    def missing(self, source_system: str, expected: dict[EntityType, set[str]]) -> dict[str, list[str]]:
        found = self.keys(source_system)
        gaps = {e.value: sorted(keys - found.get(e, set())) for e, keys in expected.items()}
        return {e: keys[:10] for e, keys in gaps.items() if keys}
