"""The customer read model in Redis: version-guarded writes, one-round-trip reads."""

from __future__ import annotations

import redis.asyncio as aioredis

from customer_cache import keys
from customer_cache.projection import CustomerDoc, customer_id_for, project_party
from overlay.events import ChangeEvent, Operation
from overlay.models import Party
from overlay.redis import VersionedDocStore


class CustomerReadModel:
    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._docs = VersionedDocStore(client)

    async def apply_party(self, event: ChangeEvent[Party]) -> bool:
        """Apply one party change; False when a newer version is already stored (a replay)."""
        customer_id = customer_id_for(event.source_system, event.source_key)
        key = keys.customer(customer_id)
        if event.operation is Operation.DELETE:
            return await self._docs.delete(
                key, event.version, event_id=event.event_id, index=keys.CUSTOMER_INDEX, member=customer_id
            )
        doc = project_party(event)
        return await self._docs.upsert(
            key, event.version, doc.model_dump_json(), event_id=event.event_id,
            index=keys.CUSTOMER_INDEX, member=customer_id,
        )

    async def get(self, customer_id: str) -> CustomerDoc | None:
        stored = await self._docs.get(keys.customer(customer_id))
        if stored is None or stored.deleted or stored.doc is None:
            return None
        return CustomerDoc.model_validate_json(stored.doc)

    async def list(self, offset: int, limit: int) -> tuple[int, list[CustomerDoc]]:
        """A page of customers in id order and the total count."""
        total = int(await self._client.zcard(keys.CUSTOMER_INDEX))
        ids: list[str] = await self._client.zrange(  # type: ignore[assignment]
            keys.CUSTOMER_INDEX, offset, offset + limit - 1
        )
        if not ids:
            return total, []
        async with self._client.pipeline(transaction=False) as pipe:
            for customer_id in ids:
                pipe.hget(keys.customer(customer_id), "doc")
            raw: list[str | None] = await pipe.execute()
        return total, [CustomerDoc.model_validate_json(r) for r in raw if r]
