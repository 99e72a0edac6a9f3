"""``publish``: canonical events through :class:`EventPublisher` against raw aiokafka sends.

Both sides send the same number of records of the same size to the same broker in the same run;
Overlay's side also builds and serialises the pydantic envelope, which is the cost measured.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

from bench.common import bench_stack, emit, peak_rss_mb
from overlay.events import ChangeEvent, EntityType
from overlay.kafka import EventPublisher, make_producer
from overlay.models import Party
from overlay.topics import PARTY

RECORDS = 100_000
BATCH = 2_000


def _event(i: int) -> ChangeEvent[Party]:
    return ChangeEvent[Party](
        source_system="crm", entity_type=EntityType.PARTY, source_key=f"K{i:08d}", version=i,
        modified_at=datetime.now(UTC),
        payload=Party(given_name="Hans-Peter", family_name=f"Mustermann{i}", national_id=f"ID{i:010d}",
                      segment="residential", status="active"),
    )


async def run(records: int = RECORDS) -> dict[str, object]:
    async with bench_stack(f"bench{uuid.uuid4().hex[:6]}.") as (_, settings):
        sample = _event(0).to_bytes()
        topic = PARTY.full_name(settings)

        raw = make_producer(settings)
        await raw.start()
        t0 = time.perf_counter()
        for start in range(0, records, BATCH):
            futures = [await raw.send(topic, value=sample, key=f"K{i:08d}".encode())
                       for i in range(start, min(start + BATCH, records))]
            await asyncio.gather(*futures)
        raw_s = time.perf_counter() - t0
        await raw.stop()

        async with EventPublisher.create(settings) as publisher:
            t0 = time.perf_counter()
            for start in range(0, records, BATCH):
                await publisher.publish_many(_event(i) for i in range(start, min(start + BATCH, records)))
            overlay_s = time.perf_counter() - t0

    result: dict[str, object] = {
        "benchmark": "publish",
        "records": records,
        "record_bytes": len(sample),
        "records_per_s": round(records / overlay_s),
        "raw_records_per_s": round(records / raw_s),
        "ratio": round(raw_s / overlay_s, 3),
        "peak_rss_mb": peak_rss_mb(),
    }
    print(f"publish: {result['records_per_s']} events/s through EventPublisher, "
          f"{result['raw_records_per_s']} raw records/s, ratio {result['ratio']}")
    return result


if __name__ == "__main__":
    emit(asyncio.run(run()))
