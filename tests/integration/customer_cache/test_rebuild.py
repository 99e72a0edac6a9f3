"""``overlay cache rebuild`` / ``verify`` / ``drop`` against the real Kafka and Redis: a model rebuilt
from the canonical topics is identical to the one built incrementally, a tampered document is found,
and the live model can be recovered in place."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest
import redis.asyncio as aioredis
from typer.testing import CliRunner

from customer_cache.identity import IdentityRules, customer_id
from customer_cache.keys import KEYS, Keys
from customer_cache.rebuild import (
    RebuildError,
    classify_redirect,
    diff_fields,
    drop,
    holds_keys,
    rebuild,
    verify,
)
from customer_cache.resolver import Resolver
from customer_cache.store import RecordStore
from overlay import topics
from overlay.events import ChangeEvent
from overlay.kafka import EventPublisher
from overlay.models import (
    Account,
    Address,
    AddressRole,
    ContactMedium,
    MediumType,
    Order,
    OrderItem,
    OrderState,
    OrderStatus,
    ProductInstance,
    SourceRef,
)
from overlay.settings import Settings, get_settings
from tests.conftest import child_env
from tests.integration.customer_cache.support import customers, event, owner, party, resolve_all

RULES = IdentityRules()
EVA = customer_id(["crm/K1"], RULES)  # the CRM anchor of Eva's customer
EVA_MOBILE = customer_id(["mobile/M1"], RULES)  # Eva's mobile subscription alone, before the merge
REBUILT = Keys("c360-rebuild-test")


def canonical_events() -> list[ChangeEvent[Any]]:
    """Four people across CRM, mobile and fixed: a merge through a shared email, an update, a
    delete, a moved contact, an order with its status."""
    eva_mail = "eva.schmidt@example.de"
    return [
        # Eva: CRM party with an email record and an address; a mobile subscriber giving the same
        # address (the merge) with an account and a SIM.
        party("crm/K1", 1, given_name="Eva", family_name="Schmidt"),
        event("contactMedium", "crm/C1", 1, ContactMedium(
            party=owner("crm/K1"), medium_type=MediumType.EMAIL, value=eva_mail, preferred=True)),
        event("address", "crm/A1", 1, Address(
            party=owner("crm/K1"), role=AddressRole.HOME, street="Hauptstr.", house_number="1",
            postcode="10115", city="Berlin")),
        party("mobile/M1", 1, given_name="Eva", family_name="Schmidt", email=eva_mail,
              phone="+4915112345678"),
        event("account", "mobile/B1", 1, Account(party=owner("mobile/M1"), account_number="B1",
                                                   stack="mobile")),
        event("productInstance", "mobile/S1", 1, ProductInstance(
            party=owner("mobile/M1"), account=SourceRef(system="mobile", key="B1"), stack="mobile",
            identifiers={"msisdn": "+4915112345678"})),
        # Max: renamed (an update), his second email moves to Jana's record later.
        party("crm/K2", 1, given_name="Max", family_name="Mustermann"),
        event("contactMedium", "crm/C2", 1, ContactMedium(
            party=owner("crm/K2"), medium_type=MediumType.EMAIL, value="max@example.de")),
        event("contactMedium", "crm/C22", 1, ContactMedium(
            party=owner("crm/K2"), medium_type=MediumType.EMAIL, value="family@example.de")),
        party("crm/K2", 2, given_name="Max", family_name="Mustermann-Weber"),
        # Jana: fixed-line customer with an order in progress.
        party("fixed/F3", 1, given_name="Jana", family_name="Novak", phone="+49301234567"),
        event("account", "fixed/FB3", 1, Account(party=owner("fixed/F3"), account_number="FB3",
                                                  stack="fixed")),
        event("order", "overlay/O3", 1, Order(party=owner("fixed/F3"),
                                              items=(OrderItem(item_id="1", action="add"),))),
        event("orderStatus", "backend-fixed/O3", 2, OrderStatus(
            order=SourceRef(system="overlay", key="O3"), state=OrderState.IN_PROGRESS)),
        event("contactMedium", "crm/C22", 2, ContactMedium(
            party=owner("fixed/F3"), medium_type=MediumType.EMAIL, value="family@example.de")),
        # Otto: created, then deleted.
        party("crm/K4", 1, given_name="Otto", family_name="Gelöscht", email="otto@example.de"),
        event("contactMedium", "crm/C4", 1, ContactMedium(
            party=owner("crm/K4"), medium_type=MediumType.PHONE, value="+49891234567")),
        party("crm/K4", 2, delete=True),
    ]


async def publish(settings: Settings, events: list[ChangeEvent[Any]]) -> None:
    async with EventPublisher.create(settings) as publisher:
        await publisher.publish_many(events)
        await publisher.publish(events[0])  # a duplicate (redelivered by a connector)
        # a record the worker would send to the dead-letter topic
        await publisher.send_raw(topics.PARTY, b"crm/BROKEN", b'{"not": "an event"}')


async def build_incrementally(client: Any, events: list[ChangeEvent[Any]], seed: int) -> None:
    """The live model as workers build it: Eva's mobile record first (so it is a customer of its
    own before the CRM record merges it: a redirect in the live model), then everything shuffled in
    batches, with duplicates, the resolver running between them."""
    rng = random.Random(seed)
    store = RecordStore(client, KEYS)
    resolver = Resolver(client, keys=KEYS, batch_size=3)
    first = [e for e in events if e.entity_ref == "mobile/M1"]
    await store.apply(first)
    await resolve_all(resolver)
    rest = [e for e in events if e.entity_ref != "mobile/M1"] + rng.sample(events, 6)
    rng.shuffle(rest)
    while rest:
        n = rng.randint(1, 5)
        batch, rest = rest[:n], rest[n:]
        await store.apply(batch)
        if rng.random() < 0.5:
            await resolver.run_once()
    await resolve_all(resolver)
    await resolver.release_lease()


async def test_a_rebuild_from_kafka_is_identical_to_the_incremental_model(
        settings: Settings, redis_client: aioredis.Redis) -> None:
    events = canonical_events()
    await publish(settings, events)
    await build_incrementally(redis_client, events, seed=7)
    live_docs = await customers(redis_client)
    assert EVA in live_docs and EVA_MOBILE not in live_docs
    assert await redis_client.get(KEYS.moved(EVA_MOBILE)) == EVA  # merge history of the live model
    assert len(live_docs) == 3  # Eva (merged), Max, Jana; Otto deleted

    seen: list[tuple[str, int, int | None]] = []
    report = await rebuild(settings, REBUILT, client=redis_client,
                           progress=lambda phase, done, total: seen.append((phase, done, total)))
    assert report.events_read == len(events) + 2
    assert report.events_invalid == 1
    assert report.events_applied + report.events_ignored == len(events) + 1
    assert report.customers == 3 and report.complete
    assert report.partitions == 7 * settings.topic_partitions
    assert ("read", report.offsets, report.offsets) in seen and any(p == "resolve" for p, _, _ in seen)
    assert not await redis_client.exists(REBUILT.resolver_lease)  # released

    checked = await verify(redis_client, KEYS, REBUILT)
    assert checked.identical, checked.as_dict()
    assert checked.exit_code == 0
    assert (checked.customers.compared, checked.customers.identical) == (3, 3)
    assert checked.lookups.compared > 10 and checked.lookups.identical == checked.lookups.compared
    assert checked.search.compared > 0 and checked.index.compared > 0
    # The rebuild never saw Eva's mobile record as a customer of its own: the redirect is history.
    assert (checked.redirects.only_live, checked.redirects.differing) == (1, 0)
    # Pages of two: the merge walks over the listings and search indexes cross page boundaries.
    paged = await verify(redis_client, KEYS, REBUILT, page=2)
    assert paged.as_dict() | {"seconds": 0} == checked.as_dict() | {"seconds": 0}

    # A document changed behind the resolver's back is found, with the field that differs.
    raw = json.loads(str(await redis_client.get(KEYS.customer(EVA))))
    raw["golden"]["family_name"] = "Schmitt"
    await redis_client.set(KEYS.customer(EVA), json.dumps(raw, separators=(",", ":")))
    await redis_client.srem(KEYS.members(EVA), "mobile/M1")
    await redis_client.sadd(KEYS.lookup("email", "someone@example.de"), EVA)
    await redis_client.zadd(REBUILT.search("name"), {"x|y|x|y|||CU-GHOST|X Y|": 0})
    await redis_client.set(KEYS.customer("CU-GHOST"), "{}")  # a document nobody lists
    await redis_client.set(REBUILT.moved(EVA_MOBILE), "CU-GONE")  # a redirect leading elsewhere
    tampered = await verify(redis_client, KEYS, REBUILT, examples=5)
    assert not tampered.identical and tampered.exit_code == 1
    assert (tampered.customers.differing, tampered.customers.identical) == (1, 2)
    assert [(e.id, e.detail) for e in tampered.customers.examples] == [
        (EVA, ["golden.family_name", "members"])]
    assert tampered.lookups.only_live == 1
    assert tampered.lookups.examples[0].id == "lk:email:someone@example.de"
    assert tampered.search.only_rebuilt == 1 and tampered.search.examples[0].id == "name:CU-GHOST"
    assert tampered.listing.only_live == 1 and tampered.listing.examples[0].id == "CU-GHOST"
    assert (tampered.redirects.differing, tampered.redirects.only_live) == (1, 0)
    assert tampered.as_dict()["identical"] is False

    # Rebuilding into a prefix that holds keys needs --replace.
    with pytest.raises(RebuildError, match="holds keys"):
        await rebuild(settings, REBUILT, client=redis_client)


async def test_the_live_model_lost_is_recovered_in_place(
        settings: Settings, redis_client: aioredis.Redis) -> None:
    events = canonical_events()
    await publish(settings, events)
    await build_incrementally(redis_client, events, seed=11)
    await rebuild(settings, REBUILT, client=redis_client)

    # Redis lost the live model (but for a stale half of it): rebuild it in place.
    await redis_client.unlink(*[k async for k in redis_client.scan_iter(match="c360:cust:*")])
    assert not (await verify(redis_client, KEYS, REBUILT)).identical
    # A worker's resolver holds the lease: the rebuild refuses.
    await redis_client.set(KEYS.resolver_lease, "resolver-of-a-worker", px=60_000)
    with pytest.raises(RebuildError, match="lease"):
        await rebuild(settings, KEYS, client=redis_client, replace=True)
    await redis_client.delete(KEYS.resolver_lease)

    report = await rebuild(settings, KEYS, client=redis_client, replace=True)
    assert report.keys_deleted > 0 and report.customers == 3
    recovered = await verify(redis_client, KEYS, REBUILT)
    assert recovered.identical, recovered.as_dict()
    assert recovered.redirects.only_live == 0  # the merge history is gone with the lost model

    # Dropping a model deletes its keys and nothing else.
    live_keys = [k async for k in redis_client.scan_iter(match="c360:*")]
    assert await drop(redis_client, REBUILT) > 0
    assert not await holds_keys(redis_client, REBUILT)
    assert sorted([k async for k in redis_client.scan_iter(match="c360:*")]) == sorted(live_keys)


def _cli(settings: Settings, *args: str) -> tuple[int, dict[str, Any], str]:
    """Run ``overlay …`` in this process (in a thread: the command runs its own event loop); its
    exit code, the JSON of its last stdout line, and its output."""
    from overlay.cli.main import app

    env = {k: v for k, v in child_env(settings).items() if k.startswith("OVERLAY_")}
    env["OVERLAY_LOG_LEVEL"] = "WARNING"
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    finally:
        get_settings.cache_clear()
    lines = result.stdout.strip().splitlines()
    return result.exit_code, json.loads(lines[-1]) if lines else {}, result.output


async def test_the_cli_rebuilds_verifies_and_drops(settings: Settings, redis_client: aioredis.Redis) -> None:
    events = canonical_events()
    await publish(settings, events)
    await build_incrementally(redis_client, events, seed=3)

    code, out, text = await asyncio.to_thread(
        _cli, settings, "cache", "rebuild", "--prefix", REBUILT.prefix, "--verify", "--no-progress")
    assert code == 0, text
    assert out["rebuild"]["customers"] == 3 and out["rebuild"]["events_invalid"] == 1
    assert out["verify"]["identical"] is True
    assert "identical" in text and "events read" in text

    code, out, text = await asyncio.to_thread(_cli, settings, "cache", "rebuild", "--prefix", REBUILT.prefix)
    assert code == 2 and "--replace" in text

    code, out, text = await asyncio.to_thread(
        _cli, settings, "cache", "verify", "--against", REBUILT.prefix, "--progress")
    assert (code, out["identical"]) == (0, True), text
    assert "customers compared" in text  # the progress bar

    code, out, text = await asyncio.to_thread(_cli, settings, "cache", "verify", "--against", "c360-nothing")
    assert code == 2 and "no model" in text

    raw = json.loads(str(await redis_client.get(KEYS.customer(EVA))))
    raw["products"] = []
    await redis_client.set(KEYS.customer(EVA), json.dumps(raw))
    code, out, text = await asyncio.to_thread(_cli, settings, "cache", "verify", "--against", REBUILT.prefix)
    assert code == 1 and out["identical"] is False
    assert out["customers"]["examples"] == [{"id": EVA, "detail": ["products"]}]
    assert "DIFFERENT" in text and "products" in text

    code, out, text = await asyncio.to_thread(_cli, settings, "cache", "drop", "--prefix", "c360")
    assert code == 2 and "--force" in text
    code, out, text = await asyncio.to_thread(_cli, settings, "cache", "drop", "--prefix", REBUILT.prefix)
    assert code == 0 and out["keys_deleted"] > 0
    assert not await holds_keys(redis_client, REBUILT)
    assert await redis_client.exists(KEYS.customer(EVA))


def test_documents_differ_by_field_path() -> None:
    a = json.dumps({"id": "CU-1", "golden": {"email": "a@x.de", "phone": None}, "products": [1],
                    "version": 3})
    b = json.dumps({"id": "CU-1", "golden": {"email": "b@x.de", "phone": None}, "products": [2],
                    "version": 3})
    assert diff_fields(a, a) == []
    assert diff_fields(a, b) == ["golden.email", "products"]
    assert diff_fields(a, None) == ["document (missing in rebuilt)"]
    assert diff_fields(None, b) == ["document (missing in live)"]
    assert diff_fields(a, json.dumps(json.loads(a), indent=1)) == ["document (formatting)"]


def test_redirects_are_compared_by_where_they_lead() -> None:
    # both sides redirect: they must lead to the same customer
    assert classify_redirect(True, "CU-X", True, "CU-X") == "identical"
    assert classify_redirect(True, "CU-X", True, "CU-Z") == "differing"
    # one side only: history if the other side does not know the id at all
    assert classify_redirect(True, "CU-X", False, None) == "only_live"
    assert classify_redirect(False, None, True, "CU-X") == "only_rebuilt"
    # … but a difference if the other side has it as a customer of its own
    assert classify_redirect(True, "CU-X", False, "CU-Y") == "differing"
    assert classify_redirect(False, "CU-Y", True, "CU-X") == "differing"
