"""Identity resolution's vocabulary: identifiers, a source party's profile, the rules and their trust.

An identifier is ``type:value`` with the value normalised (E.164 numbers, case-folded emails,
upper-cased national ids); its *trust* says how much sharing it means: 1.0 links two source parties
on its own, less needs more evidence (a shared household landline, a name with a birth date).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class IdType(StrEnum):
    NATIONAL_ID = "national_id"
    EMAIL = "email"
    MOBILE = "mobile"
    PHONE = "phone"  # a landline: weak, households share it
    ACCOUNT = "account"  # a billing-account number another system references (system-scoped)
    XREF = "xref"  # an explicit cross-reference to a record in another system
    NAME_DOB = "name_dob"  # folded family name + given-name initial + birth date
    NAME_POSTCODE = "name_postcode"  # folded family + given name + postcode


class Profile(BaseModel):
    """What identity resolution knows of one source party (stored as JSON in Redis)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ref: str = Field(description="system/key of the source party")
    system: str
    kind: str = "individual"
    identifiers: tuple[str, ...] = Field((), description="type:value, sorted")
    given_name: str | None = Field(None, description="folded for comparison")
    family_name: str | None = None
    birth_date: date | None = None
    postcode: str | None = None
    deleted: bool = False


class IdentityRules(BaseModel):
    """Configurable trust and guards (``OVERLAY_IDENTITY_*`` or a YAML file)."""

    model_config = ConfigDict(extra="forbid")

    trust: dict[IdType, float] = Field(
        default_factory=lambda: {
            IdType.NATIONAL_ID: 1.0,
            IdType.XREF: 1.0,
            IdType.EMAIL: 1.0,
            IdType.MOBILE: 1.0,
            IdType.ACCOUNT: 1.0,
            IdType.PHONE: 0.5,
            IdType.NAME_DOB: 0.6,
            IdType.NAME_POSTCODE: 0.5,
        }
    )
    threshold: float = Field(1.0, description="Summed trust of shared identifiers needed to link two parties.")
    max_holders: int = Field(
        6, description="An identifier held by more source parties than this (a generic company mailbox) "
        "links nobody."
    )
    require_compatible_names: bool = Field(
        True, description="Two individuals link only if their names are compatible (typos, initials, "
        "transliteration and swaps tolerated), except through national id or an explicit cross-reference."
    )
    cluster_cap: int = Field(40, description="A customer never grows beyond this many source parties.")
    system_priority: list[str] = Field(
        default_factory=lambda: ["crm", "overlay", "mobile", "fixed", "tv"],
        description="Survivorship and customer-id anchor order: earlier systems win.",
    )
