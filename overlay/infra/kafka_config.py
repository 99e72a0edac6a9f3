"""The configuration files of the single-node KRaft development broker."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from pathlib import Path

# Tuned for a laptop, a CI runner and tests: one node, replication 1, small internal topics
# (50 partitions of __consumer_offsets make the first consumer group slow), bounded disk use.
# Per-topic compaction settings belong to the topic specs, not here.
DEV_DEFAULTS: Mapping[str, str] = {
    "num.partitions": "1",
    "default.replication.factor": "1",
    "auto.create.topics.enable": "false",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "8",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "8",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "share.coordinator.state.topic.num.partitions": "8",
    "group.initial.rebalance.delay.ms": "0",
    "log.retention.hours": "24",
    "log.segment.bytes": str(64 * 1024 * 1024),
    "log.retention.check.interval.ms": "60000",
    "log.cleaner.enable": "true",
    "log.cleaner.threads": "1",
    # The default 128 MiB dedupe buffer would take an eighth of a 1 GiB heap.
    "log.cleaner.dedupe.buffer.size": str(32 * 1024 * 1024),
    "num.network.threads": "2",
    "num.io.threads": "4",
    "num.recovery.threads.per.data.dir": "1",
}


def broker_properties(
    *,
    host: str,
    port: int,
    controller_port: int,
    log_dir: Path,
    node_id: int = 1,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """All server.properties of a combined broker+controller node; ``extra`` wins over everything."""
    props: dict[str, str] = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": f"{node_id}@{host}:{controller_port}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(log_dir),
    }
    props.update(DEV_DEFAULTS)
    props.update(extra or {})
    return props


def _escape(text: str, *, key: bool) -> str:
    out = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    if key:
        out = out.replace("=", "\\=").replace(":", "\\:").replace(" ", "\\ ")
    return out


def render_properties(props: Mapping[str, str]) -> str:
    """A Java .properties text (escaped, so paths with backslashes survive)."""
    lines = ["# Written by overlay.infra.kafka_broker; rewritten at every start."]
    lines += [f"{_escape(k, key=True)}={_escape(v, key=False)}" for k, v in props.items()]
    return "\n".join(lines) + "\n"


def new_cluster_id() -> str:
    """A Kafka cluster id (base64url UUID, as ``kafka-storage random-uuid``) without starting a JVM."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):  # Kafka avoids these: they read as a command-line option
            return cid
