"""A product or subscription a customer holds in one stack (TMF637 Product)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from overlay.models.common import CanonicalModel, Characteristic, SourceRef
from overlay.models.party import Address


class ProductStatus(StrEnum):
    """TMF637 product status values."""

    CREATED = "created"
    PENDING_ACTIVE = "pendingActive"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    PENDING_TERMINATE = "pendingTerminate"
    TERMINATED = "terminated"
    CANCELLED = "cancelled"
    ABORTED = "aborted"


class ProductInstance(CanonicalModel):
    party: SourceRef
    account: SourceRef | None = None
    stack: str = Field(min_length=1, description="mobile, fixed, tv, partner …")
    offering_code: str | None = Field(None, description="The stack's own tariff/product code.")
    name: str | None = None
    status: ProductStatus = ProductStatus.ACTIVE
    start_date: datetime | None = None
    termination_date: datetime | None = None
    identifiers: dict[str, str] = Field(
        default_factory=dict, description="msisdn, iccid, imsi, access_line, … (normalised)."
    )
    service_address: Address | None = None
    characteristics: tuple[Characteristic, ...] = ()
