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
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Generic, TypeVar, cast

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import CoreSchema, SchemaValidator

from overlay import models
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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def version_from_datetime(moment: datetime) -> int:
    """A version number from a modified-at time: microseconds since the epoch (naive = UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND  # exact: a timedelta is whole microseconds


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
        """The JSON of :meth:`model_dump_json` (``exclude_none=False``), as bytes.

        Canonical events are written by orjson straight from the validated instances: the same
        bytes (tests/unit/core/test_event_bytes.py holds it to pydantic's) at half the cost or less.
        Anything else — a payload of another class, an integer beyond 64 bits — goes to pydantic.
        """
        fields = self.__dict__
        payload_type = _PLAIN_EVENTS[self.__class__]
        if payload_type is not None:
            payload = fields["payload"]
            if payload is None or payload.__class__ is payload_type:
                try:
                    return _dumps(fields, default=_plain_json, option=_UTC_Z)
                except TypeError:
                    pass
        return self.__pydantic_serializer__.to_json(self, exclude_none=False)

    @classmethod
    def trusted_operation_validator(cls) -> Callable[[Mapping[str, Any]], Any]:
        """``model_validate`` of every field and the payload, as strictly, but without the check that
        an upsert has a payload and a delete none: for builders that guarantee that themselves (the
        mapping engine sets the payload exactly for upserts), saving a Python call per event."""
        found = _TRUSTED.get(cls)
        if found is None:
            schema = _without_model_check(cls.__pydantic_core_schema__)
            if schema is None:
                found = _TRUSTED[cls] = cls.__pydantic_validator__.validate_python
            else:
                model = schema["schema"] if schema["type"] == "definitions" else schema
                config = model.get("config") if model["type"] == "model" else None
                found = _TRUSTED[cls] = SchemaValidator(schema, config).validate_python
        return found

    def log_context(self) -> dict[str, Any]:
        """Correlation ids safe to log (no personal data)."""
        return {
            "event_id": self.event_id,
            "trace_id": self.trace_id,
            "source": self.entity_ref,
            "entity_type": self.entity_type.value,
            "version": self.version,
        }


_TRUSTED: dict[type, Callable[[Mapping[str, Any]], Any]] = {}


def _without_model_check(schema: CoreSchema) -> CoreSchema | None:
    """``schema`` (of a ChangeEvent class) without the ``_payload_matches_operation`` validator
    around the model, or None if it does not have the expected shape (then nothing is skipped)."""
    check = ChangeEvent.__pydantic_decorators__.model_validators["_payload_matches_operation"].func

    def strip(inner: Any) -> Any:
        if inner.get("type") == "function-after" and inner["function"].get("function") is check:
            model = inner["schema"]
            return model if model.get("type") == "model" else None
        return None

    if schema["type"] == "definitions":
        stripped = strip(schema["schema"])
        return None if stripped is None else cast(CoreSchema, {**schema, "schema": stripped})
    return cast(CoreSchema | None, strip(schema))


# --- JSON without pydantic's serializer -----------------------------------------------------------
# The canonical models hold only types orjson writes exactly as pydantic does (str, int, float,
# bool, None, date, datetime with "Z" for UTC, str enums, tuples, dicts with str keys); a model is
# its __dict__ (the fields in order: no aliases, exclusions or custom serializers), a Decimal its
# text. Held to pydantic's bytes by tests/unit/core/test_event_bytes.py for every model.


def _plain_models() -> frozenset[type[BaseModel]]:
    found = set()
    for name in models.__all__:
        cls = getattr(models, name)
        if isinstance(cls, type) and issubclass(cls, CanonicalModel) and _plain_model(cls):
            found.add(cls)
    return frozenset(found)


def _plain_model(cls: type[BaseModel]) -> bool:
    """A model whose JSON is its __dict__: no serializer hooks or settings, aliases, exclusions or
    extras."""
    decorators = cls.__pydantic_decorators__
    return (
        not any(key.startswith("ser_json") or key in ("json_encoders", "use_enum_values")
                for key in cls.model_config)
        and not decorators.field_serializers
        and not decorators.model_serializers
        and not decorators.computed_fields
        and cls.model_config.get("extra") == "forbid"
        and all(
            info.alias is None and info.serialization_alias is None and not info.exclude
            for info in cls.model_fields.values()
        )
    )


_PLAIN_MODELS = _plain_models()
_dumps = orjson.dumps
_UTC_Z = orjson.OPT_UTC_Z


def _plain_json(value: Any) -> Any:
    """orjson's ``default``: what it cannot write itself."""
    cls = value.__class__
    if cls in _PLAIN_MODELS:
        return value.__dict__
    if cls is Decimal:
        return str(value)
    raise TypeError  # pydantic writes it


class _PlainEvents(dict[type, type | None]):
    """ChangeEvent[X] → X for the classes orjson may write (X a plain canonical model), else None."""

    def __missing__(self, cls: type) -> type | None:
        meta: Mapping[str, Any] = getattr(cls, "__pydantic_generic_metadata__", None) or {}
        args: tuple[Any, ...] = tuple(meta.get("args") or ())
        plain = (
            meta.get("origin") is ChangeEvent
            and len(args) == 1
            and args[0] in _PLAIN_MODELS
            and issubclass(cls, BaseModel)
            and cls.model_fields.keys() == ChangeEvent.model_fields.keys()
        )
        found = args[0] if plain else None
        self[cls] = found
        return found


_PLAIN_EVENTS = _PlainEvents()
