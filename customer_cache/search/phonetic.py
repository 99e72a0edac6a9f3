"""Name comparison for search: Kölner Phonetik (German names) and a bounded edit distance.

Pure functions, no I/O. Both work on names already folded by :func:`overlay.normalize.fold_name`
(``Müller`` → ``mueller``), but accept any text: letters are upper-cased, umlauts and ß mapped,
everything else ignored.
"""

from __future__ import annotations

from functools import lru_cache

_VOWELS = frozenset("AEIJOUY")
_UMLAUTS = str.maketrans({"Ä": "A", "Ö": "O", "Ü": "U", "ß": "S", "ẞ": "S"})
_C_HARD_INITIAL = frozenset("AHKLOQRUX")
_C_HARD = frozenset("AHKOQUX")


def _letters(text: str) -> str:
    upper = text.upper().translate(_UMLAUTS)
    return "".join(ch for ch in upper if "A" <= ch <= "Z")


def _code(prev: str, ch: str, nxt: str, initial: bool) -> str:
    """The Kölner Phonetik digit(s) of ``ch`` between ``prev`` and ``nxt`` ('' at the edges)."""
    if ch in _VOWELS:
        return "0"
    if ch == "H":
        return ""
    if ch == "B":
        return "1"
    if ch == "P":
        return "3" if nxt == "H" else "1"
    if ch in "DT":
        return "8" if nxt in ("C", "S", "Z") else "2"
    if ch in "FVW":
        return "3"
    if ch in "GKQ":
        return "4"
    if ch == "C":
        if initial:
            return "4" if nxt and nxt in _C_HARD_INITIAL else "8"
        if prev in ("S", "Z"):
            return "8"
        return "4" if nxt and nxt in _C_HARD else "8"
    if ch == "X":
        return "8" if prev in ("C", "K", "Q") else "48"
    if ch == "L":
        return "5"
    if ch in "MN":
        return "6"
    if ch == "R":
        return "7"
    if ch in "SZ":
        return "8"
    return ""


@lru_cache(maxsize=65536)
def cologne(text: str) -> str:
    """The Kölner Phonetik code of ``text``: ``Müller`` and ``Mueller`` → ``657``, ``Meier``,
    ``Meyer``, ``Mayr`` → ``67``; '' for text without letters."""
    word = _letters(text)
    raw: list[str] = []
    for i, ch in enumerate(word):
        prev = word[i - 1] if i else ""
        nxt = word[i + 1] if i + 1 < len(word) else ""
        raw.append(_code(prev, ch, nxt, initial=i == 0))
    digits = "".join(raw)
    collapsed: list[str] = []
    for d in digits:
        if not collapsed or collapsed[-1] != d:
            collapsed.append(d)
    if not collapsed:
        return ""
    head, tail = collapsed[0], collapsed[1:]
    return head + "".join(d for d in tail if d != "0")


def edit_distance(a: str, b: str, limit: int = 3) -> int:
    """Damerau-Levenshtein distance (optimal string alignment: insert, delete, substitute, swap two
    neighbours), or ``limit + 1`` as soon as it is certainly larger than ``limit``."""
    if a == b:
        return 0
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            value = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, prev2[j - 2] + 1)
            cur[j] = value
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return min(prev[len(b)], limit + 1)


def typo_budget(term: str) -> int:
    """How many edits a name of this length may carry and still count as a typo of it."""
    n = len(term.replace(" ", ""))
    if n <= 3:
        return 0
    if n <= 7:
        return 1
    return 2
