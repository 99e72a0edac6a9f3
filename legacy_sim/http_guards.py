"""Request guards shared by the simulated servers: optional bearer token and rate limit.

Legacy APIs protect themselves with a static token and throttle with 429 + Retry-After; connectors
must cope with both, so the simulator can switch them on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from fastapi import HTTPException, Request


class BearerAuth:
    """FastAPI dependency: 401 unless ``Authorization: Bearer <token>`` matches (no-op without token)."""

    def __init__(self, token: str | None) -> None:
        self.token = token

    async def __call__(self, request: Request) -> None:
        if self.token is None:
            return
        if request.headers.get("authorization", "") != f"Bearer {self.token}":
            raise HTTPException(401, "missing or invalid bearer token", {"WWW-Authenticate": "Bearer"})


class RateLimit:
    """FastAPI dependency: token bucket of ``per_second`` requests (burst of the same size)."""

    def __init__(self, per_second: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self._clock = clock
        self._tokens = per_second or 0.0
        self._last = clock()

    async def __call__(self) -> None:
        rate = self.per_second
        if rate is None:
            return
        now = self._clock()
        self._tokens = min(max(rate, 1.0), self._tokens + (now - self._last) * rate)
        self._last = now
        if self._tokens < 1.0:
            retry_after = max(1, math.ceil((1.0 - self._tokens) / rate))
            raise HTTPException(429, "rate limit exceeded", {"Retry-After": str(retry_after)})
        self._tokens -= 1.0
