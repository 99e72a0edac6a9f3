"""Process lifecycle: run until SIGTERM/SIGINT, then shut down cleanly and exit 0.

Every long-running ``overlay`` command goes through here so that a supervisor (the demo,
systemd, Kubernetes) sees the same behaviour everywhere: a stop signal drains and closes
connections, and the process ends with status 0 rather than dying on the signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

import uvicorn

T = TypeVar("T")


async def wait_for_stop_signal() -> None:
    """Return on the first SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def run_until_stopped(main: Coroutine[Any, Any, T]) -> T | None:
    """Run ``main`` until it ends (its result) or a stop signal arrives (cancel it, let it clean up,
    None)."""
    task = asyncio.ensure_future(main)
    stop = asyncio.ensure_future(wait_for_stop_signal())
    done, _ = await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        stop.cancel()
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None


class HostedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host (uvicorn would re-raise the signal
    after shutting down, so the process would end killed instead of with status 0)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve_http(server: HostedServer) -> None:
    """Serve until a stop signal, then shut the server down gracefully."""
    serving = asyncio.ensure_future(server.serve())
    stop = asyncio.ensure_future(wait_for_stop_signal())
    await asyncio.wait({serving, stop}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stop.cancel()
    await serving
