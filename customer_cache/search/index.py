"""Keeps the lookup and search keys of a customer in step with its 360 document.

Two kinds of keys, all owned by this module:

* **Exact lookups** ``{prefix}:lk:{kind}:{value}`` — sets of customer ids. Kinds:

  ========== =============================================================================
  ``source`` ``system/key`` of every source record: parties, accounts, products, orders
  ``key``    the bare record key of the same records, upper-cased (a channel that types
             ``K00000003`` or a subscriber id does not know the system)
  ``account`` account numbers
  ``email``  case-folded addresses (golden and contact media)
  ``phone``  E.164 numbers of the party and its contact media
  ``msisdn`` E.164 numbers of products; ``iccid``, ``imsi``, … any other product identifier
             under its own name (upper-cased, spaces removed)
  ``national_id`` national id / company registration number, upper-cased
  ``order``  a channel's own order id (``external_id``)
  ========== =============================================================================

  A customer id needs no lookup key: it is the key of the document itself.

* **Fuzzy search** — four sorted sets (score 0, ordered by member) read with ``ZRANGEBYLEX``.
  Every member is ``lead1|lead2|family|given|postcode|dob|id|name|city``: two leading fields that
  the index is searched by, then the same payload, so a hit can be filtered and ranked and shown
  as a summary without reading the customer's document:

  ========= =================================== =================================================
  index     leading fields                      finds
  ========= =================================== =================================================
  ``name``  folded family name, given name      family prefix; family + given-name prefix
  ``phon``  Kölner Phonetik of both             sound-alike and most typos (Meier/Mayr)
  ``pc``    postcode, family name               every name at a postcode (typos ranked locally)
  ``dob``   birth date, family name             every name with a birth date
  ========= =================================== =================================================

  Names are folded (:func:`overlay.normalize.fold_name`: ``Müller`` → ``mueller``). A multi-word
  family or organisation name is also indexed under each later word (``schmidt weber`` under
  ``weber``), so either part finds it. One member per name term and postcode (a customer with a home
  and a service address in two postcodes has two).

:func:`search_ops` computes both sets of keys for the old and the new document and queues only the
difference: unchanged entries are not rewritten. Every command touches one key (Redis Cluster).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from customer_cache.keys import Keys
from customer_cache.search.phonetic import cologne
from customer_cache.view.model import Customer360
from overlay.models import AddressRole, MediumType, PartyKind
from overlay.normalize import NormalizationError, email, fold_name, phone_e164

SEP = "|"
END = "\x7f"
"""Upper bound of a ZRANGEBYLEX prefix range: every character that follows a prefix in a member
(``a-z``, ``0-9``, space, ``-``, ``|``) sorts below it."""

INDEXES = ("name", "phon", "pc", "dob")
MAX_POSTCODES = 4
_STOP_WORDS = frozenset(
    {"gmbh", "mbh", "ag", "kg", "ug", "ohg", "gbr", "ev", "co", "und", "der", "die", "das", "von", "van",
     "vom", "zu", "de", "la", "le", "el", "ltd", "inc", "se", "kgaa"}
)
_SPACE = re.compile(r"\s+")
_ADDRESS_ORDER = {
    AddressRole.HOME: 0, AddressRole.BILLING: 1, AddressRole.SERVICE: 2, AddressRole.SHIPPING: 3,
}


# --- identifier normalisation (shared with the query side) -----------------------------------------


def norm_token(raw: str) -> str:
    """Account numbers, record keys, ICCIDs, national ids …: spaces removed, upper-cased."""
    return _SPACE.sub("", raw).upper()


def norm_email(raw: str) -> str | None:
    try:
        return email(raw)
    except NormalizationError:
        value = _SPACE.sub("", raw).casefold()
        return value or None


def norm_phone(raw: str) -> str | None:
    try:
        return phone_e164(raw)
    except NormalizationError:
        return None


def norm_postcode(raw: str | None) -> str:
    return norm_token(raw).replace(SEP, "") if raw else ""


def _clean(text: str | None) -> str:
    """Free text in a member (display name, city): no separator, no line breaks."""
    return _SPACE.sub(" ", text or "").replace(SEP, "/").strip()


def lookups(doc: Customer360) -> set[tuple[str, str]]:
    """The ``(kind, value)`` pairs under which ``doc`` is found exactly."""
    out: set[tuple[str, str]] = set()

    def record(system: str, key: str) -> None:
        out.add(("source", f"{system}/{key}"))
        if key.strip():
            out.add(("key", norm_token(key)))

    def phone(kind: str, raw: str) -> None:
        value = norm_phone(raw)
        if value:
            out.add((kind, value))

    g = doc.golden
    for s in doc.sources:
        record(s.system, s.key)
    for a in doc.accounts:
        record(a.system, a.key)
        if a.account_number.strip():
            out.add(("account", norm_token(a.account_number)))
    for p in doc.products:
        record(p.system, p.key)
        for name, value in p.identifiers.items():
            kind = name.strip().lower()
            if not kind or not value.strip():
                continue
            if kind == "msisdn":
                phone("msisdn", value)
            else:
                out.add((kind, norm_token(value)))
    for o in doc.orders:
        record(o.system, o.key)
        if o.external_id and o.external_id.strip():
            out.add(("order", norm_token(o.external_id)))
    if g.email:
        e = norm_email(g.email)
        if e:
            out.add(("email", e))
    if g.phone:
        phone("phone", g.phone)
    if g.national_id and g.national_id.strip():
        out.add(("national_id", norm_token(g.national_id)))
    for c in doc.contact_media:
        if c.medium_type is MediumType.EMAIL:
            e = norm_email(c.value)
            if e:
                out.add(("email", e))
        else:
            phone("phone", c.value)
    return out


# --- fuzzy search entries -----------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """What one search member says about a customer."""

    term: str  # folded name term the member is filed under (family name or one of its later words)
    family: str  # folded full family (or organisation) name
    given: str  # folded given name(s), '' for organisations
    postcode: str
    dob: str  # ISO date or ''
    id: str
    name: str  # display name
    city: str

    def payload(self) -> str:
        return SEP.join((self.family, self.given, self.postcode, self.dob, self.id, self.name, self.city))

    def member(self, index: str) -> str:
        if index == "name":
            lead = (self.term, self.given)
        elif index == "phon":
            lead = (cologne(self.term), cologne(self.given))
        elif index == "pc":
            lead = (self.postcode, self.term)
        elif index == "dob":
            lead = (self.dob, self.term)
        else:
            raise ValueError(f"unknown search index {index!r}")
        return SEP.join((*lead, self.payload()))

    def indexes(self) -> Iterable[str]:
        yield "name"
        if cologne(self.term):
            yield "phon"
        if self.postcode:
            yield "pc"
        if self.dob:
            yield "dob"


def decode(index: str, member: str) -> Entry | None:
    """The entry a member of ``index`` encodes (None for a member this version cannot read)."""
    parts = member.split(SEP)
    if len(parts) != 9:
        return None
    family, given, postcode, dob, cid, name, city = parts[2:]
    if index == "name":
        term = parts[0]
    elif index == "phon":
        term = next((t for t in name_terms(family) if cologne(t) == parts[0]), family)
    else:
        term = parts[1]
    return Entry(term, family, given, postcode, dob, cid, name, city)


def name_terms(folded: str) -> list[str]:
    """The terms a folded name is filed under: itself and each later word that is not a stop word
    (``von der mueller`` → ``von der mueller``, ``mueller``)."""
    words = folded.split()
    if not words:
        return []
    terms = [" ".join(words)]
    for i in range(1, len(words)):
        if words[i] not in _STOP_WORDS and len(words[i]) >= 2:
            terms.append(" ".join(words[i:]))
    return terms


def postcodes(doc: Customer360) -> list[tuple[str, str]]:
    """The customer's distinct (postcode, city), home address first, at most ``MAX_POSTCODES``."""
    seen: dict[str, str] = {}
    for a in sorted(doc.addresses, key=lambda a: _ADDRESS_ORDER.get(a.role, 9)):
        pc = norm_postcode(a.postcode)
        if pc and pc not in seen:
            seen[pc] = _clean(a.city)
    for p in doc.products:
        sa = p.service_address
        pc = norm_postcode(sa.postcode) if sa else ""
        if sa and pc and pc not in seen:
            seen[pc] = _clean(sa.city)
    return list(seen.items())[:MAX_POSTCODES]


