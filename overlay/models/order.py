"""Orders as the back-ends report them (TMF622 states), for orders-in-progress in the 360 view."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from overlay.models.common import CanonicalModel, SourceRef


class OrderState(StrEnum):
    """TMF622 ProductOrder states."""

    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"
    PENDING = "pending"
    HELD = "held"
    IN_PROGRESS = "inProgress"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    FAILED = "failed"
    PARTIAL = "partial"
    ASSESSING_CANCELLATION = "assessingCancellation"
    PENDING_CANCELLATION = "pendingCancellation"


class OrderItem(CanonicalModel):
    item_id: str
    action: str = Field(description="add, modify, delete, noChange")
    offering_code: str | None = None
    state: OrderState = OrderState.ACKNOWLEDGED
    quantity: int = Field(1, ge=1)


class Order(CanonicalModel):
    party: SourceRef | None = None
    channel: str | None = None
    state: OrderState = OrderState.ACKNOWLEDGED
    items: tuple[OrderItem, ...] = ()
    order_date: datetime | None = None
    external_id: str | None = None


class OrderStatus(CanonicalModel):
    """A state change of an order in one back-end: small, frequent, an event stream."""

    order: SourceRef
    state: OrderState
    item_states: dict[str, OrderState] = Field(default_factory=dict)
    detail: str | None = None
