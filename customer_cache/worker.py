"""The customer_cache stream processor: canonical change events → the customer 360 in Redis.

Stage 1 runs in faust agents, one per canonical topic of the customer 360 (party, contactMedium,
address, account, productInstance, order, orderStatus), in batches (``stream.take_events``): each
batch is applied by :class:`~customer_cache.store.RecordStore` in two pipelined round trips.
Stages 2 and 3 run in the :class:`~customer_cache.resolver.Resolver`, a background service in every
worker; a Redis lease decides which one resolves.

At-least-once: faust commits an offset only after the batch holding it was applied (a failed Redis
write is retried, never skipped: leaving the batch would acknowledge it), and every write is
version-guarded, so a crash or a replay from any offset ends in the same state. A record that is not
a valid event goes to the dead-letter topic with its reason; nothing is dropped silently. A lag
watch restarts the worker when its consumer stops making progress.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import faust
from mode import Service
from prometheus_client import Counter
from pydantic import ValidationError

from customer_cache.events import IdentityEvent
from customer_cache.resolver import Resolver
from customer_cache.store import CUSTOMER_ENTITIES, ENTITY_MODELS, RecordStore
from overlay import topics
from overlay.events import ChangeEvent, EntityType
from overlay.faust_app import make_faust_app
from overlay.kafka import make_producer
from overlay.liveness import LagWatch
from overlay.logging import bind_correlation, clear_correlation, get_logger
from overlay.redis import make_redis
from overlay.settings import Settings, get_settings

log = get_logger(__name__)

APP_ID = "overlay-customer-cache"

DEAD_LETTERS = Counter(
    "overlay_customer_dead_letters_total", "Invalid records sent to the dead-letter topic.", ["entity"]
)


class KafkaIdentityPublisher:
    """Identity events on ``overlay.customer-identity``, keyed by customer id, acknowledged by the
    broker before :meth:`publish` returns."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._topic = topics.CUSTOMER_IDENTITY.full_name(settings)
        self._producer: Any = None

    async def start(self) -> None:
        if self._producer is None:
            producer = make_producer(self._settings, client_id="overlay-customer-identity")
            await producer.start()
            self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def publish(self, events: Sequence[IdentityEvent]) -> None:
        await self.start()
        futures = [
            await self._producer.send(self._topic, value=e.to_bytes(), key=e.message_key()) for e in events
        ]
        await asyncio.gather(*futures)


