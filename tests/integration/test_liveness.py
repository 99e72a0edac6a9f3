"""The worker liveness check against the real broker, and the supervisor that restarts."""

from __future__ import annotations

import asyncio
import sys

from aiokafka import AIOKafkaConsumer

from overlay.kafka import EventPublisher
from overlay.liveness import LagWatch
from overlay.supervisor import Child, Supervisor
from overlay.topics import PARTY
from tests.integration.helpers import eventually
from tests.integration.test_pipeline_plumbing import party_event


async def test_lag_that_does_not_move_is_stuck_and_progress_is_not(settings):
    topic = PARTY.full_name(settings)
    async with EventPublisher.create(settings) as publisher:
        await publisher.publish_many(party_event(f"K{i}", 1, "X") for i in range(10))

    watch = LagWatch(settings.kafka_bootstrap, "g-idle", [topic], timeout=0.5)

    async def lag_known() -> int:  # the group coordinator may still be starting on a new broker
        try:
            return (await watch.lag())[0]
        except Exception:
            return 0

    assert await eventually(lag_known, 30, what="the group's lag") == 10
    assert not await watch.stuck()  # first look: lag, but no history yet
    await asyncio.sleep(0.7)
    assert await watch.stuck()

    # A consumer that commits its progress is never stuck, and no lag is never stuck.
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap, group_id="g-busy",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        busy = LagWatch(settings.kafka_bootstrap, "g-busy", [topic], timeout=0.5)
        assert not await busy.stuck()
        got = 0
        while got < 10:
            got += sum(len(v) for v in (await consumer.getmany(timeout_ms=2000)).values())
        await consumer.commit()
        await asyncio.sleep(0.7)
        assert not await busy.stuck()
        assert (await busy.lag())[0] == 0
    finally:
        await consumer.stop()


async def test_supervisor_restarts_a_child_that_exits_and_stops_it_cleanly():
    supervisor = Supervisor(stop_timeout=5)
    crashing = Child("crashing", [sys.executable, "-c", "import sys; sys.exit(70)"])
    steady = Child("steady", [sys.executable, "-c", "import time; time.sleep(600)"])
    await supervisor.start(crashing)
    await supervisor.start(steady)

    async def restarted() -> bool:
        return crashing.restarts >= 1

    await eventually(restarted, 15, what="a restart of the crashed child")
    await supervisor.stop_all()
    assert steady.process is not None and steady.process.returncode == -15
