"""Normalisation of the identifiers customers give in many formats.

Used by connectors (so canonical events carry comparable values) and by channel-facing search
(so "0151 2345 6789" typed in a shop finds "+4915123456789"). Pure functions, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers

_SPACES = re.compile(r"\s+")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class NormalizationError(ValueError):
    """A value that cannot be brought into canonical form; the message says which and why."""


_PUNCTUATION = re.compile(r"[\s\-()./]")
_PLAIN = re.compile(r"\+?\d+")


@lru_cache(maxsize=64)
def _calling_code(region: str) -> str:
    return str(phonenumbers.country_code_for_region(region.upper()))


def _fast_e164(text: str, region: str) -> str | None:
    """The common legacy spellings without the (slow) full parser; None when unsure.

    Only the shapes that carry the default region's own country code (``+CC…``, ``00CC…``, bare
    ``CC…``) or a trunk 0. Anything else goes through :mod:`phonenumbers`.
    """
    compact = _PUNCTUATION.sub("", text)
    if not _PLAIN.fullmatch(compact):
        return None
    code = _calling_code(region)
    if compact.startswith("+"):
        digits = compact[1:]
    elif compact.startswith("00"):
        digits = compact[2:]
    elif compact.startswith("0"):
        digits = code + compact[1:]
    else:  # bare international digits, as the full parser would read them first
        digits = compact
    national = digits[len(code):]
    if not digits.startswith(code) or national.startswith("0") or not 5 <= len(national) <= 13:
        return None
    return "+" + digits


def phone_e164(raw: str, default_region: str = "DE") -> str:
    """``0151 2345 6789``, ``0049-151-23456789``, ``(0151) 23456789``, ``4915123456789`` → E.164."""
    text = raw.strip()
    if not text:
        raise NormalizationError("empty phone number")
    fast = _fast_e164(text, default_region)
    if fast is not None:
        return fast
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
        value = value.title()
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
