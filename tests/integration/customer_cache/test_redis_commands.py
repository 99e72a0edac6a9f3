"""overlay.redis.execute_many: the same replies as the client's pipeline, in one round trip."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from overlay.redis import Commands, as_dict, as_set, execute_many


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("decode", [True, False])
async def test_replies_match_the_pipeline(settings, redis_client, protocol, decode):
    client = aioredis.from_url(settings.redis_url.get_secret_value(), decode_responses=decode,
                               protocol=protocol)
    try:
        cmds = Commands()
        cmds.set("k:s", "wert-ä" * 5000)  # larger than one read
        cmds.get("k:s")
        cmds.get("k:missing")
        cmds.hset("k:h", mapping={"a": "1", "b": "zwei"})
        cmds.hgetall("k:h")
        cmds.hmget("k:h", ["a", "x"])
        cmds.sadd("k:set", "x", "y")
        cmds.smembers("k:set")
        cmds.zadd("k:z", {"m1": 1, "m2": 2.5}, lt=True)
        cmds.zrange("k:z", 0, -1, withscores=True)
        cmds.zscore("k:z", "m2")
        cmds.incr("k:n")
        cmds.hincrby("k:h", "a", 1)
        cmds.execute_command("NOSUCHCOMMAND")
        cmds.srandmember("k:set", 5)
        got = await execute_many(client, cmds.commands)
        assert isinstance(got[13], Exception)
        async with client.pipeline(transaction=False) as pipe:
            for c in cmds.commands:
                pipe.execute_command(*c)
            expected = await pipe.execute(raise_on_error=False)
        text = (lambda v: v) if decode else (lambda v: v.encode() if isinstance(v, str) else v)
        assert got[1] == expected[1] == text("wert-ä" * 5000)
        assert got[2] is None
        assert as_dict(got[4]) == {text("a"): text("1"), text("b"): text("zwei")}
        assert got[5] == [text("1"), None]
        assert as_set(got[7]) == {text("x"), text("y")}
        assert float(got[10]) == 2.5
        assert got[11] == 1 and got[12] == 2
        assert as_set(got[14]) == {text("x"), text("y")}
        # the connection is clean for the client's own use afterwards
        assert await client.ping()
        assert await execute_many(client, [("PING",)]) in (["PONG"], [b"PONG"], [True])
    finally:
        await client.aclose()
