"""Canonical records and profiles for the identity tests."""

from __future__ import annotations

from datetime import date
from typing import Any

from customer_cache.identity import IdentityRules, Profile, build_profile
from customer_cache.identity.profile import Child
from overlay.models import Account, Address, ContactMedium, Party, ProductInstance
from overlay.models.common import SourceRef
from overlay.models.party import MediumType

RULES = IdentityRules()


def owner(ref: str) -> SourceRef:
    system, _, key = ref.partition("/")
    return SourceRef(system=system, key=key, kind="customer")


def contact(ref: str, medium: str, value: str) -> ContactMedium:
    return ContactMedium(party=owner(ref), medium_type=MediumType(medium), value=value)


def address(ref: str, postcode: str = "10115", street: str = "Hauptstraße", house: str = "1") -> Address:
    return Address(party=owner(ref), postcode=postcode, street=street, house_number=house, city="Berlin")


def account(ref: str, number: str, stack: str | None = None) -> Account:
    return Account(party=owner(ref), account_number=number, stack=stack)


def product(ref: str, msisdn: str) -> ProductInstance:
    return ProductInstance(party=owner(ref), stack="mobile", identifiers={"msisdn": msisdn})


def profile(
    ref: str,
    given: str | None = "Anna",
    family: str | None = "Schmidt",
    *,
    birth: date | None = None,
    email: str | None = None,
    phone: str | None = None,
    national_id: str | None = None,
    children: list[Child] | None = None,
    rules: IdentityRules = RULES,
    **party: Any,
) -> Profile:
    """The profile of ``ref`` from a party with these attributes and children."""
    record = Party(given_name=given, family_name=family, birth_date=birth, email=email, phone=phone,
                   national_id=national_id, **party)
    return build_profile(ref, record, children or [], rules)


def ids_of(p: Profile, kind: str) -> list[str]:
    return [i.partition(":")[2] for i in p.identifiers if i.partition(":")[0] == kind]
