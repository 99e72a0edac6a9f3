"""Catalog records as each stack or partner publishes them (TMF620 terms), before the merge."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import Field

from overlay.models.common import CanonicalModel, Characteristic, ValidFor


class ProductSpecification(CanonicalModel):
    code: str = Field(min_length=1)
    name: str
    description: str | None = None
    stack: str
    brand: str | None = None
    lifecycle_status: str = "Active"
    valid_for: ValidFor | None = None
    characteristics: tuple[Characteristic, ...] = ()


class ProductOffering(CanonicalModel):
    code: str = Field(min_length=1)
    name: str
    description: str | None = None
    stack: str
    lifecycle_status: str = "Active"
    valid_for: ValidFor | None = None
    specification_codes: tuple[str, ...] = ()
    bundled_offering_codes: tuple[str, ...] = ()
    price_codes: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    is_bundle: bool = False


class PriceType(StrEnum):
    ONE_TIME = "oneTime"
    RECURRING = "recurring"
    USAGE = "usage"


class ProductOfferingPrice(CanonicalModel):
    code: str = Field(min_length=1)
    name: str | None = None
    stack: str
    price_type: PriceType
    amount: Decimal = Field(ge=0)
    currency: str = Field("EUR", min_length=3, max_length=3)
    recurring_period: str | None = Field(None, description="month, year … for recurring prices.")
    unit_of_measure: str | None = Field(None, description="GB, minute … for usage prices.")
    valid_for: ValidFor | None = None