class Runtime:
    """What the agents and the resolver service share in one worker process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: RecordStore | None = None
        self.resolver: Resolver | None = None
        self.publisher = KafkaIdentityPublisher(settings)

    @property
    def store(self) -> RecordStore:
        if self._store is None:  # created in the worker's event loop
            self._store = RecordStore(make_redis(self.settings))
        return self._store

    def make_resolver(self) -> Resolver:
        if self.resolver is None:
            s = self.settings
            self.resolver = Resolver(
                make_redis(s), publisher=self.publisher, batch_size=s.resolver_batch_size,
                lease_ms=s.resolver_lease_ms,
            )
        return self.resolver

    async def apply(self, events: Sequence[ChangeEvent[Any]]) -> list[bool]:
        """Apply a batch, retrying until Redis takes it: a batch is never left unapplied, since
        leaving it would let faust commit its offsets."""
        delay = 0.1
        while True:
            try:
                applied = await self.store.apply(events)
            except Exception as exc:
                log.error("records.apply_failed", error=type(exc).__name__, events=len(events),
                          first_event_id=events[0].event_id, retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if self.resolver is not None:
                self.resolver.poke()
            return applied


def create_app(settings: Settings | None = None) -> faust.App:
    s = settings or get_settings()
    app = make_faust_app(APP_ID, s)
    runtime = Runtime(s)
    dead_letter = app.topic(
        topics.DEAD_LETTER.full_name(s), key_type=bytes, value_type=bytes,
        key_serializer="raw", value_serializer="raw",
    )
    subscribed: list[str] = []
    for entity in CUSTOMER_ENTITIES:
        topic = app.topic(
            topics.BY_ENTITY[entity].full_name(s), key_type=bytes, value_type=bytes,
            key_serializer="raw", value_serializer="raw",
        )
        subscribed.append(topic.get_topic_name())
        app.agent(topic, name=f"{APP_ID}.{entity.value}")(_agent(entity, runtime, dead_letter, s))

    @app.service
    class ResolverService(Service):
        """Stages 2 and 3 in the background; the lease decides whether this worker resolves."""

        async def on_start(self) -> None:
            runtime.make_resolver().start()

        async def on_stop(self) -> None:
            if runtime.resolver is not None:
                await runtime.resolver.stop()
            await runtime.publisher.stop()

    watch = LagWatch(s.kafka_bootstrap, app.conf.id, subscribed, s.worker_liveness_timeout_s)

    @app.timer(interval=max(1.0, s.worker_liveness_timeout_s / 4))  # type: ignore[untyped-decorator]
    async def liveness() -> None:
        if await watch.stuck():
            log.error("worker.restart", reason="consumer made no progress with lag outstanding")
            os._exit(70)  # the supervisor (demo, systemd, Kubernetes) starts a fresh process

    return app


def _agent(
    entity: EntityType, runtime: Runtime, dead_letter: faust.TopicT, s: Settings
) -> Callable[[faust.StreamT[bytes]], Any]:
    model: Any = cast(Any, ChangeEvent)[ENTITY_MODELS[entity.value]]

    async def apply_changes(stream: faust.StreamT[bytes]) -> None:
        debug = logging.getLogger(__name__).isEnabledFor(logging.DEBUG)
        batches = cast(Any, stream).take_events(s.worker_batch_size, within=s.worker_batch_wait_s)
        async for batch in batches:
            changes: list[ChangeEvent[Any]] = []
            for event in batch:
                raw: bytes = event.value
                try:
                    change = model.model_validate_json(raw)
                    if change.entity_type is not entity:
                        raise ValueError(f"a {change.entity_type.value} event on the {entity.value} topic")
                except (ValidationError, ValueError) as exc:
                    count = exc.error_count() if isinstance(exc, ValidationError) else 1
                    log.error("event.invalid", topic=event.message.topic, partition=event.message.partition,
                              offset=event.message.offset, errors=count)
                    DEAD_LETTERS.labels(entity.value).inc()
                    await dead_letter.send(key=APP_ID.encode(), value=_dead_letter(raw, exc, event))
                    continue
                changes.append(change)
            if not changes:
                continue
            applied = await runtime.apply(changes)
            if debug:
                now = time.time()
                for change, ok in zip(changes, applied, strict=True):
                    bind_correlation(**change.log_context())
                    log.debug("record.applied" if ok else "record.ignored",
                              observed_ms_ago=round((now - change.observed_at.timestamp()) * 1000, 1))
                    clear_correlation()

    apply_changes.__name__ = apply_changes.__qualname__ = f"apply_{entity.value}"
    return apply_changes


def _dead_letter(raw: bytes, exc: Exception, event: Any) -> bytes:
    return json.dumps(
        {
            "connector": APP_ID,
            "reason": str(exc),
            "position": {"topic": event.message.topic, "partition": event.message.partition,
                         "offset": event.message.offset},
            "original": raw.decode(errors="replace"),
            "at": time.time(),
        }
    ).encode()


def run(settings: Settings | None = None) -> None:
    """Run the worker in the foreground until SIGTERM/SIGINT."""
    from faust.worker import Worker

    s = settings or get_settings()
    if s.worker_metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(s.worker_metrics_port, addr=s.worker_metrics_host)
        log.info("worker.metrics", host=s.worker_metrics_host, port=s.worker_metrics_port)
    app = create_app(s)
    worker = Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False,
                    override_logging=False)
    worker.execute_from_commandline()