def entries(doc: Customer360) -> list[Entry]:
    g = doc.golden
    if g.kind is PartyKind.ORGANIZATION and g.organization_name:
        family, given = fold_name(g.organization_name), ""
    else:
        family = fold_name(g.family_name or "")
        given = fold_name(g.given_name or "")
        if not family and given:  # only one name known: file it as the family name
            family, given = given, ""
    if not family:
        return []
    dob = g.birth_date.isoformat() if g.birth_date else ""
    places = postcodes(doc) or [("", "")]
    name = _clean(g.display_name)
    return [
        Entry(term, family, given, pc, dob, doc.id, name, city)
        for term in name_terms(family)
        for pc, city in places
    ]


def search_members(doc: Customer360) -> dict[str, set[str]]:
    """Index name → the members ``doc`` has in it."""
    out: dict[str, set[str]] = {index: set() for index in INDEXES}
    for entry in entries(doc):
        for index in entry.indexes():
            out[index].add(entry.member(index))
    return out


# --- the diff -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchDiff:
    """What moving from one document to another changes in the search keys."""

    lookup_removed: set[tuple[str, str, str]]  # (kind, value, customer id)
    lookup_added: set[tuple[str, str, str]]
    members_removed: dict[str, set[str]]  # index → members
    members_added: dict[str, set[str]]

    @property
    def empty(self) -> bool:
        return not (self.lookup_removed or self.lookup_added or any(self.members_removed.values())
                    or any(self.members_added.values()))


