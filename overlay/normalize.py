"""Normalisation of the identifiers customers give in many formats.

Used by connectors (so canonical events carry comparable values) and by channel-facing search
(so "0151 2345 6789" typed in a shop finds "+4915123456789"). Pure functions, no I/O.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

_SPACES = re.compile(r"\s+")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class NormalizationError(ValueError):
    """A value that cannot be brought into canonical form; the message says which and why."""


def phone_e164(raw: str, default_region: str = "DE") -> str:
    """``0151 2345 6789``, ``0049-151-23456789``, ``(0151) 23456789``, ``4915123456789`` → E.164."""
    text = raw.strip()
    if not text:
        raise NormalizationError("empty phone number")
    digits = re.sub(r"[^\d+]", "", text)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    candidates = [digits]
    if not digits.startswith("+") and not digits.startswith("0"):
        # A bare international number without + or 00 ("4915123456789").
        candidates.insert(0, "+" + digits)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, default_region)
        except phonenumbers.NumberParseException:
            continue
        if len(str(number.national_number)) >= 5 and phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise NormalizationError(f"not a phone number in region {default_region}: {len(text)} characters")


def email(raw: str) -> str:
    """Trim, remove inner spaces and case-fold; reject what is not shaped like an address."""
    value = _SPACES.sub("", raw).casefold()
    if not _EMAIL.match(value):
        raise NormalizationError("not an email address")
    return value


def clean_name(raw: str | None) -> str | None:
    """Collapse white space and fix SHOUTING or lower-case legacy names; keep umlauts."""
    if raw is None:
        return None
    value = _SPACES.sub(" ", unicodedata.normalize("NFC", raw)).strip()
    if not value:
        return None
    if value.isupper() or value.islower():
        value = "-".join(part.capitalize() for part in value.title().split("-"))
    return value


def fold_name(raw: str) -> str:
    """A matching key for names: Müller, Mueller and MUELLER fold to the same string."""
    value = unicodedata.normalize("NFC", raw).casefold()
    for umlaut, plain in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        value = value.replace(umlaut, plain)
    value = unicodedata.normalize("NFKD", value)
    value = "".join(ch for ch in value if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]+", " ", value).strip()


def postcode(raw: str) -> str:
    return _SPACES.sub("", raw).upper()
