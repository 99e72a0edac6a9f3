"""Identity resolution's vocabulary: identifiers, a source party's profile, the rules and their trust.

An identifier is ``type:value`` with the value normalised (E.164 numbers, case-folded emails,
upper-cased national ids, folded names; see :mod:`customer_cache.identity.profile`); its *trust*
says how much sharing it means. The defaults:

* 1.0 — one is enough: national id, explicit cross-reference, email, mobile number, a billing
  account referenced from another system (each unique to a person unless shared, which the guards
  catch: ``max_holders``, name compatibility, conflicting birth dates or national ids);
* 0.5 — a landline (a household shares it), a generic mailbox (``info@…``: colleagues share it),
  name + postcode, name + full address: any two of them link (name + address alone too, as it
  implies name + postcode), none alone;
* 0.6 — name + birth date: with a landline, a postcode or an address it links; two namesakes born
  the same day stay apart unless something else is shared.

Each identifier type counts once (with its best shared value), so two shared landlines are still
one landline's worth.
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
    NAME_ADDRESS = "name_address"  # folded family + given name + postcode + street + house number


class Profile(BaseModel):
    """What identity resolution knows of one source party (stored as JSON in Redis)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ref: str = Field(description="system/key of the source party")
    system: str
    kind: str = Field("individual", description="individual or organization (PartyKind)")
    identifiers: tuple[str, ...] = Field(
        (), description="type:value, sorted; the party's own ref is among them as xref:system/key"
    )
    given_name: str | None = Field(None, description="Folded for comparison (hans peter); None for "
                                   "an organisation.")
    family_name: str | None = Field(None, description="Folded (mueller); an organisation's folded name.")
    birth_date: date | None = None
    postcode: str | None = Field(None, description="Of the preferred address (home, billing, service).")
    deleted: bool = Field(False, description="Deleted or never seen: no identifiers, links nobody.")


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
            IdType.NAME_ADDRESS: 0.5,
        }
    )
    threshold: float = Field(
        1.0, description="Summed trust of shared identifiers needed to link two parties (each identifier "
        "type counted once, with its best shared value)."
    )
    max_holders: int = Field(
        6, description="An identifier held by more source parties than this (a generic company mailbox) "
        "links nobody."
    )
    require_compatible_names: bool = Field(
        True, description="Two individuals link only if their names are compatible (typos, initials, "
        "transliteration and swaps tolerated), except through national id or an explicit cross-reference."
    )
    cluster_cap: int = Field(40, description="A customer never grows beyond this many source parties.")
    max_component: int = Field(
        2000, description="A linked component larger than this is not resolved: its parties stay alone "
        "(a runaway chain of links is a data problem to fix, not a customer)."
    )
    generic_mailboxes: list[str] = Field(
        default_factory=lambda: [
            "info", "office", "kontakt", "contact", "service", "buero", "büro", "post", "admin",
            "team", "hello", "hallo", "support", "sales", "vertrieb", "verwaltung", "zentrale", "empfang",
            "kundenservice", "rechnung", "rechnungen", "billing", "buchhaltung", "noreply", "no-reply",
        ],
        description="Local parts of shared mailboxes (info@firma.de): such an email is weak evidence.",
    )
    generic_mailbox_trust: float = Field(
        0.5, description="Trust of a generic mailbox: colleagues share it, so it never links on its own."
    )
    national_ids_must_agree: bool = Field(
        True, description="Two parties with different national ids never link (unless cross-referenced)."
    )
    birth_dates_must_agree: bool = Field(
        True, description="Two individuals with different birth dates never link (unless national id or "
        "cross-reference): a parent and child sharing a mailbox or a number stay apart."
    )
    mobile_prefixes: list[str] = Field(
        default_factory=lambda: ["+4915", "+4916", "+4917"],
        description="E.164 prefixes of mobile numbers; other numbers of their countries are landlines. "
        "Numbers of other countries are classified by their numbering plan.",
    )
    default_region: str = Field("DE", description="Region of phone numbers written without country code.")
    system_priority: list[str] = Field(
        default_factory=lambda: ["crm", "overlay", "mobile", "fixed", "tv"],
        description="Survivorship and customer-id anchor order: earlier systems win.",
    )
