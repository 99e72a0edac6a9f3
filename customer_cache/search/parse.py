"""What a channel typed into a customer search box, taken apart.

``CU-…`` a customer id; ``crm/K00000003`` a source record; anything with ``@`` an email; digits
in any phone spelling (``0151 2345 6789``, ``+49 151…``, ``0049-…``, ``(0151) …``) a phone number;
a single token with digits an account, contract, subscriber or order number, an ICCID…; the rest a
name, optionally with a postcode and/or a birth date (``Müller 10115``, ``Hans Mueller 1980-02-03``,
``mueller, hans``). Pure functions, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from customer_cache.search.index import norm_email, norm_phone, norm_postcode, norm_token
from overlay.normalize import fold_name

IDENTIFIER_KINDS = (
    "key", "account", "national_id", "order", "iccid", "imsi", "access_line", "contract", "subscriber_id",
)
"""Lookup kinds tried for a bare identifier token (the channel does not say which it is)."""

_CUSTOMER_ID = re.compile(r"^cu-[0-9a-z_-]+$", re.I)
_PHONEISH = re.compile(r"^\+?[\d\s\-()./]+$")
_SPACED_IDENTIFIER = re.compile(r"^[A-Za-z0-9-]+$")
_POSTCODE = re.compile(r"^\d{4,5}$")
_DATES = (
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"), (1, 2, 3)),
    (re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$"), (3, 2, 1)),
    (re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$"), (3, 2, 1)),
)
_MAX_HYPOTHESES = 4


@dataclass(frozen=True)
class NameGuess:
    """One reading of the name words: which is the family name, which the given name(s)."""

    family: str  # folded
    given: str = ""  # folded, '' when not given


@dataclass
class ParsedQuery:
    text: str
    customer_ids: list[str] = field(default_factory=list)
    lookups: list[tuple[str, str]] = field(default_factory=list)  # (kind, normalised value)
    names: list[NameGuess] = field(default_factory=list)
    postcode: str = ""
    birth_date: str = ""  # ISO

    @property
    def fuzzy(self) -> bool:
        return bool(self.names or self.postcode or self.birth_date)

    def add_lookup(self, kind: str, value: str | None) -> None:
        if value and (kind, value) not in self.lookups:
            self.lookups.append((kind, value))


def parse_date(token: str) -> str | None:
    for pattern, (y, m, d) in _DATES:
        match = pattern.match(token)
        if match:
            try:
                return date(int(match.group(y)), int(match.group(m)), int(match.group(d))).isoformat()
            except ValueError:
                return None
    return None


def _identifier(parsed: ParsedQuery, token: str) -> None:
    value = norm_token(token)
    for kind in IDENTIFIER_KINDS:
        parsed.add_lookup(kind, value)


def _phone(parsed: ParsedQuery, text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    if not 6 <= len(digits) <= 15 or not _PHONEISH.match(text):
        return False
    e164 = norm_phone(text)
    if e164:
        parsed.add_lookup("phone", e164)
        parsed.add_lookup("msisdn", e164)
    return e164 is not None


def parse(text: str) -> ParsedQuery:
    q = re.sub(r"\s+", " ", text).strip()
    parsed = ParsedQuery(q)
    if not q:
        return parsed
    compact = q.replace(" ", "")
    if _CUSTOMER_ID.match(compact):
        cid = "CU-" + compact[3:]
        parsed.customer_ids = list(dict.fromkeys((cid, "CU-" + compact[3:].lower())))
        return parsed
    if "@" in q and " " not in q.strip():
        parsed.add_lookup("email", norm_email(q))
        return parsed
    if "/" in q and " " not in q and not parse_date(q) and not _PHONEISH.match(q):
        system, _, key = q.partition("/")
        parsed.add_lookup("source", q)
        parsed.add_lookup("source", f"{system.lower()}/{key}")
        parsed.add_lookup("key", norm_token(key))  # "crm/K00000003" or a key with a slash
        parsed.add_lookup("key", norm_token(q))
        return parsed
    phoneish = parse_date(q) is None and _PHONEISH.match(q) and not _POSTCODE.match(compact)
    if phoneish and (_phone(parsed, q) or compact.isdigit()):
        if compact.isdigit():  # ICCID, IMSI, account or contract numbers are digits too
            _identifier(parsed, compact)
        return parsed

    if " " in q and _SPACED_IDENTIFIER.match(compact) and any(ch.isdigit() for ch in compact):
        _identifier(parsed, compact)  # "BA 000 000 001": a number typed in groups
    words: list[str] = []
    family_first: list[str] | None = None
    comma = "," in q
    for part_no, part in enumerate(q.split(",") if comma else [q]):
        part_words: list[str] = []
        for token in part.split():
            iso = parse_date(token)
            if iso:
                parsed.birth_date = iso
            elif _POSTCODE.match(token):
                parsed.postcode = norm_postcode(token)
            elif any(ch.isdigit() for ch in token):
                _identifier(parsed, token)
                if len(q.split()) == 1:
                    _phone(parsed, token)
            else:
                folded = fold_name(token)
                if folded:
                    part_words.append(folded)
        if comma and part_no == 0:
            family_first = part_words
        else:
            words.extend(part_words)
    parsed.names = _guesses(words, family_first)
    return parsed


def _guesses(words: list[str], family_first: list[str] | None) -> list[NameGuess]:
    """``mueller, hans`` is unambiguous; ``hans mueller`` may be either order, or a multi-word
    family or organisation name."""
    if family_first:
        return [NameGuess(" ".join(family_first), " ".join(words))]
    if not words:
        return []
    if len(words) == 1:
        return [NameGuess(words[0])]
    guesses = [
        NameGuess(words[-1], " ".join(words[:-1])),
        NameGuess(words[0], " ".join(words[1:])),
        NameGuess(" ".join(words)),
    ]
    if len(words) > 2:
        guesses.append(NameGuess(" ".join(words[1:]), words[0]))
    return list(dict.fromkeys(guesses))[:_MAX_HYPOTHESES]
