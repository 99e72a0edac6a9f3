"""Every Kafka topic Overlay uses: name, key, payload, partitions and cleanup policy, in one place.

``overlay topics ensure`` creates them from this list; processors and connectors look their topic up
here instead of spelling names. Canonical entity topics are *compacted*: they hold the latest
change of every source entity for ever, so any read model can be rebuilt by replaying them. Event
streams (order status, dead letters) are time-retained.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from overlay.events import EntityType
from overlay.models import (
    Account,
    Address,
    ContactMedium,
    Order,
    OrderStatus,
    Party,
    ProductInstance,
    ProductOffering,
    ProductOfferingPrice,
    ProductSpecification,
)
from overlay.models.common import CanonicalModel
from overlay.settings import Settings, get_settings


class Cleanup(StrEnum):
    COMPACT = "compact"
    DELETE = "delete"


_WEEK_MS = str(7 * 24 * 3600 * 1000)

# A compacted topic keeps the latest record per key. Deletes travel as envelopes with
# operation=delete, not as tombstones, so every consumer sees them and the deletion stays the key's
# last record; delete.retention.ms only bounds real tombstones (e.g. an operator's purge).
_COMPACT_CONFIG = {
    "cleanup.policy": "compact",
    "min.compaction.lag.ms": "60000",
    "delete.retention.ms": "86400000",
    "segment.ms": "3600000",
}


@dataclass(frozen=True)
class TopicSpec:
    """One topic. ``name`` is the logical name; :meth:`full_name` adds the configured prefix."""

    name: str
    key: str
    description: str
    cleanup: Cleanup
    payload: type[CanonicalModel] | None = None
    entity_type: EntityType | None = None
    partitions: int | None = None  # None: the configured default for canonical topics
    extra_config: Mapping[str, str] = field(default_factory=dict)

    def full_name(self, settings: Settings | None = None) -> str:
        return f"{(settings or get_settings()).topic_prefix}{self.name}"

    def config(self) -> dict[str, str]:
        base = dict(_COMPACT_CONFIG) if self.cleanup is Cleanup.COMPACT else {
            "cleanup.policy": "delete",
            "retention.ms": _WEEK_MS,
        }
        base.update(self.extra_config)
        return base


_ENTITY_KEY = "source_system/source_key"


def _canonical(entity: EntityType, payload: type[CanonicalModel], what: str) -> TopicSpec:
    return TopicSpec(
        name=f"canonical.{entity.value}",
        key=_ENTITY_KEY,
        description=f"Changes of {what} in every legacy system, as ChangeEvent[{payload.__name__}].",
        cleanup=Cleanup.COMPACT,
        payload=payload,
        entity_type=entity,
    )


PARTY = _canonical(EntityType.PARTY, Party, "customers (persons and organisations)")
CONTACT_MEDIUM = _canonical(EntityType.CONTACT_MEDIUM, ContactMedium, "emails and phone numbers")
ADDRESS = _canonical(EntityType.ADDRESS, Address, "postal and service addresses")
ACCOUNT = _canonical(EntityType.ACCOUNT, Account, "customer and billing accounts")
PRODUCT_INSTANCE = _canonical(EntityType.PRODUCT_INSTANCE, ProductInstance, "products held by customers")
PRODUCT_SPECIFICATION = _canonical(
    EntityType.PRODUCT_SPECIFICATION, ProductSpecification, "technical product specifications"
)
PRODUCT_OFFERING = _canonical(EntityType.PRODUCT_OFFERING, ProductOffering, "commercial offerings")
PRODUCT_OFFERING_PRICE = _canonical(
    EntityType.PRODUCT_OFFERING_PRICE, ProductOfferingPrice, "offering prices"
)
ORDER = _canonical(EntityType.ORDER, Order, "orders taken by the back-ends")
ORDER_STATUS = TopicSpec(
    name="canonical.orderStatus",
    key=_ENTITY_KEY,
    description="State changes of back-end orders, as ChangeEvent[OrderStatus] (an event stream).",
    cleanup=Cleanup.DELETE,
    payload=OrderStatus,
    entity_type=EntityType.ORDER_STATUS,
)
SOURCE_OFFSETS = TopicSpec(
    name="overlay.connector-offsets",
    key="connector name / stream name",
    description="Each connector's source position (cursor, page token), committed after Kafka acked "
    "every record it covers.",
    cleanup=Cleanup.COMPACT,
    partitions=1,
    extra_config={"min.compaction.lag.ms": "0"},
)
DEAD_LETTER = TopicSpec(
    name="overlay.dead-letter",
    key="connector name",
    description="Records a connector could not map or validate, with the reason, the source position "
    "and the original payload.",
    cleanup=Cleanup.DELETE,
    partitions=1,
    extra_config={"retention.ms": str(30 * 24 * 3600 * 1000)},
)
CUSTOMER_IDENTITY = TopicSpec(
    name="overlay.customer-identity",
    key="customer id",
    description="Identity resolution's decisions: a customer created, merged into another, split or "
    "deleted, with the source records it holds, so other read models (orders, carts) follow them.",
    cleanup=Cleanup.DELETE,
    extra_config={"retention.ms": str(30 * 24 * 3600 * 1000)},
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    PARTY,
    CONTACT_MEDIUM,
    ADDRESS,
    ACCOUNT,
    PRODUCT_INSTANCE,
    PRODUCT_SPECIFICATION,
    PRODUCT_OFFERING,
    PRODUCT_OFFERING_PRICE,
    ORDER,
    ORDER_STATUS,
    SOURCE_OFFSETS,
    DEAD_LETTER,
    CUSTOMER_IDENTITY,
)

BY_ENTITY: dict[EntityType, TopicSpec] = {t.entity_type: t for t in ALL_TOPICS if t.entity_type}


@dataclass(frozen=True)
class ResolvedTopic:
    """A :class:`TopicSpec` with the deployment's prefix, partitions and replication applied."""

    spec: TopicSpec
    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str]


def resolve(spec: TopicSpec, settings: Settings | None = None) -> ResolvedTopic:
    s = settings or get_settings()
    return ResolvedTopic(
        spec=spec,
        name=spec.full_name(s),
        partitions=spec.partitions or s.topic_partitions,
        replication_factor=s.topic_replication,
        config=spec.config(),
    )


def resolve_all(settings: Settings | None = None) -> list[ResolvedTopic]:
    return [resolve(t, settings) for t in ALL_TOPICS]