def diff(old: Customer360 | None, new: Customer360 | None) -> SearchDiff:
    def lk(doc: Customer360 | None) -> set[tuple[str, str, str]]:
        return set() if doc is None else {(k, v, doc.id) for k, v in lookups(doc)}

    def sm(doc: Customer360 | None) -> dict[str, set[str]]:
        return {i: set() for i in INDEXES} if doc is None else search_members(doc)

    old_lk, new_lk = lk(old), lk(new)
    old_sm, new_sm = sm(old), sm(new)
    return SearchDiff(
        lookup_removed=old_lk - new_lk,
        lookup_added=new_lk - old_lk,
        members_removed={i: old_sm[i] - new_sm[i] for i in INDEXES},
        members_added={i: new_sm[i] - old_sm[i] for i in INDEXES},
    )


def search_ops(pipe: Any, keys: Keys, old: Customer360 | None, new: Customer360 | None) -> None:
    """Queue on a Redis pipeline the commands that move the lookup and search keys from ``old`` to
    ``new`` (either may be None: a customer created or gone). Single-key commands only; only what
    changed is written."""
    d = diff(old, new)
    removed: dict[str, list[str]] = {}
    for kind, value, cid in sorted(d.lookup_removed):
        removed.setdefault(keys.lookup(kind, value), []).append(cid)
    for key, ids in removed.items():
        pipe.srem(key, *ids)
    added: dict[str, list[str]] = {}
    for kind, value, cid in sorted(d.lookup_added):
        added.setdefault(keys.lookup(kind, value), []).append(cid)
    for key, ids in added.items():
        pipe.sadd(key, *ids)
    for index in INDEXES:
        if d.members_removed[index]:
            pipe.zrem(keys.search(index), *sorted(d.members_removed[index]))
        if d.members_added[index]:
            pipe.zadd(keys.search(index), dict.fromkeys(sorted(d.members_added[index]), 0))
