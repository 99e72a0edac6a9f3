"""Customer search: exact lookup by any identifier, then fuzzy name + postcode / birth date.

* :mod:`~customer_cache.search.index` — the keys (``lk:{kind}:{value}`` sets, ``s:{index}`` sorted
  sets) and :func:`~customer_cache.search.index.search_ops`, which the view stage calls for every
  changed customer document;
* :mod:`~customer_cache.search.parse` — what a channel typed, taken apart;
* :mod:`~customer_cache.search.query` — the search itself (one or two Redis round trips) and its
  ranking;
* :mod:`~customer_cache.search.phonetic` — Kölner Phonetik and a bounded edit distance.
"""
