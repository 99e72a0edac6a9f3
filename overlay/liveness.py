"""A consumer-group liveness check: lag that does not move means a stuck consumer.

aiokafka consumers can stay stuck after a broker restart (aio-libs/aiokafka #1154) while the
process looks alive. The check compares the group's committed offsets with the partitions' end
offsets through the Kafka protocol only; when there is lag and the commits have not moved for
``timeout`` seconds, the worker is declared stuck and its owner restarts it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from overlay.logging import get_logger

log = get_logger(__name__)


class LagWatch:
    def __init__(self, bootstrap: str, group_id: str, topics: Sequence[str], timeout: float) -> None:
        self._bootstrap = bootstrap
        self._group = group_id
        self._topics = list(topics)
        self._timeout = timeout
        self._last_committed: dict[TopicPartition, int] | None = None  # None: no look yet
        self._last_progress = time.monotonic()

    async def lag(self) -> tuple[int, dict[TopicPartition, int]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, group_id=None)
        await admin.start()
        await consumer.start()
        try:
            committed_meta = await admin.list_consumer_group_offsets(self._group)
            committed = {tp: meta.offset for tp, meta in committed_meta.items()}
            described = await admin.describe_topics(self._topics)
            partitions = [
                TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]
            ]
            ends = await consumer.end_offsets(partitions) if partitions else {}
        finally:
            await consumer.stop()
            await admin.close()
        total = sum(max(0, end - max(committed.get(tp, 0), 0)) for tp, end in ends.items())
        return total, committed

    async def stuck(self) -> bool:
        """True when lag exists and no commit has moved for longer than the timeout."""
        try:
            total, committed = await self.lag()
        except KafkaError as exc:
            # Cannot tell (coordinator moving, broker restarting): not evidence of a stuck consumer.
            log.warning("worker.lag_unknown", group=self._group, error=type(exc).__name__)
            return False
        now = time.monotonic()
        if total == 0 or committed != self._last_committed:
            self._last_committed = committed
            self._last_progress = now
            return False
        idle = now - self._last_progress
        if idle > self._timeout:
            log.error("worker.stuck", group=self._group, lag=total, idle_s=round(idle, 1))
            return True
        return False
