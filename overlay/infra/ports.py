"""Free local ports and waiting for a listener."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS calls free right now.

    Synchronous on purpose: bind/close of a local socket does not block. The port is only
    reserved until we close it, so callers should bind it soon (a small race we accept for tests).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


async def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a TCP connect to host:port succeeds within ``timeout``."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def ensure_port_free(host: str, port: int, what: str) -> None:
    """Fail if something already listens on host:port.

    Otherwise a readiness probe could be answered by that other server (say a developer's own
    broker) while ours dies on "address already in use".
    """
    if await port_open(host, port, timeout=0.5):
        raise OSError(f"{host}:{port}, wanted for {what}, is already in use by another process")


async def wait_for_port(
    host: str, port: int, timeout: float = 30.0, interval: float = 0.1
) -> None:
    """Return once host:port accepts connections; ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if await port_open(host, port, timeout=max(0.05, min(1.0, remaining))):
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s")
        await asyncio.sleep(interval)
