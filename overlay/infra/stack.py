"""The whole local infrastructure in one context manager: Kafka broker + Redis.

Used by ``overlay infra up``, the demo and the pytest session fixture. A service named by the
environment (``OVERLAY_KAFKA_BOOTSTRAP``, ``OVERLAY_REDIS_URL``) is used as it is and only
waited for: CI or a developer may already run one, and we must not start a second or stop
theirs. Only what this stack started is stopped.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from overlay.infra.errors import ServiceUnreachableError
from overlay.infra.kafka_admin import wait_for_kafka
from overlay.infra.kafka_broker import KafkaBroker
from overlay.infra.redis_server import RedisServer, wait_for_redis
from overlay.logging import get_logger

log = get_logger(__name__)

KAFKA_BOOTSTRAP_ENV = "OVERLAY_KAFKA_BOOTSTRAP"
REDIS_URL_ENV = "OVERLAY_REDIS_URL"


class LocalStack:
    """Start (or find) Kafka and Redis; ``bootstrap`` and ``redis_url`` say where they are.

    ``base_dir`` holds ``kafka/`` and ``redis/`` data and logs; without one a temporary
    directory is used and removed at :meth:`stop`. ``environ`` defaults to ``os.environ``.
    """

    def __init__(
        self,
        base_dir: Path | None = None,
        *,
        kafka_port: int = 0,
        redis_port: int = 0,
        kafka_heap: str = "1g",
        kafka_version: str | None = None,
        kafka_properties: Mapping[str, str] | None = None,
        wait_timeout: float = 60.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.external_bootstrap = env.get(KAFKA_BOOTSTRAP_ENV) or None
        self.external_redis_url = env.get(REDIS_URL_ENV) or None
        self.base_dir = Path(base_dir) if base_dir is not None else None
        self.wait_timeout = wait_timeout
        self.kafka_port = kafka_port
        self.kafka_heap = kafka_heap
        self.kafka_version = kafka_version
        self.kafka_properties = dict(kafka_properties or {})
        self._redis_port = redis_port
        self._temp_dir: Path | None = None
        self.broker: KafkaBroker | None = None
        self.redis: RedisServer | None = None

    @property
    def bootstrap(self) -> str:
        if self.external_bootstrap:
            return self.external_bootstrap
        if self.broker is None:
            raise RuntimeError("LocalStack is not started")
        return self.broker.bootstrap

    @property
    def redis_url(self) -> str:
        if self.external_redis_url:
            return self.external_redis_url
        if self.redis is None:
            raise RuntimeError("LocalStack is not started")
        return self.redis.url

    def _dir(self) -> Path:
        if self.base_dir is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="overlay-infra-"))
            self.base_dir = self._temp_dir
        return self.base_dir

    async def start(self) -> None:
        """Start what is not given by the environment; on failure, stop what was started."""
        try:
            await self._start_redis()
            await self._start_kafka()
        except BaseException:
            await self.stop()
            raise
        log.info("infra.stack.ready", bootstrap=self.bootstrap, redis_url=self.redis_url)

    async def _start_redis(self) -> None:
        if self.external_redis_url:
            try:
                await wait_for_redis(self.external_redis_url, self.wait_timeout)
            except TimeoutError as exc:
                raise ServiceUnreachableError(f"{REDIS_URL_ENV} is set but: {exc}") from None
            return
        self.redis = RedisServer(self._dir() / "redis", port=self._redis_port)
        await self.redis.start()

    async def _start_kafka(self) -> None:
        if self.external_bootstrap:
            try:
                await wait_for_kafka(self.external_bootstrap, self.wait_timeout)
            except TimeoutError as exc:
                raise ServiceUnreachableError(f"{KAFKA_BOOTSTRAP_ENV} is set but: {exc}") from None
            return
        self.broker = KafkaBroker(
            self._dir() / "kafka",
            port=self.kafka_port,
            heap=self.kafka_heap,
            version=self.kafka_version,
            properties=self.kafka_properties,
            start_timeout=self.wait_timeout,
        )
        await self.broker.start()

    async def stop(self) -> None:
        """Stop the services this stack started (both, even if one fails), then drop a temp dir."""
        results = await asyncio.gather(
            *(s.stop() for s in (self.broker, self.redis) if s is not None), return_exceptions=True
        )
        if self._temp_dir is not None:
            await asyncio.to_thread(shutil.rmtree, self._temp_dir, True)
            self._temp_dir = self.base_dir = None
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def __aenter__(self) -> LocalStack:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
