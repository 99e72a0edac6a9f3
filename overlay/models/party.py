"""Party-side canonical entities: the person or organisation, how to reach them, where, and their accounts.

Child entities (contact media, addresses, accounts) point at their party through ``party``, a
:class:`SourceRef` in the same source system: identity resolution links parties across systems,
connectors never guess.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field

from overlay.models.common import CanonicalModel, SourceRef, ValidFor


class PartyKind(StrEnum):
    INDIVIDUAL = "individual"
    ORGANIZATION = "organization"


class Party(CanonicalModel):
    """A customer as one legacy system knows them (TMF632 Individual/Organization, TMF629 Customer)."""

    kind: PartyKind = PartyKind.INDIVIDUAL
    title: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    organization_name: str | None = None
    birth_date: date | None = None
    national_id: str | None = Field(None, description="National id or company registration number.")
    status: str = Field("active", description="Customer status in the source: active, inactive, …")
    segment: str | None = Field(None, description="residential, business, …")
    # Strong identifiers the source holds directly on the party record, already normalised
    # (email case-folded, phone in E.164). Contact media may carry more.
    email: str | None = None
    phone: str | None = None
    cross_refs: tuple[SourceRef, ...] = Field(
        (), description="Explicit references to the same party in other systems."
    )

    @property
    def display_name(self) -> str:
        if self.kind is PartyKind.ORGANIZATION and self.organization_name:
            return self.organization_name
        return " ".join(p for p in (self.given_name, self.family_name) if p)


class MediumType(StrEnum):
    EMAIL = "email"
    MOBILE = "mobile"
    PHONE = "phone"
    FAX = "fax"


class ContactMedium(CanonicalModel):
    party: SourceRef
    medium_type: MediumType
    value: str = Field(min_length=1, description="Normalised: E.164 numbers, case-folded emails.")
    preferred: bool = False
    valid_for: ValidFor | None = None


class AddressRole(StrEnum):
    HOME = "home"
    BILLING = "billing"
    SERVICE = "service"
    SHIPPING = "shipping"


class Address(CanonicalModel):
    party: SourceRef | None = None
    role: AddressRole = AddressRole.HOME
    street: str | None = None
    house_number: str | None = None
    postcode: str | None = None
    city: str | None = None
    country: str = Field("DE", min_length=2, max_length=2)


class AccountType(StrEnum):
    CUSTOMER = "customer"
    BILLING = "billing"


class Account(CanonicalModel):
    """A customer or billing account in one stack (TMF666)."""

    party: SourceRef
    account_number: str = Field(min_length=1)
    account_type: AccountType = AccountType.BILLING
    name: str | None = None
    status: str = "active"
    stack: str | None = Field(None, description="mobile, fixed, tv, partner …")
