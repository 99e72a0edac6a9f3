"""The customer_cache faust worker as a real process against the real broker and Redis."""

from __future__ import annotations

import json

from customer_cache.projection import customer_id_for
from customer_cache.read_model import CustomerReadModel
from overlay.events import Operation
from overlay.kafka import EventPublisher
from overlay.topics import DEAD_LETTER, PARTY
from tests.conftest import child_env
from tests.integration.helpers import ChildProcess, eventually
from tests.integration.test_pipeline_plumbing import party_event


async def _names(model: CustomerReadModel, keys: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key in keys:
        doc = await model.get(customer_id_for("crm", key))
        out[key] = doc.party.family_name if doc else None
    return out


async def test_worker_projects_and_survives_a_crash_mid_stream(settings, redis_client, tmp_path):
    keys = [f"K{i:04d}" for i in range(200)]
    model = CustomerReadModel(redis_client)
    worker = await ChildProcess(["worker", "customer-cache"], child_env(settings),
                                tmp_path / "worker.log").start()
    try:
        async with EventPublisher.create(settings) as publisher:
            await publisher.publish_many(party_event(k, 1, f"First-{k}") for k in keys)

            async def all_first() -> bool:
                names = await _names(model, keys)
                return all(v == f"First-{k}" for k, v in names.items())

            await eventually(all_first, 60, what=worker.describe("first versions projected"))

            # Second round, and the worker is killed while it is processing it.
            await publisher.publish_many(party_event(k, 2, f"Second-{k}") for k in keys)
            await worker.kill()
            await publisher.publish_many(
                party_event(k, 3, "", Operation.DELETE) for k in keys[:50]
            )
        worker = await ChildProcess(["worker", "customer-cache"], child_env(settings),
                                    tmp_path / "worker2.log").start()

        async def final_state() -> bool:
            names = await _names(model, keys)
            return all(names[k] is None for k in keys[:50]) and all(
                names[k] == f"Second-{k}" for k in keys[50:]
            )

        await eventually(final_state, 60, what=worker.describe("final state after restart"))
        total, _ = await model.list(0, 1)
        assert total == 150
    finally:
        code = await worker.stop()
    assert code == 0, "the worker stops cleanly on SIGTERM\n" + worker.log()[-3000:]


async def test_worker_sends_invalid_records_to_dead_letter_and_carries_on(settings, redis_client, tmp_path):
    worker = await ChildProcess(["worker", "customer-cache"], child_env(settings),
                                tmp_path / "worker.log").start()
    try:
        async with EventPublisher.create(settings) as publisher:
            await publisher.send_raw(PARTY, b"crm/BAD", b'{"not": "an event"}')
            await publisher.publish(party_event("K1", 1, "Valid"))
        model = CustomerReadModel(redis_client)
        await eventually(lambda: model.get(customer_id_for("crm", "K1")), 60,
                         what=worker.describe("valid event after the bad one"))
    finally:
        await worker.stop()

    from aiokafka import AIOKafkaConsumer

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
