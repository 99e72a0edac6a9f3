"""The customer 360 document: what one GET returns and every customer API projects from.

It is a pure function of the stored source records of the customer's linked parties (no arrival
order, no clock), so a rebuild from Kafka gives the identical document: that is what
``overlay cache verify`` checks.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from overlay.models import (
    AccountType,
    AddressRole,
    Characteristic,
    MediumType,
    OrderState,
    PartyKind,
    ProductStatus,
)


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldSource(_Doc):
    """Where a golden field's value came from: the winning record and when it said so."""

    system: str
    key: str
    modified_at: datetime | None = None


class SourceLink(_Doc):
    """A source party linked into this customer."""

    system: str
    key: str
    version: int
    modified_at: datetime | None = None
    observed_at: datetime | None = None


class Golden(_Doc):
    """The golden party record: per field, the value survivorship chose (source priority, then
    recency)."""

    kind: PartyKind = PartyKind.INDIVIDUAL
    title: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    organization_name: str | None = None
    birth_date: date | None = None
    national_id: str | None = None
    status: str = "active"
    segment: str | None = None
    email: str | None = None
    phone: str | None = None

    @property
    def display_name(self) -> str:
        if self.kind is PartyKind.ORGANIZATION and self.organization_name:
            return self.organization_name
        return " ".join(p for p in (self.given_name, self.family_name) if p)


class ContactPoint(_Doc):
    medium_type: MediumType
    value: str
    preferred: bool = False
    sources: list[str] = Field(default_factory=list, description="record refs: entity|system/key")


class AddressView(_Doc):
    role: AddressRole
    street: str | None = None
    house_number: str | None = None
    postcode: str | None = None
    city: str | None = None
    country: str = "DE"
    sources: list[str] = Field(default_factory=list)
    serviceability: dict[str, str] | None = Field(
        None, description="Technology → best available speed or status, where a stack reported it."
    )


class AccountView(_Doc):
    system: str
    key: str
    account_number: str
    account_type: AccountType = AccountType.BILLING
    name: str | None = None
    status: str = "active"
    stack: str | None = None


class ProductView(_Doc):
    system: str
    key: str
    stack: str
    offering_code: str | None = None
    name: str | None = None
    status: ProductStatus = ProductStatus.ACTIVE
    start_date: datetime | None = None
    termination_date: datetime | None = None
    identifiers: dict[str, str] = Field(default_factory=dict)
    account: str | None = Field(None, description="system/key of the billing account")
    characteristics: list[Characteristic] = Field(default_factory=list)
    service_address: AddressView | None = None


class OrderItemView(_Doc):
    item_id: str
    action: str
    offering_code: str | None = None
    state: OrderState


class OrderView(_Doc):
    system: str
    key: str
    state: OrderState
    channel: str | None = None
    order_date: datetime | None = None
    external_id: str | None = None
    items: list[OrderItemView] = Field(default_factory=list)


class Customer360(_Doc):
    """One real person or organisation across every stack."""

    id: str = Field(description="Stable customer id (CU-…), chosen by identity resolution.")
    golden: Golden
    provenance: dict[str, FieldSource] = Field(
        default_factory=dict, description="Golden field name → the record its value came from."
    )
    sources: list[SourceLink] = Field(default_factory=list)
    contact_media: list[ContactPoint] = Field(default_factory=list)
    addresses: list[AddressView] = Field(default_factory=list)
    accounts: list[AccountView] = Field(default_factory=list)
    products: list[ProductView] = Field(default_factory=list)
    orders: list[OrderView] = Field(default_factory=list, description="Orders not yet in a final state.")
    version: int = Field(0, description="Largest version among the contributing records.")
    updated_at: datetime | None = Field(
        None, description="Latest observed_at among the contributing records."
    )
    event_id: str | None = Field(None, description="The event of the newest contributing record.")
