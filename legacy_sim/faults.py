"""Failure injection for the order back-ends: random 5xx, added latency, outage windows.

Draws come from ``random.Random(seed)`` in request order, so a test replaying the same request
sequence sees the same failures. ``lost_response_rate`` makes a share of the injected errors
happen *after* the order was taken: the classic lost response that tempts clients into a
double activation unless they retry with the same idempotency key.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, Field


class FaultConfig(BaseModel):
    error_rate: float = Field(0.0, ge=0.0, le=1.0)
    latency_ms: int = Field(0, ge=0, le=120_000)
    outage_seconds: float = Field(0.0, ge=0.0, le=86_400.0)
    seed: int = 0
    lost_response_rate: float = Field(0.0, ge=0.0, le=1.0)


@dataclass(frozen=True, slots=True)
class Fault:
    status: int
    after_effect: bool
    retry_after: int | None
    reason: str


class FaultInjector:
    """Decides, per request, whether to fail it; configured and cleared at run time."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.clear()

    def configure(self, config: FaultConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        self._outage_until = self._clock() + config.outage_seconds

    def clear(self) -> None:
        self.configure(FaultConfig())

    @property
    def latency_s(self) -> float:
        return self.config.latency_ms / 1000.0

    def decide(self) -> Fault | None:
        remaining = self._outage_until - self._clock()
        if remaining > 0:
            return Fault(503, False, max(1, math.ceil(remaining)), "outage")
        # Always three draws, so the sequence stays aligned whatever the outcome.
        fail, which, when = self._rng.random(), self._rng.random(), self._rng.random()
        if fail >= self.config.error_rate:
            return None
        status = 500 if which < 0.5 else 503
        return Fault(status, when < self.config.lost_response_rate, 1 if status == 503 else None, "injected")
