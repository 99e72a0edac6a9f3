"""Test session infrastructure: one real Kafka broker and one real Redis for the whole run.

Started on free loopback ports in a temporary folder (so two runs can share a machine) and
stopped at the end. ``OVERLAY_KAFKA_BOOTSTRAP`` / ``OVERLAY_REDIS_URL`` point the suite at
existing servers instead. Every test gets its own topic prefix and starts from an empty Redis, so
tests never see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from overlay.infra.kafka_admin import ensure_topics
from overlay.infra.stack import LocalStack
from overlay.settings import Settings
from overlay.topics import resolve_all


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    base = tmp_path_factory.mktemp("infra")
    async with LocalStack(base, kafka_heap="768m") as local:
        yield local


@pytest.fixture
async def settings(stack: LocalStack, tmp_path: Path) -> Settings:
    """Settings for one test: the session's servers and a private topic prefix."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    s = Settings(
        kafka_bootstrap=stack.bootstrap,
        redis_url=stack.redis_url,
        topic_prefix=prefix,
        topic_partitions=3,
        sim_dir=tmp_path / "sim",
        var_dir=tmp_path / "var",
        log_format="console",
    )
    await ensure_topics(stack.bootstrap, resolve_all(s))
    return s


@pytest.fixture
async def redis_client(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client: aioredis.Redis = aioredis.from_url(settings.redis_url.get_secret_value(), decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


def child_env(settings: Settings) -> dict[str, str]:
    """Environment for a subprocess (a worker, the API) that must use this test's settings."""
    return {
        **os.environ,
        "OVERLAY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "OVERLAY_REDIS_URL": settings.redis_url.get_secret_value(),
        "OVERLAY_TOPIC_PREFIX": settings.topic_prefix,
        "OVERLAY_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "OVERLAY_SIM_DIR": str(settings.sim_dir),
        "OVERLAY_LOG_FORMAT": "json",
        "OVERLAY_WORKER_LIVENESS_TIMEOUT_S": "60",
    }
