"""TMF629 Customer create/update bodies → the change the CRM takes (pure functions, no I/O).

A TMF629 ``Customer`` has no given or family name of its own: they travel as ``characteristic``
entries (``givenName``, ``familyName``, ``title``, ``birthDate``, ``nationalId``, ``segment``), else
``name`` is split at its last space. ``contactMedium`` carries the email, the mobile and fixed
numbers and the postal address, in the v4 shape the reads return, so a channel can read a customer,
change a value and send it back.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from customer_cache.writeback.crm_sql import AddressChange, PartyChange
from overlay.normalize import NormalizationError, email, phone_e164


class InvalidCustomerBody(ValueError):
    """The body cannot become a CRM change; the message names the attribute."""


class _Tmf(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class MediumCharacteristic(_Tmf):
    contact_type: str | None = Field(None, alias="contactType")
    email_address: str | None = Field(None, alias="emailAddress")
    phone_number: str | None = Field(None, alias="phoneNumber")
    street1: str | None = None
    post_code: str | None = Field(None, alias="postCode")
    city: str | None = None
    country: str | None = None


class ContactMediumBody(_Tmf):
    medium_type: str = Field(alias="mediumType")
    preferred: bool | None = None
    characteristic: MediumCharacteristic


class CharacteristicBody(_Tmf):
    name: str
    value: Any


class CustomerBody(_Tmf):
    """The attributes of a TMF629 Customer a write may carry (others, e.g. ``@type``, are ignored)."""

    name: str | None = None
    status: str | None = None
    contact_medium: list[ContactMediumBody] | None = Field(None, alias="contactMedium")
    characteristic: list[CharacteristicBody] | None = None


_FIELDS = {"givenName": "given_name", "familyName": "family_name", "title": "title",
           "birthDate": "birth_date", "nationalId": "national_id", "segment": "segment"}
_STATUS = {"active": "active", "inactive": "inactive", "validated": "active", "initialized": "active"}


def _error(exc: ValidationError) -> InvalidCustomerBody:
    parts = []
    for e in exc.errors(include_url=False, include_input=False):
        parts.append(f"{'.'.join(str(x) for x in e['loc']) or 'body'}: {e['msg']}")
    return InvalidCustomerBody("; ".join(parts))


def to_change(body: dict[str, Any], *, creating: bool) -> PartyChange:
    """The CRM change a TMF629 create (``creating``) or merge-patch body asks for."""
    try:
        parsed = CustomerBody.model_validate(body)
    except ValidationError as exc:
        raise _error(exc) from None
    values: dict[str, Any] = {}
    for c in parsed.characteristic or ():
        field = _FIELDS.get(c.name)
        if field is None:
            continue  # sourceRecord, partyKind …: read-only
        value = c.value
        if field == "birth_date" and value is not None:
            try:
                value = date.fromisoformat(str(value))
            except ValueError:
                raise InvalidCustomerBody(f"characteristic {c.name}: expected a date YYYY-MM-DD") from None
        values[field] = value
    if parsed.name and not ({"given_name", "family_name"} & values.keys()):
        given, _, family = parsed.name.strip().rpartition(" ")
        if not family:
            raise InvalidCustomerBody("name: expected given and family name, or givenName/familyName "
                                      "characteristics")
        values["given_name"], values["family_name"] = given or None, family
    if parsed.status is not None:
        if parsed.status not in _STATUS:
            raise InvalidCustomerBody(f"status: expected one of {sorted(_STATUS)}")
        values["status"] = _STATUS[parsed.status]
    for i, medium in enumerate(parsed.contact_medium or ()):
        values.update(_medium(i, medium))
    if creating and not values.get("family_name"):
        raise InvalidCustomerBody("a new customer needs a name (name, or a familyName characteristic)")
    try:
        return PartyChange.model_validate(values)
    except ValidationError as exc:
        raise _error(exc) from None


def _medium(i: int, medium: ContactMediumBody) -> dict[str, Any]:
    at = f"contactMedium[{i}]"
    c = medium.characteristic
    kind = medium.medium_type
    if kind == "email":
        if not c.email_address:
            raise InvalidCustomerBody(f"{at}.characteristic.emailAddress: required for an email")
        try:
            return {"email": email(c.email_address)}
        except NormalizationError:
            raise InvalidCustomerBody(f"{at}.characteristic.emailAddress: not an email address") from None
    if kind in ("telephone", "mobile", "phone"):
        if not c.phone_number:
            raise InvalidCustomerBody(f"{at}.characteristic.phoneNumber: required for a telephone")
        try:
            number = phone_e164(c.phone_number)
        except NormalizationError:
            raise InvalidCustomerBody(f"{at}.characteristic.phoneNumber: not a phone number") from None
        mobile = kind == "mobile" or (c.contact_type or "").lower() == "mobile"
        return {"mobile" if mobile else "phone": number}
    if kind == "postalAddress":
        street, house = _street(c.street1)
        return {"address": AddressChange(street=street, house_number=house, postcode=c.post_code,
                                         city=c.city, country=(c.country or "DE").upper()[:2])}
    raise InvalidCustomerBody(f"{at}.mediumType: expected email, telephone or postalAddress")


def _street(street1: str | None) -> tuple[str | None, str | None]:
    """``Lindenstraße 12a`` → (``Lindenstraße``, ``12a``)."""
    if not street1:
        return None, None
    match = re.fullmatch(r"\s*(.*?)\s+(\d+\s*[a-zA-Z]?(?:[-/]\d+\s*[a-zA-Z]?)?)\s*", street1)
    if match:
        return match.group(1), match.group(2).replace(" ", "")
    return street1.strip(), None
