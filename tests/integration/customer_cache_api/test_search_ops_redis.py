"""search_ops against a real Redis: the keys it leaves are exactly those of the current documents."""

from __future__ import annotations

import random
from datetime import date

from customer_cache.keys import KEYS
from customer_cache.search.index import search_ops
from tests.integration.customer_cache_api.conftest import put
from tests.unit.customer_cache.search.factory import person


async def _snapshot(redis) -> dict[str, object]:
    out: dict[str, object] = {}
    async for key in redis.scan_iter(match="c360:*"):
        kind = await redis.type(key)
        if kind == "set":
            out[key] = sorted(await redis.smembers(key))
        elif kind == "zset":
            out[key] = await redis.zrange(key, 0, -1, withscores=True)
    return out


async def _apply(redis, old, new) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        search_ops(pipe, KEYS, old, new)
        await pipe.execute()


def _variant(rng: random.Random, cid: str, n: int):
    return person(
        cid,
        rng.choice(["Hans", "Anna", "Jörg", None]),
        rng.choice(["Müller", "Meier", "Schmidt-Weber"]),
        n=n,
        birth=rng.choice([date(1980, 2, 3), None]),
        postcode=rng.choice(["10115", "80331", None]),
        email=rng.choice(["a@example.com", "b@example.com", None]),
        phone=rng.choice(["030 1234567", None]),
        mobile=rng.choice(["+4915100000001", "+4915100000002", None]),
        products=rng.random() < 0.5,
    )


async def test_keys_after_a_history_of_changes_equal_a_fresh_build(redis_client):
    rng = random.Random(7)
    current = {f"CU-{i}": None for i in range(4)}
    for _step in range(60):
        cid = rng.choice(list(current))
        new = None if rng.random() < 0.15 else _variant(rng, cid, int(cid[3:]) + 1)
        await _apply(redis_client, current[cid], new)
        current[cid] = new
    incremental = await _snapshot(redis_client)

    await redis_client.flushdb()
    for doc in current.values():
        if doc is not None:
            await _apply(redis_client, None, doc)
    assert incremental == await _snapshot(redis_client)


async def test_lookup_keys_and_removal(redis_client):
    a = person("CU-a", "Hans", "Müller", n=1, email="family@example.com", mobile="+4915100000001")
    b = person("CU-b", "Anna", "Müller", n=2, email="family@example.com", mobile="+4915100000002")
    await _apply(redis_client, None, a)
    await _apply(redis_client, None, b)
    assert await redis_client.smembers(KEYS.lookup("email", "family@example.com")) == {"CU-a", "CU-b"}
    assert await redis_client.smembers(KEYS.lookup("msisdn", "+4915100000002")) == {"CU-b"}
    assert await redis_client.smembers(KEYS.lookup("source", "crm/K00000001")) == {"CU-a"}
    assert await redis_client.zrangebylex(KEYS.search("pc"), "[10115|mueller|", "(10115|mueller|\x7f") != []

    await _apply(redis_client, a, None)  # a gone: its keys go, the shared ones keep b
    assert await redis_client.smembers(KEYS.lookup("email", "family@example.com")) == {"CU-b"}
    assert not await redis_client.exists(KEYS.lookup("source", "crm/K00000001"))
    names = await redis_client.zrange(KEYS.search("name"), 0, -1)
    assert names and all("|CU-b|" in m for m in names)

    await _apply(redis_client, b, None)
    assert await _snapshot(redis_client) == {}


async def test_an_unchanged_document_writes_nothing(redis_client):
    doc = person("CU-a", "Hans", "Müller", n=1, email="h@example.com")
    await put(redis_client, doc)
    before = (await redis_client.info("stats"))["total_commands_processed"]
    await _apply(redis_client, doc, doc)  # an empty pipeline sends nothing
    after = (await redis_client.info("stats"))["total_commands_processed"]
    assert after - before <= 1  # the INFO itself
