"""The customer_cache stream processor: canonical party changes → the Redis read model.

At-least-once: faust commits an offset only after the agent has finished with the event, and every
Redis write is version-guarded, so a crash or a replay from any offset ends in the same state. A
record that is not a valid event goes to the dead-letter topic with its reason; nothing is dropped
silently. A lag watch restarts the worker when its consumer stops making progress.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import faust
from pydantic import ValidationError

from customer_cache.read_model import CustomerReadModel
from overlay import topics
from overlay.events import ChangeEvent
from overlay.faust_app import make_faust_app
from overlay.liveness import LagWatch
from overlay.logging import bind_correlation, clear_correlation, get_logger
from overlay.models import Party
from overlay.redis import make_redis
from overlay.settings import Settings, get_settings

log = get_logger(__name__)

APP_ID = "overlay-customer-cache"


def create_app(settings: Settings | None = None) -> faust.App:
    s = settings or get_settings()
    app = make_faust_app(APP_ID, s)
    party_topic = app.topic(
        topics.PARTY.full_name(s), key_type=bytes, value_type=bytes,
        key_serializer="raw", value_serializer="raw",
    )
    dead_letter = app.topic(
        topics.DEAD_LETTER.full_name(s), key_type=bytes, value_type=bytes,
        key_serializer="raw", value_serializer="raw",
    )
    state: dict[str, Any] = {}

    def read_model() -> CustomerReadModel:
        if "model" not in state:
            state["model"] = CustomerReadModel(make_redis(s))
        return state["model"]  # type: ignore[no-any-return]

    @app.agent(party_topic)
    async def project_parties(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            raw: bytes = event.value
            try:
                change = ChangeEvent[Party].model_validate_json(raw)
            except ValidationError as exc:
                log.error("event.invalid", topic=party_topic.get_topic_name(),
                          offset=event.message.offset, errors=exc.error_count())
                await dead_letter.send(key=APP_ID.encode(), value=_dead_letter(raw, exc, event))
                continue
            bind_correlation(**change.log_context())
            applied = await read_model().apply_party(change)
            lag_ms = (time.time() - change.observed_at.timestamp()) * 1000
            log.debug("party.projected", applied=applied, visible_after_ms=round(lag_ms, 1))
            clear_correlation()

    watch = LagWatch(s.kafka_bootstrap, app.conf.id, [party_topic.get_topic_name()],
                     s.worker_liveness_timeout_s)

    @app.timer(interval=max(1.0, s.worker_liveness_timeout_s / 4))  # type: ignore[untyped-decorator]
    async def liveness() -> None:
        if await watch.stuck():
            log.error("worker.restart", reason="consumer made no progress with lag outstanding")
            os._exit(70)  # the supervisor (demo, systemd, Kubernetes) starts a fresh process

    return app


def _dead_letter(raw: bytes, exc: ValidationError, event: Any) -> bytes:
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

    app = create_app(settings)
    worker = Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False,
                    override_logging=False)
    worker.execute_from_commandline()
