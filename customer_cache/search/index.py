"""Keeps the search keys of a customer in step with its 360 document. (Stub: to be replaced.)"""

from __future__ import annotations

from typing import Any

from customer_cache.keys import Keys
from customer_cache.view.model import Customer360


def search_ops(pipe: Any, keys: Keys, old: Customer360 | None, new: Customer360 | None) -> None:
    """Queue on a Redis pipeline the commands that move the lookup and search keys from ``old`` to
    ``new`` (either may be None: a customer created or gone). Single-key commands only."""
    for doc, add in ((old, False), (new, True)):
        if doc is None:
            continue
        for source in doc.sources:
            key = keys.lookup("source", f"{source.system}/{source.key}")
            if add:
                pipe.sadd(key, doc.id)
            else:
                pipe.srem(key, doc.id)
