"""The ``settings`` fixture Overlay's conformance kit needs: a real Kafka broker, a private topic prefix.

``LocalStack`` (from the ``overlay`` package) starts Kafka and Redis on free loopback ports for the
session, fetching the broker from Maven Central on first use (cached under ``OVERLAY_KAFKA_CACHE``,
default ``.cache/kafka``); set ``OVERLAY_KAFKA_BOOTSTRAP`` and ``OVERLAY_REDIS_URL`` to use running
servers instead. Every test gets its own topic prefix, so tests never see each other's events.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from overlay.infra.kafka_admin import ensure_topics
from overlay.infra.stack import LocalStack
from overlay.settings import Settings
from overlay.topics import resolve_all


@pytest.fixture(scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    async with LocalStack(tmp_path_factory.mktemp("infra"), kafka_heap="768m") as local:
        yield local


@pytest.fixture
async def settings(stack: LocalStack, tmp_path: Path) -> Settings:
    s = Settings(
        kafka_bootstrap=stack.bootstrap,
        redis_url=stack.redis_url,
        topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
        topic_partitions=3,
        var_dir=tmp_path / "var",
        log_format="console",
    )
    await ensure_topics(stack.bootstrap, resolve_all(s))
    return s
