"""Stage 1 against the real Redis: version guard, tombstones, links and dirty marks."""

from __future__ import annotations

from customer_cache.keys import KEYS
from customer_cache.store import RecordStore, epoch_ms
from overlay.models import Address, ContactMedium, MediumType, Order, OrderState, OrderStatus, SourceRef
from tests.integration.customer_cache.support import event, owner, party


def email(ref: str, version: int, party_ref: str, value: str, **kw):
    return event("contactMedium", ref, version,
                 ContactMedium(party=owner(party_ref), medium_type=MediumType.EMAIL, value=value), **kw)


async def test_duplicates_and_older_events_are_ignored_and_the_order_does_not_matter(redis_client):
    store = RecordStore(redis_client)
    v1, v2, v3 = (party("crm/K1", v, family_name=f"Name{v}") for v in (1, 2, 3))
    assert await store.apply([v1, v2]) == [True, True]
    assert await store.apply([v2, v1]) == [True, False]  # a redelivery applies again, an older one never
    assert await store.apply([v3, v2, v1]) == [True, False, False]
    loaded = (await store.load_parties(["crm/K1"]))["crm/K1"]
    assert loaded.party is not None and loaded.party.version == 3
    assert loaded.party_model().family_name == "Name3"  # type: ignore[union-attr]
    assert loaded.party.event_id == v3.event_id
    assert loaded.party.observed_at == v3.observed_at

    # Same final record whatever order a second store saw the events in.
    await redis_client.flushdb()
    await store.apply([v3])
    await store.apply([v1, v2])
    again = (await store.load_parties(["crm/K1"]))["crm/K1"]
    assert again.party == loaded.party


async def test_a_delete_leaves_a_tombstone_an_old_upsert_cannot_undo(redis_client):
    store = RecordStore(redis_client)
    await store.apply([party("crm/K1", 1), email("crm/C1", 1, "crm/K1", "eva@example.de")])
    await store.apply([party("crm/K1", 2, delete=True), event("contactMedium", "crm/C1", 2, delete=True)])
    assert await store.apply([party("crm/K1", 1), email("crm/C1", 1, "crm/K1", "eva@example.de")]) == [
        False, False]
    loaded = (await store.load_parties(["crm/K1"]))["crm/K1"]
    assert loaded.party is not None and loaded.party.deleted and not loaded.live
    assert loaded.current_children() == []
    raw = await redis_client.hgetall(KEYS.record("contactMedium", "crm/C1"))
    assert raw["deleted"] == "1" and "doc" not in raw and raw["link"] == "crm/K1"
    # the delete marked the party the deleted contact belonged to
    assert await redis_client.zscore(KEYS.dirty, "crm/K1") is not None


async def test_children_are_linked_and_the_earliest_pending_change_is_the_dirty_score(redis_client):
    store = RecordStore(redis_client)
    late, early = email("crm/C1", 5, "crm/K1", "a@example.de"), email("crm/C2", 2, "crm/K1", "b@example.de")
    await store.apply([late])
    assert await redis_client.zscore(KEYS.dirty, "crm/K1") == epoch_ms(late.observed_at)
    await store.apply([early])
    assert await redis_client.zscore(KEYS.dirty, "crm/K1") == epoch_ms(early.observed_at)  # LT: earliest
    await store.apply([email("crm/C3", 9, "crm/K1", "c@example.de")])
    assert await redis_client.zscore(KEYS.dirty, "crm/K1") == epoch_ms(early.observed_at)
    assert await redis_client.smembers(KEYS.children("crm/K1")) == {
        "contactMedium|crm/C1", "contactMedium|crm/C2", "contactMedium|crm/C3"}


async def test_a_child_moving_to_another_party_marks_both(redis_client):
    store = RecordStore(redis_client)
    await store.apply([email("crm/C1", 1, "crm/K1", "a@example.de")])
    await redis_client.delete(KEYS.dirty)
    await store.apply([email("crm/C1", 2, "crm/K2", "a@example.de")])
    assert set(await redis_client.zrange(KEYS.dirty, 0, -1)) == {"crm/K1", "crm/K2"}
    assert await redis_client.smembers(KEYS.children("crm/K2")) == {"contactMedium|crm/C1"}
    assert await redis_client.smembers(KEYS.children("crm/K1")) == set()
    # a redelivery of the move (a crash before its marks) marks both again
    await redis_client.delete(KEYS.dirty)
    await store.apply([email("crm/C1", 2, "crm/K2", "a@example.de")])
    assert set(await redis_client.zrange(KEYS.dirty, 0, -1)) == {"crm/K1", "crm/K2"}
    # later changes concern the new party only
    await redis_client.delete(KEYS.dirty)
    await store.apply([email("crm/C1", 3, "crm/K2", "b@example.de")])
    assert await redis_client.zrange(KEYS.dirty, 0, -1) == ["crm/K2"]


