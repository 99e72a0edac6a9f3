"""The Redis key layout of the customer read model (documented in docs/redis.md).

Plain hashes and sorted sets only, so it runs on any Redis or Valkey.

* ``c360:customer:{customer_id}`` — hash ``{v, deleted, doc, event}``: the customer document (JSON)
  with the version of the change that wrote it.
* ``c360:index:customers`` — sorted set of live customer ids (score 0, lexicographic order) for
  paged listing.
"""

from __future__ import annotations

PREFIX = "c360"
CUSTOMER_INDEX = f"{PREFIX}:index:customers"


def customer(customer_id: str) -> str:
    return f"{PREFIX}:customer:{customer_id}"
