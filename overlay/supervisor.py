"""Runs Overlay's processes as children, restarts the ones that die, and stops them all cleanly.

Used by ``overlay demo``; in production an init system or Kubernetes plays this part. Each child
runs in its own process group so that stopping it also stops anything it started, and nothing is
left behind after Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from overlay.logging import get_logger

log = get_logger(__name__)


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    restart: bool = True
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0


class Supervisor:
    def __init__(self, stop_timeout: float = 20.0) -> None:
        self._children: list[Child] = []
        self._watchers: list[asyncio.Task[None]] = []
        self._stopping = False
        self._stop_timeout = stop_timeout

    async def start(self, child: Child) -> None:
        await self._spawn(child)
        self._children.append(child)
        self._watchers.append(asyncio.create_task(self._watch(child), name=f"watch-{child.name}"))

    async def _spawn(self, child: Child) -> None:
        env = {**os.environ, **child.env}
        child.process = await asyncio.create_subprocess_exec(
            *child.argv, env=env, start_new_session=True
        )
        log.info("supervisor.started", child=child.name, pid=child.process.pid)

    async def _watch(self, child: Child) -> None:
        backoff = 1.0
        while True:
            assert child.process is not None
            started = time.monotonic()
            code = await child.process.wait()
            if self._stopping:
                return
            log.warning("supervisor.exited", child=child.name, code=code)
            if not child.restart:
                return
            if time.monotonic() - started > 60:
                backoff = 1.0
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
            child.restarts += 1
            await self._spawn(child)

    async def stop_all(self) -> None:
        """SIGTERM every child (last started first), then SIGKILL what has not exited in time."""
        self._stopping = True
        for task in self._watchers:
            task.cancel()
        for child in reversed(self._children):
            await _terminate(child, self._stop_timeout)
        self._children.clear()


async def _terminate(child: Child, timeout: float) -> None:
    process = child.process
    if process is None or process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        log.warning("supervisor.kill", child=child.name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
    # Grandchildren that outlived their parent in the same group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    log.info("supervisor.stopped", child=child.name, code=process.returncode)
