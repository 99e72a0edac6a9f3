"""A source party's identity profile: its normalised identifiers and folded name, from its records.

Identifiers are ``type:value`` strings (see :class:`~customer_cache.identity.model.IdType`):

* ``national_id:`` upper-cased, spaces and punctuation removed;
* ``email:`` trimmed, inner spaces removed, case-folded (party email, email contact media);
* ``mobile:`` / ``phone:`` E.164, classified by the number itself — a German number is mobile if it
  starts with a configured mobile prefix (``+4915``, ``+4916``, ``+4917``), a foreign one by its
  numbering plan — whatever field or contact type it came in (legacy systems file mobiles as phones
  and the other way round); product identifiers ``msisdn`` are always mobile;
* ``account:{stack}:{number}``: a billing account number scoped by the stack that owns it (the
  account's ``stack``, else its source system; a product's account reference by its system). It only
  links when another system references the same account of that stack;
* ``xref:{system}/{key}``: explicit cross-references of the party, *and the party's own ref*, so that
  a reference made by another system meets the party it names in the identifier index;
* ``name_dob:{family}|{g}|{birth date}``: folded family name, the given name's initial, birth date;
* ``name_postcode:{family}|{given}|{postcode}``: folded family and given name (spaces removed), per
  postcode of the party's addresses.

Values the connectors should already have normalised are normalised again (defensively); a value
that cannot be normalised is left out rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

import phonenumbers

from customer_cache.identity.model import IdentityRules, IdType, Profile
from customer_cache.identity.names import compact, fold
from overlay import normalize
from overlay.models import Account, Address, ContactMedium, Party, ProductInstance
from overlay.models.party import AddressRole, MediumType, PartyKind

Child = ContactMedium | Address | Account | ProductInstance

_E164 = re.compile(r"\+[1-9]\d{5,14}")
_ID_PUNCTUATION = re.compile(r"[\s\-./_]+")
_ADDRESS_ORDER = {AddressRole.HOME: 0, AddressRole.BILLING: 1, AddressRole.SERVICE: 2,
                  AddressRole.SHIPPING: 3}


def norm_email(raw: str | None) -> str | None:
    """``" Max.Mueller@Example.DE "`` → ``max.mueller@example.de``; None if not an address."""
    if not raw:
        return None
    try:
        return normalize.email(raw)
    except normalize.NormalizationError:
        return None


def norm_phone(raw: str | None, region: str = "DE") -> str | None:
    """E.164 (``0151 2345 6789`` → ``+4915123456789``); None if not a phone number."""
    if not raw:
        return None
    text = raw.strip()
    if _E164.fullmatch(text):
        return text
    try:
        return normalize.phone_e164(text, region)
    except normalize.NormalizationError:
        return None


def norm_national_id(raw: str | None) -> str | None:
    if not raw:
        return None
    value = _ID_PUNCTUATION.sub("", raw).upper()
    return value or None


def norm_account(raw: str) -> str:
    return _ID_PUNCTUATION.sub("", raw).upper()


def _country_code(e164: str) -> str | None:
    digits = e164[1:]
    for n in (1, 2, 3):
        if int(digits[:n]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return digits[:n]
    return None


@lru_cache(maxsize=64)
def _prefix_countries(prefixes: tuple[str, ...]) -> frozenset[str]:
    return frozenset(cc for p in prefixes if (cc := _country_code(p)) is not None)


@lru_cache(maxsize=16_384)
def _plan_type(e164: str) -> int | None:
    try:
        return int(phonenumbers.number_type(phonenumbers.parse(e164)))
    except phonenumbers.NumberParseException:
        return None


def phone_type(e164: str, rules: IdentityRules, hint: IdType = IdType.PHONE) -> IdType:
    """MOBILE or PHONE (landline) for an E.164 number; ``hint`` (how the source filed it) decides
    only where the numbering plan does not (foreign numbers that may be either)."""
    prefixes = tuple(rules.mobile_prefixes)
    if e164.startswith(prefixes):
        return IdType.MOBILE
    cc = _country_code(e164)
    if cc is not None and cc in _prefix_countries(prefixes):
        return IdType.PHONE
    kind = _plan_type(e164)
    if kind == phonenumbers.PhoneNumberType.MOBILE:
        return IdType.MOBILE
    if kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.VOIP):
        return IdType.PHONE
    return hint


def name_dob_key(family: str | None, given: str | None, birth: object) -> str | None:
    if not family or not given or birth is None:
        return None
    return f"{compact(family)}|{compact(given)[:1]}|{birth}"


_STREET_SUFFIX = re.compile(r"(?:strasse|str)$")


def address_key(address: Address) -> str | None:
    """``postcode|street|house number``, folded (``Lindenstr.``, ``Lindenstrasse`` and ``Lindenstraße``
    alike); None without all three."""
    if not (address.postcode and address.street and address.house_number):
        return None
    street = fold(address.street)
    house = fold(address.house_number)
    if street is None or house is None:
        return None
    street = _STREET_SUFFIX.sub("str", compact(street))
    return f"{normalize.postcode(address.postcode)}|{street}|{compact(house)}"


def _postcodes(addresses: Iterable[Address]) -> list[str]:
    """Postcodes of the addresses, the preferred (home, billing, service, shipping) first."""
    ranked = sorted(
        (_ADDRESS_ORDER.get(a.role, 9), pc)
        for a in addresses if a.postcode and (pc := normalize.postcode(a.postcode))
    )
    return list(dict.fromkeys(pc for _, pc in ranked))


def build_profile(ref: str, party: Party | None, children: Sequence[Child], rules: IdentityRules) -> Profile:
    """The profile of source party ``ref`` (``system/key``); ``party`` None when deleted or not seen yet
    (a deleted profile holds no identifiers, so it links nobody)."""
    system = ref.partition("/")[0]
    if party is None:
        return Profile(ref=ref, system=system, deleted=True)
    region = rules.default_region
    ids: set[str] = {f"{IdType.XREF}:{ref}"}

    def add_phone(raw: str | None, hint: IdType) -> None:
        number = norm_phone(raw, region)
        if number is not None:
            ids.add(f"{phone_type(number, rules, hint)}:{number}")

    def add_email(raw: str | None) -> None:
        value = norm_email(raw)
        if value is not None:
            ids.add(f"{IdType.EMAIL}:{value}")

    if (national_id := norm_national_id(party.national_id)) is not None:
        ids.add(f"{IdType.NATIONAL_ID}:{national_id}")
    add_email(party.email)
    add_phone(party.phone, IdType.PHONE)
    for xref in party.cross_refs:
        ids.add(f"{IdType.XREF}:{xref.system}/{xref.key}")

    addresses: list[Address] = []
    for child in children:
        if isinstance(child, ContactMedium):
            if child.medium_type is MediumType.EMAIL:
                add_email(child.value)
            elif child.medium_type is MediumType.MOBILE:
                add_phone(child.value, IdType.MOBILE)
            elif child.medium_type is MediumType.PHONE:
                add_phone(child.value, IdType.PHONE)
        elif isinstance(child, Address):
            addresses.append(child)
        elif isinstance(child, Account):
            number = norm_account(child.account_number)
            if number:
                ids.add(f"{IdType.ACCOUNT}:{child.stack or child.party.system}:{number}")
        elif isinstance(child, ProductInstance):
            msisdn = norm_phone(child.identifiers.get("msisdn"), region)
            if msisdn is not None:
                ids.add(f"{IdType.MOBILE}:{msisdn}")
            if child.account is not None and (number := norm_account(child.account.key)):
                ids.add(f"{IdType.ACCOUNT}:{child.account.system}:{number}")

    if party.kind is PartyKind.ORGANIZATION:
        given, family = None, fold(party.organization_name) or fold(party.family_name)
    else:
        given, family = fold(party.given_name), fold(party.family_name)
    postcodes = _postcodes(addresses)
    if (key := name_dob_key(family, given, party.birth_date)) is not None:
        ids.add(f"{IdType.NAME_DOB}:{key}")
    if family is not None and (given is not None or party.kind is PartyKind.ORGANIZATION):
        name = f"{compact(family)}|{compact(given) if given else ''}"
        for pc in postcodes:
            ids.add(f"{IdType.NAME_POSTCODE}:{name}|{pc}")
        for address in addresses:
            if (where := address_key(address)) is not None:
                ids.add(f"{IdType.NAME_ADDRESS}:{name}|{where}")
    return Profile(
        ref=ref, system=system, kind=str(party.kind), identifiers=tuple(sorted(ids)),
        given_name=given, family_name=family, birth_date=party.birth_date,
        postcode=postcodes[0] if postcodes else None,
    )