async def test_order_status_is_linked_to_its_order_and_marks_the_orders_party(redis_client):
    store = RecordStore(redis_client)
    status = event("orderStatus", "backend-mobile/O1", 3, OrderStatus(
        order=SourceRef(system="overlay", key="O1"), state=OrderState.IN_PROGRESS))
    # the status before its order: stored and linked, nobody to mark yet
    await store.apply([status])
    assert await redis_client.smembers(KEYS.order_statuses("overlay/O1")) == {"orderStatus|backend-mobile/O1"}
    assert await redis_client.zcard(KEYS.dirty) == 0
    order = event("order", "overlay/O1", 1, Order(party=owner("crm/K1")))
    await store.apply([order])
    assert await redis_client.zrange(KEYS.dirty, 0, -1) == ["crm/K1"]
    await redis_client.delete(KEYS.dirty)
    # order and status in one batch: the status finds the order written before it
    status2 = event("orderStatus", "backend-mobile/O1", 4, OrderStatus(
        order=SourceRef(system="overlay", key="O1"), state=OrderState.COMPLETED))
    await store.apply([event("order", "overlay/O1", 2, Order(party=owner("crm/K1"))), status2])
    assert await redis_client.zrange(KEYS.dirty, 0, -1) == ["crm/K1"]
    await redis_client.delete(KEYS.dirty)
    # a deleted status names its order only in the stored record
    await store.apply([event("orderStatus", "backend-mobile/O1", 5, delete=True)])
    assert await redis_client.zrange(KEYS.dirty, 0, -1) == ["crm/K1"]
    loaded = (await store.load_parties(["crm/K1"]))["crm/K1"]
    assert [c.ref for c in loaded.current_children()] == ["overlay/O1"]
    assert loaded.statuses.get("overlay/O1", []) == []


async def test_a_batch_is_two_round_trips(redis_client, monkeypatch):
    store = RecordStore(redis_client)
    batch = [party(f"crm/K{i}", 1) for i in range(300)]
    batch += [email(f"crm/C{i}", 1, f"crm/K{i}", f"p{i}@example.de") for i in range(300)]
    sent = 0
    connection_cls = type(redis_client.connection_pool.make_connection())
    original = connection_cls.send_packed_command

    async def counting(self, *args, **kwargs):
        nonlocal sent
        sent += 1
        return await original(self, *args, **kwargs)

    await store.apply([party("crm/K0", 0)])  # the script loaded, the connections made
    monkeypatch.setattr(connection_cls, "send_packed_command", counting)
    assert all(await store.apply(batch))
    assert sent == 2
    assert await redis_client.zcard(KEYS.dirty) == 300


async def test_a_child_that_names_no_party_any_more_leaves_its_party(redis_client):
    store = RecordStore(redis_client)
    await store.apply([event("address", "crm/A1", 1, Address(party=owner("crm/K1"), city="Berlin"))])
    await redis_client.delete(KEYS.dirty)
    await store.apply([event("address", "crm/A1", 2, Address(city="Berlin"))])
    assert await redis_client.zrange(KEYS.dirty, 0, -1) == ["crm/K1"]
    assert await redis_client.smembers(KEYS.children("crm/K1")) == set()
    assert "link" not in await redis_client.hgetall(KEYS.record("address", "crm/A1"))


async def test_a_server_that_lost_its_scripts_and_a_cluster_style_client_give_the_same_records(redis_client):
    store = RecordStore(redis_client)
    batch = [party("crm/K1", 1), email("crm/C1", 1, "crm/K1", "a@example.de")]
    await redis_client.script_flush()  # a restarted server: the script is loaded again
    assert await store.apply(batch) == [True, True]
    fast = await redis_client.hgetall(KEYS.record("contactMedium", "crm/C1"))

    # A client of another kind (a cluster client, say) goes through its own pipeline instead.
    await redis_client.flushdb()
    other_kind = type("OtherClient", (type(redis_client),), {})(
        connection_pool=redis_client.connection_pool)
    assert await RecordStore(other_kind).apply(batch) == [True, True]
    assert await redis_client.hgetall(KEYS.record("contactMedium", "crm/C1")) == fast
    assert await RecordStore(other_kind).apply(batch[:1]) == [True]
    assert await RecordStore(other_kind).apply([party("crm/K1", 0)]) == [False]


async def test_an_order_arriving_while_its_status_is_applied_is_not_missed(redis_client):
    from customer_cache.resolver import Resolver
    from customer_cache.store import _Applied
    from overlay.redis import VERSIONED_WRITE_SCRIPT
    from tests.integration.customer_cache.support import resolve_all

    statuses, orders = RecordStore(redis_client), RecordStore(redis_client)  # two workers
    status = event("orderStatus", "backend-mobile/O1", 3, OrderStatus(
        order=SourceRef(system="overlay", key="O1"), state=OrderState.IN_PROGRESS))
    # The status is written; before it is linked to its order, the order arrives in another worker
    # and its party is resolved (the status not linked yet, so not seen).
    await VERSIONED_WRITE_SCRIPT.load(redis_client)
    [(link, _)] = await statuses._write_records([status])
    await orders.apply([party("crm/K1", 1), event("order", "overlay/O1", 1, Order(party=owner("crm/K1")))])
    await resolve_all(Resolver(redis_client, owner="r1"))
    await redis_client.delete(KEYS.resolver_lease)
    # Linking the status then finds the order, and marks its party again.
    await statuses._link_and_mark([_Applied(status, link, "")])
    assert await redis_client.zrange(KEYS.dirty, 0, -1) == ["crm/K1"]
    await resolve_all(Resolver(redis_client, owner="r2"))
    cid = await redis_client.hget(KEYS.source_party("crm/K1"), "cust")
    doc = await redis_client.get(KEYS.customer(cid))
    assert '"state":"inProgress"' in doc
