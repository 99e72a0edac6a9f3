"""A resolver that dies at any point of a batch — between any two commands of its pipelines — and a
successor that takes over end in exactly the state of an undisturbed run."""

from __future__ import annotations

from typing import Any

import pytest

from customer_cache.identity import IdentityRules, customer_id
from customer_cache.keys import KEYS
from customer_cache.resolver import Resolver
from customer_cache.store import RecordStore
from overlay.models import Account
from overlay.redis import execute_many
from tests.integration.customer_cache.support import customers, event, owner, party, resolve_all, snapshot

RULES = IdentityRules()


class Crash(BaseException):  # like a kill: nothing in the resolver handles it
    pass


MERGE_SPLIT_DELETE = (
    [
        party("crm/K1", 1, email="eva@example.de"),
        party("mobile/M1", 1, email="eva@example.de", phone="+4915100000001"),
        event("account", "mobile/B1", 1,
              Account(party=owner("mobile/M1"), account_number="B1", stack="mobile")),
        party("crm/K2", 1, given_name="Jan", family_name="Berg", email="jan@example.de"),
        party("fixed/F2", 1, given_name="Jan", family_name="Berg", email="jan@example.de"),
        party("mobile/M3", 1, email="eva.schmidt@example.org"),
    ],
    [
        # M1 leaves the CRM customer and joins M3's (which it anchors): a split and a merge at once …
        party("mobile/M1", 2, email="eva.schmidt@example.org", phone="+4915100000001"),
        # … the CRM party of another customer goes (its fixed party carries on under its own id) …
        party("crm/K2", 2, delete=True),
        # … and a new TV party joins the first customer.
        party("tv/T1", 1, email="eva@example.de"),
    ],
)
ANCHOR_GONE = (
    [
        # the CRM party links the other two: they share nothing with each other
        party("crm/K1", 1, email="eva@example.de", phone="+4915100000009"),
        party("mobile/M1", 1, email="eva@example.de"),
        party("fixed/F1", 1, phone="+4915100000009"),
        party("tv/T1", 1, email="eva@example.de"),
    ],
    [party("crm/K1", 2, delete=True), party("tv/T1", 2, delete=True)],
)
SCENARIOS = {"merge-split-delete": MERGE_SPLIT_DELETE, "anchor-gone": ANCHOR_GONE}


async def _prepare(client: Any, scenario: str) -> None:
    before, change = SCENARIOS[scenario]
    await client.flushdb()
    store = RecordStore(client)
    await store.apply(before)
    await resolve_all(Resolver(client, owner="setup"))
    await client.delete(KEYS.resolver_lease)
    await store.apply(change)


async def _reference(client: Any, scenario: str) -> dict[str, Any]:
    await _prepare(client, scenario)
    await resolve_all(Resolver(client, owner="reference"))
    return await snapshot(client)


async def test_the_reference_scenarios(redis_client):
    await _reference(redis_client, "merge-split-delete")
    docs = await customers(redis_client)
    x, m1, f2 = (customer_id([r], RULES) for r in ("crm/K1", "mobile/M1", "fixed/F2"))
    assert {cid: [f"{s.system}/{s.key}" for s in d.sources] for cid, d in docs.items()} == {
        x: ["crm/K1", "tv/T1"], m1: ["mobile/M1", "mobile/M3"], f2: ["fixed/F2"]}
    assert await redis_client.get(KEYS.moved(customer_id(["mobile/M3"], RULES))) == m1
    assert await redis_client.get(KEYS.moved(customer_id(["crm/K2"], RULES))) == f2

    await _reference(redis_client, "anchor-gone")
    docs = await customers(redis_client)
    m1, f1 = customer_id(["mobile/M1"], RULES), customer_id(["fixed/F1"], RULES)
    assert {cid: [f"{s.system}/{s.key}" for s in d.sources] for cid, d in docs.items()} == {
        m1: ["mobile/M1"], f1: ["fixed/F1"]}
    assert await redis_client.get(KEYS.moved(x)) == m1  # the first survivor in anchor order


async def _crashing_run(client: Any, scenario: str, point: str, keep: int) -> int:
    """Run one batch that dies at ``point`` after ``keep`` commands of its pipeline; the length of
    that pipeline."""
    await _prepare(client, scenario)
    length = -1

    async def fault(where: str, pipe: Any) -> None:
        nonlocal length
        if where != point:
            return
        if pipe is None:
            raise Crash(where)
        length = len(pipe.commands)
        await execute_many(client, pipe.commands[:keep])
        raise Crash(where)

    doomed = Resolver(client, owner="doomed", batch_size=1000)
    doomed.fault = fault
    assert await doomed.hold_lease()
    with pytest.raises(Crash):
        await doomed.run_once()
    await client.delete(KEYS.resolver_lease)  # its lease expires
    await resolve_all(Resolver(client, owner="successor"))
    return length


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("point", ["profiles", "write"])
async def test_a_crash_between_any_two_commands_is_repaired_by_the_successor(redis_client, scenario, point):
    expected = await _reference(redis_client, scenario)
    keep = 0
    while True:
        length = await _crashing_run(redis_client, scenario, point, keep)
        assert length > 0
        assert await snapshot(redis_client) == expected, f"crash at {point} after {keep} of {length} commands"
        keep += 1
        if keep > length:
            break


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("point", ["planned", "published"])
async def test_a_crash_before_writing_is_repaired_by_the_successor(redis_client, scenario, point):
    expected = await _reference(redis_client, scenario)
    await _crashing_run(redis_client, scenario, point, 0)
    assert await snapshot(redis_client) == expected
