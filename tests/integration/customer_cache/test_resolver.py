"""Stages 2 and 3 against the real Redis (and Kafka for the identity events): merges, splits,
deletes, the dirty marks and the lease."""

from __future__ import annotations

import asyncio
import json

from aiokafka import AIOKafkaConsumer

from customer_cache.events import IdentityChange
from customer_cache.identity import IdentityRules, customer_id
from customer_cache.keys import KEYS
from customer_cache.resolver import CLAIM_OFFSET, NullPublisher, Resolver
from customer_cache.store import RecordStore, epoch_ms
from customer_cache.worker import KafkaIdentityPublisher
from overlay.models import Account, ContactMedium, MediumType, Party
from overlay.topics import CUSTOMER_IDENTITY
from tests.integration.customer_cache.support import (
    customer_of,
    customers,
    event,
    owner,
    party,
    resolve_all,
)

RULES = IdentityRules()
X = customer_id(["crm/K1"], RULES)  # the CRM anchor's id
Y = customer_id(["mobile/M1"], RULES)


def email(ref: str, version: int, party_ref: str, value: str):
    return event("contactMedium", ref, version,
                 ContactMedium(party=owner(party_ref), medium_type=MediumType.EMAIL, value=value))


async def identity_events(settings, expected: int) -> list[dict]:
    consumer = AIOKafkaConsumer(CUSTOMER_IDENTITY.full_name(settings),
                                bootstrap_servers=settings.kafka_bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        out: list[tuple[int, int, dict]] = []
        for _ in range(20):
            batch = await consumer.getmany(timeout_ms=1000)
            out += [(r.timestamp, r.offset, {**json.loads(r.value), "_key": r.key.decode()})
                    for rs in batch.values() for r in rs]
            if len(out) >= expected:
                break
    finally:
        await consumer.stop()
    return [e for _, _, e in sorted(out, key=lambda t: (t[0], t[1]))]


async def test_crm_and_mobile_sharing_an_email_merge_into_the_crm_anchors_customer_and_split_again(
        settings, redis_client):
    store = RecordStore(redis_client)
    publisher = KafkaIdentityPublisher(settings)
    resolver = Resolver(redis_client, publisher=publisher)
    try:
        await store.apply([party("crm/K1", 1), email("crm/C1", 1, "crm/K1", "eva@example.de")])
        await store.apply([party("mobile/M1", 1, email="eva.s@other.de", phone="+4915123456789")])
        await resolve_all(resolver)
        assert set(await customers(redis_client)) == {X, Y}

        # The mobile subscriber now gives the address the CRM holds: one person.
        await store.apply([party("mobile/M1", 2, email="eva@example.de", phone="+4915123456789")])
        await resolve_all(resolver)
        docs = await customers(redis_client)
        assert list(docs) == [X]
        doc = docs[X]
        assert [f"{s.system}/{s.key}" for s in doc.sources] == ["crm/K1", "mobile/M1"]
        assert doc.golden.phone == "+4915123456789" and doc.golden.email == "eva@example.de"
        assert await redis_client.get(KEYS.moved(Y)) == X
        assert await redis_client.get(KEYS.customer(Y)) is None
        assert await redis_client.smembers(KEYS.members(X)) == {"crm/K1", "mobile/M1"}
        assert await redis_client.hget(KEYS.source_party("mobile/M1"), "cust") == X

        # The subscriber changes the address again: two customers, with the ids they had.
        await store.apply([party("mobile/M1", 3, email="eva.s@other.de", phone="+4915123456789")])
        await resolve_all(resolver)
        assert set(await customers(redis_client)) == {X, Y}
        assert await redis_client.get(KEYS.moved(Y)) is None  # live again: no redirect
        assert [s.key for s in (await customer_of(redis_client, "mobile/M1")).sources] == ["M1"]  # type: ignore[union-attr]
        assert await redis_client.smembers(KEYS.members(X)) == {"crm/K1"}
    finally:
        await publisher.stop()

    events = await identity_events(settings, 5)
    summary = [(e["change"], e["customer_id"], e["members"], e["merged_ids"], e["split_ids"]) for e in events]
    assert len(summary) == 5
    # a batch's events in any order (they go to the partitions of their customers)
    assert sorted(summary[:2]) == sorted([("created", X, ["crm/K1"], [], []),
                                          ("created", Y, ["mobile/M1"], [], [])])
    assert summary[2] == ("merged", X, ["crm/K1", "mobile/M1"], [Y], [])
    assert sorted(summary[3:]) == sorted([("created", Y, ["mobile/M1"], [], []),
                                          ("split", X, ["crm/K1"], [], [Y])])
    assert all(e["_key"] == e["customer_id"] for e in events)


async def test_a_new_party_joining_a_customer_is_a_merge_without_ids(redis_client):
    store = RecordStore(redis_client)
    publisher = NullPublisher()
    resolver = Resolver(redis_client, publisher=publisher)
    await store.apply([party("crm/K1", 1, email="eva@example.de")])
    await resolve_all(resolver)
    await store.apply([party("mobile/M1", 1, email="eva@example.de")])
    await resolve_all(resolver)
    assert [(e.change, e.customer_id, e.members, e.merged_ids) for e in publisher.events] == [
        (IdentityChange.CREATED, X, ["crm/K1"], []),
        (IdentityChange.MERGED, X, ["crm/K1", "mobile/M1"], []),
    ]


async def test_deleted_parties_leave_their_customer_and_nothing_resurrects(redis_client):
    store = RecordStore(redis_client)
    publisher = NullPublisher()
    resolver = Resolver(redis_client, publisher=publisher)
    await store.apply([party("crm/K1", 1, email="eva@example.de"),
                       party("mobile/M1", 1, email="eva@example.de"),
                       event("account", "mobile/B1", 1,
                             Account(party=owner("mobile/M1"), account_number="B1"))])
    await resolve_all(resolver)
    assert list(await customers(redis_client)) == [X]

    # The CRM record goes: the mobile party carries on under its own id, X redirects there.
    await store.apply([party("crm/K1", 2, delete=True)])
    await resolve_all(resolver)
    docs = await customers(redis_client)
    assert list(docs) == [Y]
    assert [s.key for s in docs[Y].sources] == ["M1"] and docs[Y].accounts[0].key == "B1"
    assert await redis_client.get(KEYS.moved(X)) == Y
    assert await redis_client.hget(KEYS.source_party("crm/K1"), "cust") is None

    # The last party goes: the customer is deleted.
    await store.apply([party("mobile/M1", 2, delete=True)])
    await resolve_all(resolver)
    assert await customers(redis_client) == {}
    assert await redis_client.get(KEYS.customer(Y)) is None
    assert await redis_client.exists(KEYS.members(Y), KEYS.members(X)) == 0
    assert publisher.events[-1].change is IdentityChange.DELETED and publisher.events[-1].customer_id == Y

    # Old events replayed: the tombstones hold, nothing comes back.
    await store.apply([party("crm/K1", 1, email="eva@example.de"),
                       party("mobile/M1", 1, email="eva@example.de")])
    await resolve_all(resolver)
    assert await customers(redis_client) == {}
    assert await redis_client.zcard(KEYS.dirty) == 0


async def test_a_change_arriving_while_its_party_is_resolved_is_not_lost(redis_client):
    store = RecordStore(redis_client)
    resolver = Resolver(redis_client)
    first = party("crm/K1", 1, family_name="Alt")
    await store.apply([first])
    assert await resolver.hold_lease()
    newer = party("crm/K1", 2, family_name="Neu")

    async def change_meanwhile(point: str, _: object) -> None:
        if point == "planned":  # the batch has read the records and built the document
            await store.apply([newer])

    resolver.fault = change_meanwhile
    marks = await resolver.take()
    assert [(m.ref, m.score) for m in marks] == [("crm/K1", epoch_ms(first.observed_at))]
    assert await redis_client.zscore(KEYS.dirty, "crm/K1") == epoch_ms(first.observed_at) + CLAIM_OFFSET
    await resolver.resolve(marks)
    resolver.fault = None
    # The batch wrote what it had read, and the newer change stays marked …
    assert (await customer_of(redis_client, "crm/K1")).golden.family_name == "Alt"  # type: ignore[union-attr]
    assert await redis_client.zscore(KEYS.dirty, "crm/K1") == epoch_ms(newer.observed_at)
    # … for the next batch.
    await resolve_all(resolver)
    assert (await customer_of(redis_client, "crm/K1")).golden.family_name == "Neu"  # type: ignore[union-attr]
    assert await redis_client.zcard(KEYS.dirty) == 0


async def test_one_resolver_at_a_time_and_a_takeover_gives_back_orphaned_claims(redis_client):
    store = RecordStore(redis_client)
    first = Resolver(redis_client, lease_ms=600, owner="first")
    second = Resolver(redis_client, lease_ms=600, owner="second")
    assert await first.hold_lease()
    assert not await second.hold_lease()
    assert await first.hold_lease()  # renewal

    await store.apply([party("crm/K1", 1)])
    marks = await first.take()  # … and the first resolver dies with its claim
    assert (await redis_client.zscore(KEYS.dirty, "crm/K1")) >= CLAIM_OFFSET
    await asyncio.sleep(0.8)
    assert await second.hold_lease()
    assert await redis_client.zscore(KEYS.dirty, "crm/K1") == marks[0].score  # claim given back
    # the first cannot write any more
    try:
        await first.resolve(marks)
    except Exception as exc:
        assert type(exc).__name__ == "LeaseLost"
    else:
        raise AssertionError("a resolver without the lease wrote its batch")
    await resolve_all(second)
    assert (await customer_of(redis_client, "crm/K1")) is not None
    await second.release_lease()
    assert await redis_client.get(KEYS.resolver_lease) is None


async def test_the_background_loop_resolves_and_stops_cleanly(redis_client):
    store = RecordStore(redis_client)
    resolver = Resolver(redis_client, idle_s=0.02, settle_ms=0)
    resolver.start()
    try:
        await store.apply([party("crm/K1", 1)])
        resolver.poke()
        for _ in range(100):
            if await customer_of(redis_client, "crm/K1") is not None:
                break
            await asyncio.sleep(0.05)
        assert await customer_of(redis_client, "crm/K1") is not None
        assert resolver.leader
    finally:
        await resolver.stop()
    assert await redis_client.get(KEYS.resolver_lease) is None


async def test_a_party_that_cannot_be_resolved_does_not_hold_up_the_others(redis_client, monkeypatch):
    import customer_cache.resolver as resolver_module

    store = RecordStore(redis_client)
    resolver = Resolver(redis_client)
    real = resolver_module.assemble

    def failing(cid, members, rules):
        members = list(members)
        if any(m.ref == "crm/BAD" for m in members):
            raise ValueError("a bug meets odd data")
        return real(cid, members, rules)

    monkeypatch.setattr(resolver_module, "assemble", failing)
    bad = party("crm/BAD", 1, given_name="Bad", family_name="Data")
    await store.apply([bad, party("crm/GOOD", 1, given_name="Good", family_name="Data")])
    assert await resolver.hold_lease()
    await resolver.run_once()
    assert await customer_of(redis_client, "crm/GOOD") is not None
    assert await customer_of(redis_client, "crm/BAD") is None
    # the bad party's mark stays, behind the others (scored now rather than at its observation)
    assert await redis_client.zscore(KEYS.dirty, "crm/BAD") > epoch_ms(bad.observed_at)
    monkeypatch.setattr(resolver_module, "assemble", real)
    await resolve_all(resolver)
    assert await customer_of(redis_client, "crm/BAD") is not None


async def test_the_service_loop_takes_only_settled_marks_and_grows_its_batches(redis_client):
    from datetime import UTC, datetime

    store = RecordStore(redis_client)
    now = [datetime.now(UTC).timestamp()]
    resolver = Resolver(redis_client, batch_size=2, max_batch=8, settle_ms=200, clock=lambda: now[0])
    assert await resolver.hold_lease()
    at = datetime.fromtimestamp(now[0], UTC)
    fresh = event("party", "crm/F1", 1, Party(given_name="Fe", family_name="Frisch"), at=at)
    await store.apply([fresh])
    # Not yet settled: the service loop leaves it (and its records may still be arriving) …
    assert await resolver.run_once(settled=True) is None
    assert await redis_client.zscore(KEYS.dirty, "crm/F1") == epoch_ms(fresh.observed_at)
    # … and the idle loop knows when it will be ready.
    assert resolver._next_ready is not None
    assert abs(resolver._next_ready - (epoch_ms(fresh.observed_at) + 200) / 1000) < 0.001
    now[0] += 0.25
    assert (await resolver.run_once(settled=True)).parties == 1  # type: ignore[union-attr]
    assert await customer_of(redis_client, "crm/F1") is not None

    # A backlog of old marks: batches double while more are ready than they take, up to max_batch.
    await store.apply([party(f"crm/B{i:02}", 1) for i in range(20)])
    sizes = []
    while (result := await resolver.run_once(settled=True)) is not None:
        sizes.append(result.parties)
    assert sizes == [2, 4, 8, 6]
    assert await redis_client.zcard(KEYS.dirty) == 0

    # A claimed mark (another batch's) is never taken, settled or not.
    await store.apply([party("crm/C1", 2)])
    claimed = await resolver.take()
    assert [m.ref for m in claimed] == ["crm/C1"]
    assert await resolver.take() == []
    assert await resolver.take(settle_ms=200) == []
    await resolver.resolve(claimed)
    assert await redis_client.zcard(KEYS.dirty) == 0


async def test_a_mark_scored_ahead_of_the_local_clock_is_taken_once_it_has_passed(redis_client):
    from datetime import UTC, datetime, timedelta

    store = RecordStore(redis_client)
    now = [datetime.now(UTC).timestamp()]
    resolver = Resolver(redis_client, settle_ms=200, clock=lambda: now[0])
    assert await resolver.hold_lease()
    ahead = event("party", "crm/A1", 1, Party(given_name="Al", family_name="Vorn"),
                  at=datetime.fromtimestamp(now[0], UTC) + timedelta(seconds=5))
    await store.apply([ahead])
    assert await resolver.run_once(settled=True) is None
    now[0] += 5.1
    assert await resolver.run_once(settled=True) is None
    now[0] += 0.15
    assert (await resolver.run_once(settled=True)).parties == 1  # type: ignore[union-attr]
