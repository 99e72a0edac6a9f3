"""Customer search in one call: whatever a channel types, ranked customer summaries back.

Round trip 1 (one pipeline): the exact lookups the input could be (a customer id and its ``moved``
key, a source ref, an email, a phone number as contact and as MSISDN, account, contract, subscriber
or order numbers, ICCID …) together with the fuzzy name ranges (family exact / prefix, phonetic,
every name at the postcode or birth date typed). Round trip 2, only when an identifier matched: the
documents of those customers (one MGET) for their summaries; fuzzy hits are summarised from the
search members themselves.

Ranking: an identifier match first (score 2), then names: exact family name 1.0 > prefix 0.8 >
phonetic 0.6 > typo 0.5; a matching given name adds up to 0.3 and a conflicting one takes 0.4; a
matching postcode or birth date adds 0.5, a different birth date takes 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from customer_cache.keys import Keys
from customer_cache.reader import CustomerReader
from customer_cache.search.index import END, SEP, Entry, decode, postcodes
from customer_cache.search.parse import NameGuess, ParsedQuery, parse
from customer_cache.search.phonetic import cologne, edit_distance, typo_budget
from customer_cache.view.model import Customer360

RANGE_CAP = 200
"""Members read per name range (exact, prefix, phonetic)."""
SCAN_CAP = 2000
"""Members read per postcode / birth-date range (all names there, compared locally for typos)."""
MAX_LIMIT = 100


class Stage(StrEnum):
    EXACT = "exact"  # an identifier
    NAME = "name"  # the family name as typed
    PREFIX = "prefix"
    PHONETIC = "phonetic"
    TYPO = "typo"
    PLACE = "place"  # postcode and/or birth date only


_STAGE_ORDER = {s: i for i, s in enumerate(Stage)}
_BASE = {Stage.NAME: 1.0, Stage.PREFIX: 0.8, Stage.PHONETIC: 0.6, Stage.TYPO: 0.5, Stage.PLACE: 0.5}


class SearchHit(BaseModel):
    """One customer found, as a channel lists it before opening the 360."""

    id: str
    name: str
    postcode: str | None = None
    city: str | None = None
    stage: Stage = Field(description="How it was found: exact (an identifier), name, prefix, phonetic, "
                         "typo, place (postcode / birth date only).")
    score: float
    matched: str | None = Field(None, description="The identifier kind for an exact hit (phone, email, "
                                "account, source, id, moved …).")


@dataclass(frozen=True)
class _Range:
    index: str
    low: str
    high: str
    cap: int


def _prefix(index: str, prefix: str, cap: int = RANGE_CAP) -> _Range:
    return _Range(index, "[" + prefix, "(" + prefix + END, cap)


def ranges(parsed: ParsedQuery) -> list[_Range]:
    """The ZRANGEBYLEX reads that may hold the customers a name / postcode / birth date means."""
    out: list[_Range] = []
    for guess in parsed.names:
        f, g = guess.family, guess.given
        out.append(_prefix("name", f + SEP + (g.split()[0] if g else "")))  # family exact (+ given prefix)
        if len(f) >= 2:
            out.append(_prefix("name", f))  # family prefix
        code = cologne(f)
        if code:
            out.append(_prefix("phon", code + SEP + (cologne(g.split()[0]) if g else "")))
        if parsed.postcode:
            out.append(_prefix("pc", parsed.postcode + SEP + f))
        if parsed.birth_date:
            out.append(_prefix("dob", parsed.birth_date + SEP + f))
    if parsed.postcode:
        out.append(_prefix("pc", parsed.postcode + SEP, SCAN_CAP))  # typos the phonetic code missed
    if parsed.birth_date:
        out.append(_prefix("dob", parsed.birth_date + SEP, SCAN_CAP))
    return list(dict.fromkeys(out))


def _family_match(term: str, family: str, typed: str) -> tuple[Stage, float] | None:
    candidates = {term, family}
    if typed in candidates:
        return Stage.NAME, _BASE[Stage.NAME]
    if any(c.startswith(typed) for c in candidates):
        longest = max(len(c) for c in candidates if c.startswith(typed))
        return Stage.PREFIX, _BASE[Stage.PREFIX] - 0.1 * (1 - len(typed) / longest)
    if cologne(typed) and cologne(typed) == cologne(term):
        return Stage.PHONETIC, _BASE[Stage.PHONETIC]
    budget = typo_budget(typed)
    if budget:
        d = min(edit_distance(typed, c, budget) for c in candidates)
        if d <= budget:
            return Stage.TYPO, _BASE[Stage.TYPO] - 0.05 * (d - 1)
    return None


def _given_adjustment(stored: str, typed: str) -> float:
    if not typed or not stored:
        return 0.0
    if stored == typed:
        return 0.3
    first_stored, first_typed = stored.split()[0], typed.split()[0]
    if first_stored == first_typed or stored.startswith(typed) or typed.startswith(stored):
        return 0.2
    if len(first_typed) == 1 and first_stored.startswith(first_typed):  # an initial
        return 0.15
    if cologne(first_stored) == cologne(first_typed):
        return 0.15
    if edit_distance(first_stored, first_typed, 1) <= typo_budget(first_typed):
        return 0.1
    return -0.4


def score_entry(entry: Entry, guess: NameGuess | None, parsed: ParsedQuery) -> tuple[Stage, float] | None:
    """How well one search entry answers the query under one reading of its name words."""
    if guess is not None:
        match = _family_match(entry.term, entry.family, guess.family)
        if match is None:
            return None
        stage, score = match
        score += _given_adjustment(entry.given, guess.given)
    else:
        stage, score = Stage.PLACE, _BASE[Stage.PLACE]
    if parsed.postcode:
        if entry.postcode == parsed.postcode:
            score += 0.5
        elif guess is None:
            return None
    if parsed.birth_date:
        if entry.dob == parsed.birth_date:
            score += 0.5
        elif guess is None:
            return None
        elif entry.dob:
            score -= 0.5
    return stage, round(score, 4)


def rank(parsed: ParsedQuery, entries: list[Entry]) -> list[SearchHit]:
    """The best score of every customer among ``entries``, best first."""
    best: dict[str, SearchHit] = {}
    guesses: list[NameGuess | None] = list(parsed.names) or [None]
    for entry in entries:
        for guess in guesses:
            scored = score_entry(entry, guess, parsed)
            if scored is None:
                continue
            stage, score = scored
            hit = best.get(entry.id)
            if hit is None or (score, -_STAGE_ORDER[stage]) > (hit.score, -_STAGE_ORDER[hit.stage]):
                best[entry.id] = SearchHit(
                    id=entry.id, name=entry.name, postcode=entry.postcode or None,
                    city=entry.city or None, stage=stage, score=score,
                )
    return sorted(best.values(), key=_order)


def _order(hit: SearchHit) -> tuple[float, int, str, str]:
    return -hit.score, _STAGE_ORDER[hit.stage], hit.name.casefold(), hit.id


def summary(doc: Customer360, matched: str, score: float = 2.0) -> SearchHit:
    places = postcodes(doc)
    pc, city = places[0] if places else ("", "")
    return SearchHit(id=doc.id, name=doc.golden.display_name, postcode=pc or None, city=city or None,
                     stage=Stage.EXACT, score=score, matched=matched)


async def search(client: Any, keys: Keys, text: str, limit: int = 10) -> list[SearchHit]:
    """Ranked customers for what a channel typed (at most ``limit``)."""
    limit = max(1, min(limit, MAX_LIMIT))
    parsed = parse(text)
    plan = ranges(parsed) if parsed.fuzzy else []
    if not (parsed.customer_ids or parsed.lookups or plan):
        return []
    async with client.pipeline(transaction=False) as pipe:
        for cid in parsed.customer_ids:
            pipe.exists(keys.customer(cid))
            pipe.get(keys.moved(cid))
        for kind, value in parsed.lookups:
            pipe.smembers(keys.lookup(kind, value))
        for r in plan:
            pipe.zrangebylex(keys.search(r.index), r.low, r.high, start=0, num=r.cap)
        replies: list[Any] = await pipe.execute()

    exact: dict[str, str] = {}  # customer id → how it was matched
    pos = 0
    for cid in parsed.customer_ids:
        present, moved_to = replies[pos], replies[pos + 1]
        pos += 2
        if present:
            exact.setdefault(cid, "id")
        elif moved_to:
            exact.setdefault(moved_to, "moved")
    for kind, _value in parsed.lookups:
        for cid in sorted(replies[pos]):
            exact.setdefault(cid, kind)
        pos += 1
    entries: dict[Entry, None] = {}  # the same entry often comes from several ranges
    for r, members in zip(plan, replies[pos:], strict=True):
        entries.update((e, None) for m in members if (e := decode(r.index, m)) is not None)

    hits: list[SearchHit] = []
    if exact:
        wanted = list(exact)[:limit]
        reader = CustomerReader(client, keys)
        docs = await reader.get_many(wanted)
        for cid, doc in zip(wanted, docs, strict=True):
            if doc is None and exact[cid] == "moved":  # merged again since: follow the chain
                found = await reader.get(cid)
                doc = found.doc if found else None
            if doc is not None and doc.id not in {h.id for h in hits}:
                hits.append(summary(doc, exact[cid]))
    seen = {h.id for h in hits}
    hits.extend(h for h in rank(parsed, list(entries)) if h.id not in seen)
    return hits[:limit]
