"""Helpers for integration tests: child processes and polling until a condition holds."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = 30.0,
                     interval: float = 0.2, what: str | Callable[[], str] = "condition") -> T:
    """Poll ``probe`` until it returns a truthy value; fail with ``what`` after ``timeout``.

    ``what`` may be a callable, evaluated only on failure (e.g. to attach a child's log tail).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            described = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout}s waiting for {described}")
        await asyncio.sleep(interval)


class ChildProcess:
    """An ``overlay`` subcommand in its own process group, its output in a log file."""

    def __init__(self, args: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.args = args
        self.env = dict(env)
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> ChildProcess:
        log = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "overlay", *self.args, env=self.env, stdout=log, stderr=log,
            start_new_session=True,
        )
        log.close()
        return self

    def describe(self, what: str) -> Callable[[], str]:
        """A failure description with the tail of this child's log, read when it is needed."""
        return lambda: f"{what}\n--- {self.log_path.name} ---\n{self.log()[-4000:]}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def kill(self) -> None:
        """SIGKILL: a crash at an arbitrary point."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        await self.process.wait()

    async def stop(self, timeout: float = 20.0) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                os.killpg(self.process.pid, signal.SIGKILL)
                await self.process.wait()
        return self.process.returncode  # type: ignore[return-value]
