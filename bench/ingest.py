"""``ingest``: connector snapshot throughput, against a raw aiokafka producer in the same run.

Sources: the simulated CRM's customer master (SQL, read by the ``crm`` connector of
deploy/connectors/demo.yaml) and the mobile BSS's subscriptions (REST, the ``mobile`` connector),
``OVERLAY_BENCH_RECORDS`` of each (default 1,000,000). The estate is built once per size and kept
under ``var/bench``; its REST server runs in its own process, so the CPU measured here is the
connectors' alone.

Figures: ``records`` source records snapshotted (mapped to canonical events and published with
acks), ``records_per_s`` over wall time, ``records_per_cpu_s`` per CPU-second of this process
(the "per core" figure), and ``raw_records_per_s``: a plain aiokafka producer (``send()`` per
record, acks awaited per 2,000) writing the same number of records of the same average size
(the bytes Overlay published per source record) to the same broker. ``peak_rss_mb`` and the RSS
samples show whether memory stays flat during the snapshot.
"""

from __future__ import annotations

import asyncio
import math
import os
import resource
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.common import bench_stack, peak_rss_mb
from connectors.config import load_config, read_yaml
from connectors.registry import source_types
from connectors.runtime.host import ConnectorHost
from connectors.runtime.runner import RunOptions
from overlay.kafka import make_producer
from overlay.settings import Settings, get_settings
from overlay.topics import BY_ENTITY

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "connectors" / "demo.yaml"
MOBILE_SHARE = 0.7  # subscriptions per person in the estate, roughly (see legacy_sim/people.py)


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def _estate(records: int) -> tuple[Path, int]:
    """Build (once) an estate with at least ``records`` subscriptions; its customer count."""
    from legacy_sim.estate import build_estate, load_manifest

    customers = max(records, math.ceil(records / MOBILE_SHARE * 1.02))
    data_dir = get_settings().var_dir / "bench" / f"estate-{customers}"
    try:
        manifest = load_manifest(data_dir)
        if manifest.counts.mobile_subscribers >= records:
            return data_dir, customers
    except FileNotFoundError:
        pass
    print(f"ingest: building the estate ({customers:,} persons) in {data_dir} — once", file=sys.stderr)
    await build_estate(data_dir, seed=42, customers=customers)
    return data_dir, customers


async def _serve_estate(data_dir: Path) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    from legacy_sim.serve import ENDPOINTS_FILE, load_endpoints

    (data_dir / ENDPOINTS_FILE).unlink(missing_ok=True)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "overlay", "sim", "serve", "--data-dir", str(data_dir),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, start_new_session=True,
    )
    for _ in range(600):
        if (data_dir / ENDPOINTS_FILE).exists():
            return process, load_endpoints(data_dir).as_env()
        await asyncio.sleep(0.1)
    process.terminate()
    raise RuntimeError("the estate's servers did not start")


def _bench_config(records: int, env: dict[str, str], path: Path) -> None:
    """The demo's crm and mobile connectors, reduced to the two benchmarked streams and sizes."""
    import yaml

    demo = read_yaml(DEMO_CONFIG.read_text())
    chosen = {c["name"]: c for c in demo["connectors"] if c["name"] in ("crm", "mobile")}
    crm, mobile = chosen["crm"], chosen["mobile"]
    crm["streams"] = [s for s in crm["streams"] if s["name"] == "customers"]
    crm["streams"][0]["where"] = f"\"CUST_NO\" < 'K{records:08d}'"
    crm["page_size"] = 5000
    mobile["streams"] = [s for s in mobile["streams"] if s["name"] == "subscribers"]
    mobile["streams"][0]["pagination"]["size"] = 1000
    path.write_text(yaml.safe_dump({"connectors": [crm, mobile]}, sort_keys=False))
    os.environ.update(env)


async def _published_bytes(settings: Settings) -> tuple[int, int]:
    """Records and bytes now on the canonical topics (for the raw baseline's record size)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    topics = [spec.full_name(settings) for spec in BY_ENTITY.values()]
    described = await admin.describe_topics(topics)
    await admin.close()
    partitions = [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        sampled = size = 0
        while sampled < 20_000:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if not batch:
                break
            for rs in batch.values():
                sampled += len(rs)
                size += sum(len(r.value or b"") + len(r.key or b"") for r in rs)
    finally:
        await consumer.stop()
    events = sum(ends.values())
    return events, (size // sampled) * events if sampled else 0


async def _raw_baseline(settings: Settings, records: int, record_bytes: int) -> float:
    topic = f"{settings.topic_prefix}raw-baseline"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    from aiokafka.admin import NewTopic

    await admin.create_topics([NewTopic(topic, settings.topic_partitions, 1)])
    await admin.close()
    producer = make_producer(settings)
    await producer.start()
    value = os.urandom(record_bytes // 2).hex().encode()[:record_bytes]
    started = time.perf_counter()
    try:
        for start in range(0, records, 2000):
            futures = [await producer.send(topic, value, key=f"K{i:09d}".encode())
                       for i in range(start, min(records, start + 2000))]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return records / (time.perf_counter() - started)


async def run(records: int | None = None) -> dict[str, Any]:
    records = records or int(os.environ.get("OVERLAY_BENCH_RECORDS", "1000000"))
    data_dir, customers = await _estate(records)
    sim, env = await _serve_estate(data_dir)
    try:
        async with bench_stack(f"ingest{uuid.uuid4().hex[:6]}.") as (_, settings):
            config = data_dir.parent / f"ingest-{records}.yaml"
            _bench_config(records, env, config)
            loaded = load_config(config, source_types())
            host = ConnectorHost(loaded, settings.model_copy(update={"connectors_port": 0}),
                                 RunOptions(once=True, snapshot=True), serve_http=False)
            samples: list[float] = []

            async def sample() -> None:
                while True:
                    samples.append(round(_rss_mb(), 1))
                    await asyncio.sleep(2)

            sampler = asyncio.create_task(sample())
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            started = time.perf_counter()
            await host.run()
            wall = time.perf_counter() - started
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            sampler.cancel()
            cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
            read = {s.name: sum(x.read for x in s.streams.values()) for s in host.statuses}
            events, published = await _published_bytes(settings)
            source_records = sum(read.values())
            record_bytes = max(1, published // source_records)
            raw = await _raw_baseline(settings, source_records, record_bytes)
    finally:
        sim.terminate()
        await sim.wait()

    result: dict[str, Any] = {
        "benchmark": "ingest",
        "records": source_records,
        "events": events,
        "records_by_connector": read,
        "record_bytes": record_bytes,
        "seconds": round(wall, 1),
        "records_per_s": round(source_records / wall),
        "records_per_cpu_s": round(source_records / cpu),
        "raw_records_per_s": round(raw),
        "ratio": round(source_records / wall / raw, 3),
        "peak_rss_mb": peak_rss_mb(),
        "rss_samples_mb": samples[:: max(1, len(samples) // 12)],
        "estate_customers": customers,
    }
    print(f"ingest: {source_records:,} source records ({events:,} events, {record_bytes} B per record) in "
          f"{wall:.1f} s = {result['records_per_s']:,}/s, {result['records_per_cpu_s']:,} per CPU-second; "
          f"raw producer {result['raw_records_per_s']:,}/s; ratio {result['ratio']}", file=sys.stderr)
    return result


if __name__ == "__main__":
    from bench.common import emit

    emit(asyncio.run(run()))
