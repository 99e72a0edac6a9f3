"""The read side of the customer 360: what every customer API reads through.

A read of one customer is one GET of its document; an id that was merged away costs one more GET
per hop (``moved`` key) and the answer says which customer survived. Listing pages over the sorted
set of live ids and fetches the page's documents in one batch (MGET; ``mget_nonatomic`` on a Redis
Cluster client, whose keys live in different slots).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from customer_cache.keys import KEYS, Keys
from customer_cache.view.model import Customer360

MAX_MOVED_HOPS = 8
SCAN_BATCH = 500
DEFAULT_MAX_SCAN = 200_000


class ScanLimitExceeded(Exception):
    """A filtered listing would read more documents than allowed; the caller should narrow it."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the filter needs a scan of more than {limit} customers")
        self.limit = limit


@dataclass(frozen=True)
class Found:
    """A customer read by an id the channel holds; ``doc.id`` differs when that id was merged away."""

    doc: Customer360
    requested_id: str

    @property
    def moved(self) -> bool:
        return self.doc.id != self.requested_id


class CustomerReader:
    def __init__(self, client: Any, keys: Keys = KEYS, *, max_scan: int = DEFAULT_MAX_SCAN) -> None:
        self._client = client
        self.keys = keys
        self.max_scan = max_scan

    # --- one customer -----------------------------------------------------------------------------

    async def get(self, customer_id: str) -> Found | None:
        """The customer with ``customer_id`` or the one it was merged into; None if neither exists."""
        raw = await self.get_raw(customer_id)
        return None if raw is None else Found(Customer360.model_validate_json(raw[0]), customer_id)

    async def get_raw(self, customer_id: str) -> tuple[str, str] | None:
        """The stored JSON of the customer with ``customer_id`` or of the one it was merged into, and
        that customer's id, unparsed (for answers that pass the document on as it is); None if
        neither exists."""
        current = customer_id
        seen = {current}
        for _ in range(MAX_MOVED_HOPS + 1):
            raw = await self._client.get(self.keys.customer(current))
            if raw is not None:
                return raw, current
            target = await self._client.get(self.keys.moved(current))
            if target is None or target in seen:
                return None
            seen.add(target)
            current = target
        return None

    async def get_many(self, customer_ids: Sequence[str]) -> list[Customer360 | None]:
        """The documents of ``customer_ids`` in their order (None where absent), one batch read; no
        ``moved`` redirects."""
        if not customer_ids:
            return []
        keys = [self.keys.customer(cid) for cid in customer_ids]
        mget = getattr(self._client, "mget_nonatomic", None) or self._client.mget
        raws: list[str | None] = await mget(keys)
        return [None if raw is None else Customer360.model_validate_json(raw) for raw in raws]

    async def lookup(self, kind: str, value: str) -> set[str]:
        """Customer ids found by an exact identifier (see :mod:`customer_cache.search.index`)."""
        members: set[str] = await self._client.smembers(self.keys.lookup(kind, value))
        return set(members)

    async def owner_of(self, source_ref: str) -> Found | None:
        """The customer holding the source record ``system/key`` (party, account, product, order)."""
        ids = sorted(await self.lookup("source", source_ref))
        for cid in ids:
            found = await self.get(cid)
            if found is not None:
                return found
        return None

    # --- many customers ---------------------------------------------------------------------------

    async def count(self) -> int:
        return int(await self._client.zcard(self.keys.customers))

    async def page(self, offset: int, limit: int) -> tuple[int, list[Customer360]]:
        """A page of customers in id order and the total count: two round trips."""
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.zcard(self.keys.customers)
            pipe.zrange(self.keys.customers, offset, offset + limit - 1)
            total, ids = await pipe.execute()
        docs = await self.get_many(ids)
        return int(total), [d for d in docs if d is not None]

    async def scan(self, batch: int = SCAN_BATCH) -> AsyncIterator[Customer360]:
        """Every live customer in id order, ``batch`` documents per read."""
        start = 0
        while True:
            ids: list[str] = await self._client.zrange(self.keys.customers, start, start + batch - 1)
            if not ids:
                return
            for doc in await self.get_many(ids):
                if doc is not None:
                    yield doc
            if len(ids) < batch:
                return
            start += batch

    async def list(
        self, offset: int, limit: int, predicate: Callable[[Customer360], bool] | None = None
    ) -> tuple[int, list[Customer360]]:
        """A page of the customers ``predicate`` accepts and how many it accepts in all.

        Without a predicate this is :meth:`page`. With one every customer is read (in batches): the
        total must be exact. More than ``max_scan`` customers raise :class:`ScanLimitExceeded`.
        """
        if predicate is None:
            return await self.page(offset, limit)
        if await self.count() > self.max_scan:
            raise ScanLimitExceeded(self.max_scan)
        total = 0
        out: list[Customer360] = []
        async for doc in self.scan():
            if predicate(doc):
                if offset <= total < offset + limit:
                    out.append(doc)
                total += 1
        return total, out
