"""Identity resolution's decisions as events on ``overlay.customer-identity`` (keyed by customer id).

Other read models (orders, carts, a channel's session) follow customers through them:

* ``created`` — a customer id appears, with its source parties;
* ``merged`` — the customer absorbed other customers (``merged_ids``: their ids, which now redirect
  here) or gained source parties that had no customer;
* ``split`` — the customer lost source parties: to other customers (``split_ids``: their ids now)
  or because they were deleted;
* ``deleted`` — the customer is gone: none of its source parties is live any more.

``members`` is always the customer's source parties after the change (empty for ``deleted``).
Delivery is at least once: the resolver publishes a batch's events before it writes the batch, so
a crash repeats them rather than losing them; consumers apply them idempotently.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class IdentityChange(StrEnum):
    CREATED = "created"
    MERGED = "merged"
    SPLIT = "split"
    DELETED = "deleted"


class IdentityEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = 1
    event_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    change: IdentityChange
    customer_id: str
    members: list[str] = Field(default_factory=list, description="Source parties (system/key) now.")
    merged_ids: list[str] = Field(default_factory=list, description="Customer ids merged into this one.")
    split_ids: list[str] = Field(
        default_factory=list, description="Customer ids now holding source parties this one lost."
    )
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def message_key(self) -> bytes:
        return self.customer_id.encode()

    def to_bytes(self) -> bytes:
        return self.__pydantic_serializer__.to_json(self)
