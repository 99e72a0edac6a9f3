"""Reads what a connector published: canonical events and dead letters, from the beginning."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

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
        assert self._consumer is not None, "TopicWatch is used outside `async with`"
        batch = await self._consumer.getmany(timeout_ms=200)
        for tp, records in batch.items():
            for record in records:
                if tp.topic == self._dead_letter_topic:
                    try:
                        self.dead_letters.append(json.loads(record.value))
                    except (TypeError, ValueError) as exc:
                        where = f"{tp.topic}@{tp.partition}/{record.offset}"
                        raise AssertionError(f"{where}: a dead letter that is not JSON ({exc})") from None
                    continue
                entity = self._topics[tp.topic]
                payload = BY_ENTITY[entity].payload
                assert payload is not None
                try:
                    event: ChangeEvent[Any] = ChangeEvent[payload].model_validate_json(  # type: ignore[valid-type]
                        record.value
                    )
                except (TypeError, ValidationError) as exc:
                    key = record.key.decode(errors="replace") if record.key else None
                    raise AssertionError(
                        f"{tp.topic}@{tp.partition}/{record.offset} (key {key}) is not a valid "
                        f"ChangeEvent[{payload.__name__}]: {exc}"
                    ) from None
                self.events[(entity, event.source_system, event.source_key)].append(event)

    def keys(self, source_system: str) -> dict[EntityType, set[str]]:
        found: dict[EntityType, set[str]] = defaultdict(set)
        for entity, system, key in self.events:
            if system == source_system:
                found[entity].add(key)
        return found

    def of(self, entity: EntityType, source_system: str, source_key: str) -> list[ChangeEvent[Any]]:
        """The events of one source entity, in the order they were read."""
        return self.events.get((entity, source_system, source_key), [])

    def dead_letters_of(self, connector: str, stream: str | None = None) -> list[dict[str, Any]]:
        return [d for d in self.dead_letters
                if d.get("connector") == connector and (stream is None or d.get("stream") == stream)]

    async def until(
        self,
        condition: Callable[[], bool],
        timeout: float,
        what: str,
        *,
        explain: Callable[[], str] | None = None,
        alive: Callable[[], None] | None = None,
    ) -> None:
        """Poll until ``condition()``; on timeout an AssertionError saying what was awaited and, from
        ``explain()``, what was seen instead. ``alive()`` raises if the connector died meanwhile (so a
        crash fails at once, with its cause, instead of as a timeout)."""
        deadline = time.monotonic() + timeout
        while not condition():
            if alive is not None:
                alive()
            if time.monotonic() > deadline:
                detail = f"\n{explain()}" if explain is not None else ""
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
            await self.poll()
            await asyncio.sleep(0)

    def missing(self, source_system: str, expected: dict[EntityType, set[str]]) -> dict[str, list[str]]:
        """Expected keys not seen yet, per entity type (the first ten of each)."""
        found = self.keys(source_system)
        gaps = {e.value: sorted(keys - found.get(e, set())) for e, keys in expected.items()}
        return {e: keys[:10] for e, keys in gaps.items() if keys}

    def summary(self, source_system: str, connector: str | None = None) -> str:
        """What was published so far (for failure messages)."""
        counts = {e.value: len(keys) for e, keys in sorted(self.keys(source_system).items())}
        events = sum(len(v) for (_, system, _), v in self.events.items() if system == source_system)
        text = f"published for source_system {source_system!r}: {events} event(s), distinct keys {counts}"
        letters = self.dead_letters if connector is None else self.dead_letters_of(connector)
        if letters:
            reasons = Counter(f"{d.get('stream')}: {str(d.get('reason'))[:160]}" for d in letters)
            text += f"; {len(letters)} dead letter(s): " + "; ".join(
                f"{n}x {reason}" for reason, n in reasons.most_common(3)
            )
        else:
            text += "; no dead letters"
        return text
