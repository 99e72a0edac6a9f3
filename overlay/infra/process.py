"""A service run as a child process in its own process group, logging to a file.

Own process group (``start_new_session``) so that stopping signals the service *and* anything
it forked, and so that a Ctrl-C meant for a test run reaches us first: we then shut the service
down in order instead of it dying mid-write. A pid file next to the log lets a later run tell a
leftover service from a previous crash instead of failing on a locked data dir.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from overlay.infra.errors import ServiceStartError
from overlay.logging import get_logger

log = get_logger(__name__)


def tail(path: Path, max_bytes: int = 4000) -> str:
    """The end of a log file for error messages (a small synchronous read; cheap by design)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except OSError:
        return "(no log)"
    text = data.decode("utf-8", "replace").strip()
    return text if text else "(empty log)"


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (zombies count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return False
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


class ChildProcess:
    """One service process: spawn, watch, stop (SIGTERM to the group, then SIGKILL)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        pid_path: Path,
        cwd: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.pid_path = pid_path
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self._proc: asyncio.subprocess.Process | None = None
        self._stopped = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def check_leftover(self, marker: str) -> None:
        """Refuse to start over a live process from an earlier run that used the same data dir."""
        try:
            old_pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return
        if pid_alive(old_pid) and marker in _cmdline(old_pid):
            raise ServiceStartError(
                f"{self.name} from an earlier run is still running (pid {old_pid}, data in {self.cwd}); "
                f"stop it with `kill -TERM -- -{old_pid}` or use another data dir"
            )
        self.pid_path.unlink(missing_ok=True)

    async def spawn(self) -> None:
        if self.is_running():
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            self._proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,
            )
        self._stopped = False
        self.pid_path.write_text(f"{self._proc.pid}\n")
        log.info("infra.process.started", service=self.name, pid=self._proc.pid, log=str(self.log_path))

    async def wait(self) -> int:
        """Wait for the process to exit and return its exit code."""
        if self._proc is None:
            raise RuntimeError(f"{self.name} was never started")
        return await self._proc.wait()

    def failure(self, what: str) -> ServiceStartError:
        """An error naming ``what`` went wrong, with the end of the service's log."""
        return ServiceStartError(f"{self.name} {what}; end of {self.log_path}:\n{tail(self.log_path)}")

    async def wait_until_ready(self, ready: Coroutine[Any, Any, None], *, address: str) -> None:
        """Await the readiness probe ``ready`` unless the process exits first; errors carry the log tail."""
        probe = asyncio.ensure_future(ready)
        exited = asyncio.ensure_future(self.wait())
        try:
            await asyncio.wait({probe, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (probe, exited):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        if probe.cancelled():
            raise self.failure(f"exited with code {self.returncode} before answering on {address}")
        try:
            probe.result()
        except TimeoutError as exc:
            raise self.failure(f"did not answer in time ({exc})") from None

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    async def stop(self, grace: float) -> None:
        """SIGTERM the group, wait up to ``grace`` seconds, then SIGKILL it. Idempotent."""
        proc = self._proc
        if proc is None or self._stopped:
            return
        if proc.returncode is None:
            self._signal_group(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                log.warning("infra.process.kill", service=self.name, pid=proc.pid, grace_s=grace)
                self._signal_group(signal.SIGKILL)
                await proc.wait()
        # Reap stragglers the service forked into its group, if any.
        self._signal_group(signal.SIGKILL)
        self._stopped = True
        self.pid_path.unlink(missing_ok=True)
        log.info("infra.process.stopped", service=self.name, pid=proc.pid, returncode=proc.returncode)


class LocalServer(abc.ABC):
    """What every server the project starts itself shares: a child process, ``pid``,
    ``is_running``, an idempotent ``stop`` (SIGTERM, SIGKILL after ``stop_timeout``) and
    ``async with``. Subclasses implement :meth:`start` and set ``_proc``."""

    _proc: ChildProcess | None = None
    _port: int = 0
    stop_timeout: float = 20.0
    what: str = "the server's"
    """How errors name it: "the Redis", "the broker's" …"""

    @property
    def port(self) -> int:
        """The listening port (a free one is chosen at :meth:`start` when 0 was asked for)."""
        if not self._port:
            raise RuntimeError(f"{self.what} port is chosen at start(); start it first")
        return self._port

    @abc.abstractmethod
    async def start(self) -> None: ...

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.is_running()

    async def stop(self) -> None:
        """SIGTERM (a clean shutdown), SIGKILL after ``stop_timeout``. Idempotent."""
        if self._proc is not None:
            await self._proc.stop(grace=self.stop_timeout)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


async def wait_until(
    probe: Callable[[], Awaitable[bool]], timeout: float, failure: str, interval: float = 0.05
) -> None:
    """Poll ``probe`` until it answers True; ``TimeoutError(failure)`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await probe():
        if time.monotonic() >= deadline:
            raise TimeoutError(failure)
        await asyncio.sleep(interval)
