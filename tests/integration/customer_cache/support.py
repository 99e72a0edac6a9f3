"""Builders of canonical events and helpers to run stages 1-3 in the test process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis

from customer_cache.keys import KEYS
from customer_cache.resolver import Resolver
from customer_cache.store import ENTITY_MODELS
from customer_cache.view.model import Customer360
from overlay.events import ChangeEvent, EntityType, Operation
from overlay.models import Party, SourceRef

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def event(entity: str, ref: str, version: int, payload: Any = None, *, delete: bool = False,
          at: datetime | None = None) -> ChangeEvent[Any]:
    system, _, key = ref.partition("/")
    model = ENTITY_MODELS[entity]
    moment = at or (T0 + timedelta(seconds=version))
    return ChangeEvent[model](  # type: ignore[valid-type]
        source_system=system, entity_type=EntityType(entity), source_key=key,
        operation=Operation.DELETE if delete else Operation.UPSERT, version=version,
        modified_at=moment, observed_at=moment, payload=None if delete else payload,
    )


def party(ref: str, version: int, *, delete: bool = False, **fields: Any) -> ChangeEvent[Any]:
    fields.setdefault("given_name", "Eva")
    fields.setdefault("family_name", "Schmidt")
    return event("party", ref, version, None if delete else Party(**fields), delete=delete)


def owner(ref: str) -> SourceRef:
    system, _, key = ref.partition("/")
    return SourceRef(system=system, key=key)


async def resolve_all(resolver: Resolver, rounds: int = 10_000) -> list[Any]:
    """Resolve until nothing is dirty; the results of every batch."""
    assert await resolver.hold_lease()
    results = []
    for _ in range(rounds):
        result = await resolver.run_once()
        if result is None:
            return results
        results.append(result)
    raise AssertionError("the dirty set never drained")


async def customers(client: aioredis.Redis) -> dict[str, Customer360]:
    ids = await client.zrange(KEYS.customers, 0, -1)
    out = {}
    for cid in ids:
        raw = await client.get(KEYS.customer(cid))
        assert raw is not None, f"listed customer {cid} has no document"
        out[cid] = Customer360.model_validate_json(raw)
    return out


async def customer_of(client: aioredis.Redis, source_ref: str) -> Customer360 | None:
    cid = await client.hget(KEYS.source_party(source_ref), "cust")
    if cid is None:
        return None
    raw = await client.get(KEYS.customer(cid))
    return None if raw is None else Customer360.model_validate_json(raw)


async def snapshot(
    client: aioredis.Redis, *, skip: tuple[str, ...] = (KEYS.resolver_lease,)
) -> dict[str, Any]:
    """Every key of the model with its content (for comparing two runs)."""
    out: dict[str, Any] = {}
    async for key in client.scan_iter(match=KEYS.pattern(), count=1000):
        if key in skip:
            continue
        kind = await client.type(key)
        if kind == "string":
            out[key] = await client.get(key)
        elif kind == "hash":
            out[key] = await client.hgetall(key)
        elif kind == "set":
            out[key] = sorted(await client.smembers(key))
        elif kind == "zset":
            out[key] = await client.zrange(key, 0, -1, withscores=True)
        else:
            raise AssertionError(f"unexpected {kind} key {key}")
    return out
