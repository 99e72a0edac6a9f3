"""Name folding and the tolerant name comparison identity resolution links individuals with.

Legacy systems spell one person in many ways: ``Müller``/``Mueller``/``MUELLER``, ``Hans-Peter``/
``Hans Peter``/``H.-P.``, a dropped or doubled letter, given and family name swapped. Two names are
*compatible* when they may be the same person's; compatibility is a guard (it never links two parties
on its own), so it errs towards tolerance where the shared identifiers already say "same person".
"""

from __future__ import annotations

from functools import lru_cache

from overlay.normalize import fold_name

# Letters NFKD does not decompose, as German legacy systems write them in ASCII.
_EXTRA = str.maketrans({"ı": "i", "ł": "l", "Ł": "l", "ø": "oe", "Ø": "oe", "æ": "ae", "Æ": "ae",  # noqa: RUF001
                        "œ": "oe", "Œ": "oe", "đ": "d", "Đ": "d", "ð": "d", "Ð": "d", "þ": "th", "Þ": "th"})


@lru_cache(maxsize=65_536)
def fold(raw: str | None) -> str | None:
    """ASCII-folded, lower-case, words separated by one space: ``Müller-Lüdenscheidt`` →
    ``mueller luedenscheidt``, ``H.-P.`` → ``h p``, ``Yılmaz`` → ``yilmaz``; None when nothing is left."""  # noqa: RUF002
    if raw is None:
        return None
    value = fold_name(raw.translate(_EXTRA))
    return value or None


def compact(folded: str) -> str:
    """A folded name without its spaces, for keys: ``hans peter`` → ``hanspeter``."""
    return folded.replace(" ", "")


def osa_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (insert, delete, substitute, swap neighbours), or
    ``limit + 1`` as soon as it is known to exceed ``limit``."""
    if a == b:
        return 0
    la, lb = len(a), len(b)
    if abs(la - lb) > limit:
        return limit + 1
    if la == 0 or lb == 0:
        return max(la, lb)
    prev2: list[int] = []
    prev = list(range(lb + 1))
    for i in range(1, la + 1):
        cur = [i] + [0] * lb
        ca = a[i - 1]
        best = cur[0]
        for j in range(1, lb + 1):
            cb = b[j - 1]
            cost = 0 if ca == cb else 1
            value = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                value = min(value, prev2[j - 2] + 1)
            cur[j] = value
            best = min(best, value)
        if best > limit:
            return limit + 1
        prev2, prev = prev, cur
    return min(prev[lb], limit + 1)


def _allowed_typos(length: int) -> int:
    """Edits tolerated in a name of ``length`` letters: none below 4, one below 8, else two."""
    if length < 4:
        return 0
    return 1 if length < 8 else 2


def _skeleton(folded: str) -> str:
    """Transliterated umlauts back to one letter (``jaeaeger`` → ``jaager``): a slip on an umlaut
    (``Jääger``) is one edit, not two."""
    return folded.replace("ae", "a").replace("oe", "o").replace("ue", "u")


def _within(ca: str, cb: str, limit: int) -> bool:
    if not limit:
        return False
    return osa_distance(ca, cb, limit) <= limit or osa_distance(_skeleton(ca), _skeleton(cb), limit) <= limit


def family_compatible(a: str, b: str) -> bool:
    """Folded family names that may be one person's: equal (spaces ignored), within the typos their
    length allows, or one made of some of the other's words (``meyer hansen`` / ``hansen``)."""
    ca, cb = compact(a), compact(b)
    if ca == cb:
        return True
    if _within(ca, cb, _allowed_typos(max(len(ca), len(cb)))):
        return True
    wa, wb = a.split(), b.split()
    short, long_ = (wa, wb) if len(wa) <= len(wb) else (wb, wa)
    return len(short) < len(long_) and len(compact(" ".join(short))) >= 4 and all(w in long_ for w in short)


def _word_compatible(a: str, b: str) -> bool:
    if a == b:
        return True
    if len(a) == 1 or len(b) == 1:  # an initial
        return a[0] == b[0]
    return _within(a, b, min(1, _allowed_typos(max(len(a), len(b)))))


def given_compatible(a: str, b: str) -> bool:
    """Folded given names that may be one person's: equal (spaces ignored), one typo apart, initials
    of the other (``h p`` / ``hans peter``, ``h`` / ``hans peter``), or the other's first names
    (``hans`` / ``hans peter``)."""
    ca, cb = compact(a), compact(b)
    if ca == cb or _within(ca, cb, min(1, _allowed_typos(max(len(ca), len(cb))))):
        return True
    wa, wb = a.split(), b.split()
    return all(_word_compatible(x, y) for x, y in zip(wa, wb, strict=False))


def names_compatible(given_a: str | None, family_a: str | None, given_b: str | None,
                     family_b: str | None) -> bool:
    """Whether two folded names (:func:`fold`) may belong to one individual, given and family name
    swapped in one of them tolerated. A part missing on either side is not held against them."""
    return _same_order(given_a, family_a, given_b, family_b) or (
        given_b is not None and family_b is not None and _same_order(given_a, family_a, family_b, given_b)
    )


def _same_order(given_a: str | None, family_a: str | None, given_b: str | None, family_b: str | None) -> bool:
    if family_a is not None and family_b is not None and not family_compatible(family_a, family_b):
        return False
    return given_a is None or given_b is None or given_compatible(given_a, given_b)
