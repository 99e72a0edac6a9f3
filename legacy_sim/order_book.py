"""Order taking of one back-end: idempotency by key, effect counting, time-driven progress.

State is in memory (one process, one event loop: check-and-insert has no await in between, so two
concurrent requests with one key cannot both act). Progress is derived from the clock on read,
acknowledged → inProgress → completed (or failed for products whose code contains ``FAIL``),
so no background task is needed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

OrderState = Literal["acknowledged", "inProgress", "completed", "failed"]
Scalar = str | int | float | bool


class OrderRequest(BaseModel):
    """What a connector sends; unknown top-level fields are kept as ``attributes``."""

    model_config = ConfigDict(extra="allow")

    action: Literal["add", "modify", "delete", "suspend", "resume"]
    product: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")
    customerRef: str = Field(min_length=1, max_length=64)
    quantity: int = Field(1, ge=1, le=1000)
    characteristics: dict[str, Scalar] = Field(default_factory=dict)
    externalId: str | None = Field(None, max_length=128)


class Order(BaseModel):
    id: str
    system: str
    idempotencyKey: str
    action: str
    product: str
    customerRef: str
    quantity: int
    characteristics: dict[str, Scalar]
    externalId: str | None
    attributes: dict[str, Any]
    state: OrderState
    createdAt: str
    lastModified: str


class IdempotencyConflict(Exception):
    """The key was used before with a different request body."""


def _iso_ms(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class _Entry:
    order_id: str
    key: str
    request: OrderRequest
    created: datetime


class OrderBook:
    """Orders of one back-end (``system``) progressing over ``progress_seconds``."""

    def __init__(
        self,
        system: str,
        *,
        progress_seconds: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.system = system
        self.progress = timedelta(seconds=progress_seconds)
        self._clock = clock
        self._prefix = system[:2].upper() + "O"
        self._by_key: dict[str, _Entry] = {}
        self._by_id: dict[str, _Entry] = {}
        self.effects: Counter[str] = Counter()

    def submit(self, key: str, request: OrderRequest) -> tuple[Order, bool]:
        """Take an order once per key: (order, True) when created, (existing order, False) on replay."""
        existing = self._by_key.get(key)
        if existing is not None:
            if existing.request.model_dump() != request.model_dump():
                raise IdempotencyConflict(key)
            return self._render(existing), False
        entry = _Entry(f"{self._prefix}-{len(self._by_id) + 1:08d}", key, request, self._clock())
        self._by_key[key] = entry
        self._by_id[entry.order_id] = entry
        self.effects[key] += 1  # the one side effect: with correct idempotency never above 1
        return self._render(entry), True

    def get(self, order_id: str) -> Order | None:
        entry = self._by_id.get(order_id)
        return None if entry is None else self._render(entry)

    def list(self, modified_since: datetime | None = None) -> list[Order]:
        orders = [self._render(e) for e in self._by_id.values()]
        if modified_since is not None:
            since = _iso_ms(modified_since)
            orders = [o for o in orders if o.lastModified >= since]
        return sorted(orders, key=lambda o: (o.lastModified, o.id))

    def reset(self) -> None:
        self._by_key.clear()
        self._by_id.clear()
        self.effects.clear()

    def _state(self, entry: _Entry) -> tuple[OrderState, datetime]:
        elapsed = self._clock() - entry.created
        if elapsed >= self.progress:
            final: OrderState = "failed" if "FAIL" in entry.request.product.upper() else "completed"
            return final, entry.created + self.progress
        if elapsed >= self.progress / 3:
            return "inProgress", entry.created + self.progress / 3
        return "acknowledged", entry.created

    def _render(self, entry: _Entry) -> Order:
        state, changed = self._state(entry)
        req = entry.request
        return Order(
            id=entry.order_id, system=self.system, idempotencyKey=entry.key, action=req.action,
            product=req.product, customerRef=req.customerRef, quantity=req.quantity,
            characteristics=req.characteristics, externalId=req.externalId,
            attributes=dict(req.model_extra or {}), state=state, createdAt=_iso_ms(entry.created),
            lastModified=_iso_ms(changed),
        )
