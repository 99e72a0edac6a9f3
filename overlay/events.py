"""The change-event envelope every connector publishes and every processor consumes.

One envelope for all entity types; the payload type follows from the topic (see
:mod:`overlay.topics`). JSON on the wire, so any Kafka tool can read it.

Ordering and idempotency rest on two fields:

* the **message key** (:meth:`ChangeEvent.message_key`) is ``source_system/source_key``, so every
  change of one source entity lands in one partition, in order;
* ``version`` is a number that grows with every change of that source entity (a source version
  counter, or the modified-at time in microseconds). Consumers apply an event only if its version
  is not older than what they hold, which makes replays and at-least-once delivery harmless.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from overlay.models.common import CanonicalModel

P = TypeVar("P", bound=CanonicalModel)


class Operation(StrEnum):
    UPSERT = "upsert"
    DELETE = "delete"


class EntityType(StrEnum):
    PARTY = "party"
    CONTACT_MEDIUM = "contactMedium"
    ADDRESS = "address"
    ACCOUNT = "account"
    PRODUCT_INSTANCE = "productInstance"
    PRODUCT_SPECIFICATION = "productSpecification"
    PRODUCT_OFFERING = "productOffering"
    PRODUCT_OFFERING_PRICE = "productOfferingPrice"
    ORDER = "order"
    ORDER_STATUS = "orderStatus"


_UPSERT, _DELETE = Operation.UPSERT, Operation.DELETE


def utcnow() -> datetime:
    return datetime.now(UTC)


def version_from_datetime(moment: datetime) -> int:
    """A version number from a modified-at time: microseconds since the epoch (naive = UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class ChangeEvent(BaseModel, Generic[P]):
    """A change of one entity in one legacy system, in canonical form."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = 1
    event_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source_system: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    entity_type: EntityType
    source_key: str = Field(min_length=1)
    operation: Operation = Operation.UPSERT
    version: int = Field(ge=0, description="Grows with every change of this source entity.")
    modified_at: datetime | None = Field(None, description="When the source says it changed.")
    observed_at: datetime = Field(default_factory=utcnow, description="When the connector saw it.")
    trace_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    payload: P | None = None

    @model_validator(mode="after")
    def _payload_matches_operation(self) -> ChangeEvent[P]:
        operation = self.operation
        if operation is _UPSERT:
            if self.payload is None:
                raise ValueError("an upsert needs a payload")
        elif operation is _DELETE and self.payload is not None:
            raise ValueError("a delete carries no payload")
        return self

    @property
    def entity_ref(self) -> str:
        """``system/key``: the identity of the source entity, and the Kafka message key."""
        return f"{self.source_system}/{self.source_key}"

    def message_key(self) -> bytes:
        return self.entity_ref.encode()

    def to_bytes(self) -> bytes:
        # What model_dump_json(exclude_none=False).encode() gives, without the str round trip.
        return self.__pydantic_serializer__.to_json(self, exclude_none=False)

    def log_context(self) -> dict[str, Any]:
        """Correlation ids safe to log (no personal data)."""
        return {
            "event_id": self.event_id,
            "trace_id": self.trace_id,
            "source": self.entity_ref,
            "entity_type": self.entity_type.value,
            "version": self.version,
        }
