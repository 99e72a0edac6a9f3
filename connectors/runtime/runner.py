"""Runs one configured connector: every stream read, mapped, published and checkpointed.

The order of operations is what makes a restart safe: records are handed to the producer as they
are mapped; at a checkpoint the runner waits until Kafka acknowledged every record before it, then
commits the stream's state to the offsets topic, then lets the source know (``on_commit``). A crash
anywhere replays records since the last commit, which version-guarded consumers absorb; nothing
is skipped. A record that cannot be mapped goes to the dead-letter topic and the stream carries on.
A source that fails is marked unhealthy and retried on its slower cadence; other connectors and
streams are not affected.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.mapping.engine import CompiledStream
from connectors.mapping.errors import MappingError
from connectors.offsets import OffsetStore
from connectors.runtime.reconcile import reconcile_stream
from connectors.runtime.status import ConnectorState, ConnectorStatus
from connectors.sources.base import Checkpoint, Source, SourceConfig, SourceRecord, StreamConfig
from overlay.events import ChangeEvent
from overlay.kafka import EventPublisher
from overlay.logging import get_logger
from overlay.settings import Settings, get_settings
from overlay.topics import DEAD_LETTER

log = get_logger(__name__)

_BATCH = 1000  # events handed to the producer at once (between checkpoints)


@dataclass(frozen=True)
class RunOptions:
    once: bool = False
    """One pass per stream (a snapshot or a catch-up), then stop."""
    snapshot: bool = False
    """Ignore committed positions and read every stream from the start."""


class ConnectorRunner:
    def __init__(
        self,
        config: SourceConfig,
        source: Source[Any],
        compiled: Mapping[str, CompiledStream],
        publisher: EventPublisher,
        offsets: OffsetStore,
        status: ConnectorStatus,
        options: RunOptions = RunOptions(),
        settings: Settings | None = None,
    ) -> None:
        self.config = config
        self.source = source
        self.compiled = compiled
        self.status = status
        self._publisher = publisher
        self._offsets = offsets
        self._options = options
        self._settings = settings or get_settings()
        self._states: dict[str, dict[str, Any]] = {}
        self._commit_lock = asyncio.Lock()

    async def run(self) -> None:
        """Run every stream until cancelled (or one pass each with ``once``)."""
        if not self._options.snapshot:
            self._states = await self._offsets.load(self.config.name)
        snapshot = self._options.snapshot or not self._states
        self.status.state = ConnectorState.SNAPSHOT if snapshot else ConnectorState.RUNNING
        log.info("connector.start", connector=self.config.name, snapshot=snapshot,
                 streams=[s.name for s in self.config.streams])
        tasks = [self._run_stream(s) for s in self.config.streams]
        if not self._options.once:
            tasks += [self._reconcile_periodically(s) for s in self.config.streams if s.reconcile_every_s]
        try:
            await asyncio.gather(*tasks)
        finally:
            self.status.state = ConnectorState.STOPPED
            log.info("connector.stop", connector=self.config.name)

    async def _run_stream(self, stream: StreamConfig) -> None:
        if self.status.streams[stream.name].estimate is None:
            try:
                self.status.streams[stream.name].estimate = await self.source.estimate(stream)
            except Exception as exc:
                log.info("connector.estimate_unavailable", connector=self.config.name,
                         stream=stream.name, error=type(exc).__name__)
        while True:
            try:
                await self._one_pass(stream)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.status.failed(exc)
                log.warning("connector.unhealthy", connector=self.config.name, stream=stream.name,
                            error=f"{type(exc).__name__}: {exc}"[:300],
                            retry_in_s=self.config.unhealthy_poll_interval_s)
                if self._options.once:
                    raise
                await asyncio.sleep(self.config.unhealthy_poll_interval_s)
                continue
            self.status.pass_completed(stream.name)
            if self._options.once or self.source.is_push:
                return
            await asyncio.sleep(self.config.poll_interval_s)

    async def _reconcile_periodically(self, stream: StreamConfig) -> None:
        """Hard deletes: compare published keys with the source's, every ``reconcile_every_s``."""
        if not callable(getattr(self.source, "keys", None)):
            log.warning("connector.cannot_reconcile", connector=self.config.name, stream=stream.name,
                        reason=f"a {self.config.type} source cannot list its keys")
            return
        assert stream.reconcile_every_s is not None
        while True:
            await asyncio.sleep(stream.reconcile_every_s)
            try:
                await reconcile_stream(stream, self.source, self.config.source_system,  # type: ignore[arg-type]
                                       self._publisher, self._settings)
            except Exception as exc:
                log.warning("connector.reconcile_failed", connector=self.config.name, stream=stream.name,
                            error=f"{type(exc).__name__}: {exc}"[:300])

    async def _one_pass(self, stream: StreamConfig) -> None:
        compiled = self.compiled[stream.name]
        pending: list[asyncio.Future[Any]] = []
        buffer: list[ChangeEvent[Any]] = []
        state = self._states.get(stream.name, {})
        debug = logging.getLogger(__name__).isEnabledFor(logging.DEBUG)
        async for item in self.source.read(stream, state):
            if isinstance(item, SourceRecord):
                self.status.read(stream.name)
                try:
                    events = compiled.build(item.data, observed_at=datetime.now(UTC))
                except MappingError as exc:
                    await self._dead_letter(stream.name, item, str(exc))
                    continue
                buffer.extend(events)
                if debug:
                    for event in events:
                        log.debug("connector.record", connector=self.config.name, stream=stream.name,
                                  **event.log_context())
                if len(buffer) >= _BATCH:
                    await self._send(stream.name, buffer, pending)
            elif isinstance(item, Checkpoint):
                await self._send(stream.name, buffer, pending)
                await self._drain(pending)
                await self._commit(stream.name, dict(item.state))
                if item.on_commit is not None:
                    await item.on_commit()
        await self._send(stream.name, buffer, pending)
        await self._drain(pending)

    async def _send(
        self, stream: str, buffer: list[ChangeEvent[Any]], pending: list[asyncio.Future[Any]]
    ) -> None:
        if buffer:
            pending.extend(await self._publisher.enqueue_many(buffer))
            self.status.published(stream, len(buffer))
            buffer.clear()

    @staticmethod
    async def _drain(pending: list[asyncio.Future[Any]]) -> None:
        if pending:
            await asyncio.gather(*pending)
            pending.clear()

    async def _commit(self, stream: str, state: dict[str, Any]) -> None:
        async with self._commit_lock:
            self._states[stream] = state
            await self._offsets.commit(self.config.name, self._states)

    async def _dead_letter(self, stream: str, record: SourceRecord, reason: str) -> None:
        body = {
            "connector": self.config.name,
            "stream": stream,
            "reason": reason,
            "position": dict(record.position),
            "original": record.data,
            "at": time.time(),
        }
        await self._publisher.send_raw(
            DEAD_LETTER, self.config.name.encode(), json.dumps(body, default=str).encode()
        )
        self.status.dead_letter(stream)
        log.warning("connector.dead_letter", connector=self.config.name, stream=stream,
                    reason=reason[:300], position=dict(record.position))
