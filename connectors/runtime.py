"""Runs a connector: publishes its records and commits its state in the only safe order.

Records are handed to the producer as they come (batched by the producer); when a state message
arrives, the runtime first waits for the broker's acknowledgement of every record before it, then
commits the state. A crash between the two replays records (a duplicate, harmless downstream),
never skips one.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiokafka.structs import RecordMetadata

from connectors.offsets import OffsetStore
from connectors.protocol import Connector, DeadLetterMessage, RecordMessage, StateMessage
from overlay.kafka import EventPublisher
from overlay.logging import get_logger
from overlay.topics import DEAD_LETTER

log = get_logger(__name__)


@dataclass
class RunStats:
    records: int = 0
    dead_letters: int = 0
    states: int = 0
    started: float = field(default_factory=time.monotonic)
    last_success: float | None = None

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.records / elapsed if elapsed > 0 else 0.0


async def run_connector(
    connector: Connector, publisher: EventPublisher, offsets: OffsetStore, stats: RunStats | None = None
) -> RunStats:
    """Run until the connector's ``read`` ends (``once``) or the task is cancelled."""
    stats = stats or RunStats()
    streams: dict[str, dict[str, Any]] = await offsets.load(connector.name)
    log.info("connector.start", connector=connector.name, streams=sorted(streams))
    pending: list[asyncio.Future[RecordMetadata]] = []
    async for message in connector.read(streams):
        if isinstance(message, RecordMessage):
            pending.append(await publisher.enqueue(message.event))
            stats.records += 1
            log.debug("connector.record", connector=connector.name, **message.event.log_context())
        elif isinstance(message, StateMessage):
            if pending:
                await asyncio.gather(*pending)
                pending.clear()
            streams[message.stream] = dict(message.state)
            await offsets.commit(connector.name, streams)
            stats.states += 1
            stats.last_success = time.time()
        elif isinstance(message, DeadLetterMessage):
            await publisher.send_raw(DEAD_LETTER, connector.name.encode(), _dead_letter(connector, message))
            stats.dead_letters += 1
            log.warning("connector.dead_letter", connector=connector.name, stream=message.stream,
                        reason=message.reason)
    if pending:
        await asyncio.gather(*pending)
    log.info("connector.stop", connector=connector.name, records=stats.records)
    return stats


def _dead_letter(connector: Connector, message: DeadLetterMessage) -> bytes:
    body = {
        "connector": connector.name,
        "stream": message.stream,
        "reason": message.reason,
        "position": message.position,
        "original": message.original,
        "at": time.time(),
    }
    return json.dumps(body, default=str).encode()
