"""The customer_cache faust worker as a real process against the real broker and Redis."""

from __future__ import annotations

import json
import random

import httpx
from aiokafka import AIOKafkaConsumer

from customer_cache.identity import IdentityRules, customer_id
from customer_cache.keys import KEYS
from customer_cache.view.model import Customer360
from overlay.events import Operation
from overlay.infra.ports import free_port
from overlay.kafka import EventPublisher
from overlay.models import ContactMedium, MediumType
from overlay.topics import CUSTOMER_IDENTITY, DEAD_LETTER, PARTY
from tests.conftest import child_env
from tests.integration.customer_cache.support import event, owner, party, snapshot
from tests.integration.customer_cache.test_replay import _consume, _read_all
from tests.integration.helpers import ChildProcess, eventually
from tests.integration.test_pipeline_plumbing import party_event

RULES = IdentityRules()


async def _doc(client, source_ref: str) -> Customer360 | None:
    raw = await client.get(KEYS.customer(customer_id([source_ref], RULES)))
    return None if raw is None else Customer360.model_validate_json(raw)


async def _names(client, keys: list[str]) -> dict[str, str | None]:
    async with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.get(KEYS.customer(customer_id([f"crm/{key}"], RULES)))
        raws = await pipe.execute()
    return {k: None if raw is None else Customer360.model_validate_json(raw).golden.family_name
            for k, raw in zip(keys, raws, strict=True)}


async def test_worker_projects_and_survives_a_crash_mid_stream(settings, redis_client, tmp_path):
    keys = [f"K{i:04d}" for i in range(200)]
    metrics_port = free_port()
    env = child_env(settings)
    worker = await ChildProcess(["worker", "customer-cache"], env, tmp_path / "worker.log").start()
    try:
        async with EventPublisher.create(settings) as publisher:
            await publisher.publish_many(party_event(k, 1, f"First-{k}") for k in keys)

            async def all_first() -> bool:
                names = await _names(redis_client, keys)
                return all(v == f"First-{k}" for k, v in names.items())

            await eventually(all_first, 60, what=worker.describe("first versions projected"))

            # Second round, and the worker is killed while it is processing it.
            await publisher.publish_many(party_event(k, 2, f"Second-{k}") for k in keys)
            await worker.kill()
            await publisher.publish_many(
                party_event(k, 3, "", Operation.DELETE) for k in keys[:50]
            )
        worker = await ChildProcess(["worker", "customer-cache"],
                                    env | {"OVERLAY_WORKER_METRICS_PORT": str(metrics_port)},
                                    tmp_path / "worker2.log").start()

        async def final_state() -> bool:
            names = await _names(redis_client, keys)
            return all(names[k] is None for k in keys[:50]) and all(
                names[k] == f"Second-{k}" for k in keys[50:]
            ) and await redis_client.zcard(KEYS.dirty) == 0

        await eventually(final_state, 60, what=worker.describe("final state after restart"))
        assert await redis_client.zcard(KEYS.customers) == 150

        async with httpx.AsyncClient() as http:
            metrics = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        count = next(line for line in metrics.splitlines()
                     if line.startswith("overlay_customer_visible_seconds_count"))
        assert float(count.split()[-1]) > 0
        assert "overlay_customer_records_total" in metrics
    finally:
        code = await worker.stop()
    assert code == 0, "the worker stops cleanly on SIGTERM\n" + worker.log()[-3000:]

    # The state after the crash is exactly what one undisturbed pass over the topics gives.
    after_crash = await snapshot(redis_client)
    await redis_client.flushdb()
    await _consume(redis_client, settings, await _read_all(settings), random.Random(5), resolve_every=2)
    assert await snapshot(redis_client) == after_crash


async def test_worker_links_records_across_systems_and_publishes_identity(settings, redis_client, tmp_path):
    worker = await ChildProcess(["worker", "customer-cache"], child_env(settings),
                                tmp_path / "worker.log").start()
    crm, mobile = "crm/K1", "mobile/M1"
    x = customer_id([crm], RULES)
    try:
        async with EventPublisher.create(settings) as publisher:
            await publisher.publish_many([
                party(crm, 1),
                event("contactMedium", "crm/C1", 1, ContactMedium(
                    party=owner(crm), medium_type=MediumType.EMAIL, value="eva@example.de")),
                party(mobile, 1, email="eva@example.de", phone="+4915123456789"),
            ])

        async def linked() -> Customer360 | None:
            doc = await _doc(redis_client, crm)
            return doc if doc is not None and len(doc.sources) == 2 else None

        doc = await eventually(linked, 60, what=worker.describe("CRM and mobile linked"))
        assert doc.id == x and doc.golden.phone == "+4915123456789"
        assert await redis_client.hget(KEYS.source_party(mobile), "cust") == x
        assert await redis_client.zrange(KEYS.customers, 0, -1) == [x]
    finally:
        await worker.stop()

    consumer = AIOKafkaConsumer(CUSTOMER_IDENTITY.full_name(settings),
                                bootstrap_servers=settings.kafka_bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=10_000)
    finally:
        await consumer.stop()
    events = [json.loads(r.value) for rs in batch.values() for r in rs]
    about_x = [e for e in events if e["customer_id"] == x]
    assert about_x and about_x[-1]["members"] == [crm, mobile]
    assert about_x[-1]["change"] in ("created", "merged")


async def test_worker_sends_invalid_records_to_dead_letter_and_carries_on(settings, redis_client, tmp_path):
    worker = await ChildProcess(["worker", "customer-cache"], child_env(settings),
                                tmp_path / "worker.log").start()
    try:
        async with EventPublisher.create(settings) as publisher:
            await publisher.send_raw(PARTY, b"crm/BAD", b'{"not": "an event"}')
            await publisher.publish(party_event("K1", 1, "Valid"))
        await eventually(lambda: _doc(redis_client, "crm/K1"), 60,
                         what=worker.describe("valid event after the bad one"))
    finally:
        await worker.stop()

    consumer = AIOKafkaConsumer(DEAD_LETTER.full_name(settings), bootstrap_servers=settings.kafka_bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=10_000)
    finally:
        await consumer.stop()
    letters = [json.loads(r.value) for rs in batch.values() for r in rs]
    assert len(letters) == 1
    assert letters[0]["original"] == '{"not": "an event"}'
    assert "validation error" in letters[0]["reason"]
    assert letters[0]["position"]["topic"] == PARTY.full_name(settings)
