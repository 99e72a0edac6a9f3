"""``project``: canonical events → the customer 360 in Redis, per core, against a raw consumer.

``OVERLAY_BENCH_EVENTS`` canonical change events (default 300,000) are published to the canonical
topics first (not timed). They are the simulated estate's own: persons from :mod:`legacy_sim.people`,
each system's records mapped by the demo connectors' compiled mappings
(``deploy/connectors/demo.yaml``), as :mod:`customer_cache.identity.quality` builds the estate offline
— party, contactMedium, address, account and productInstance events of CRM, mobile and fixed/TV
records, with the estate's duplicates and shared identifiers, so identity resolution does real work.
They are built once per size and kept under ``var/bench``.

Timed: the customer-cache worker (``python -m overlay worker customer-cache``, a subprocess) from the
first record it applies until every event is applied **and** the resolver has finished (the dirty set
empty). Its start-up (imports, joining the consumer group) is left out: the window opens when its
``overlay_customer_records_total`` first moves, and the events applied before that are subtracted.
``events_per_cpu_s`` divides by the worker's CPU seconds (utime + stime from ``/proc``) in the window:
the "per core" figure. ``raw_events_per_s``: a plain aiokafka consumer reading the same topics from
the beginning and writing each value to Redis with pipelined SETs keyed by the message key (one
pipeline per ``getmany`` batch), in the same run, against the same broker and Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.common import (
    bench_stack,
    child_env,
    free_port,
    load_average,
    log_file,
    peak_rss_mb,
    proc_cpu_seconds,
    proc_peak_rss_mb,
    prometheus_values,
)
from customer_cache.keys import KEYS
from overlay.events import EntityType
from overlay.kafka import make_producer
from overlay.redis import make_redis
from overlay.settings import Settings, get_settings
from overlay.topics import BY_ENTITY

EVENTS = 300_000
SEED = 42
SEP = b"\x1f"


def _estate_events(seed: int) -> Iterator[tuple[str, bytes, bytes]]:
    """(entity, message key, value) of every record of the estate's persons, person by person."""
    from connectors.mapping.errors import MappingError
    from connectors.sources.xml_http import parse_xml
    from customer_cache.identity.quality import OBSERVED_AT, _Mappings
    from legacy_sim.crm_db import crm_rows
    from legacy_sim.fixed_tv_bss import customer_element
    from legacy_sim.fixed_tv_store import fixed_rows
    from legacy_sim.mobile_bss import Subscriber
    from legacy_sim.mobile_store import mobile_rows
    from legacy_sim.people import person

    maps = _Mappings.load()
    index = 0
    while True:
        p = person(seed, index)
        index += 1
        records: list[tuple[Any, dict[str, Any]]] = []
        crm = crm_rows(p)
        for stream, rows in (("customers", crm.customers), ("contacts", crm.contacts),
                             ("addresses", crm.addresses)):
            records += [(maps.crm[stream], dict(row)) for row in rows]
        records += [(maps.mobile, Subscriber.from_row(row).model_dump(mode="json")) for row in mobile_rows(p)]
        fixed = fixed_rows(p)
        if fixed is not None:
            [record] = parse_xml(ET.tostring(customer_element(*fixed), encoding="utf-8"),
                                 maps.fixed_force)["Customer"]
            records.append((maps.fixed, record))
        for stream, record in records:
            try:
                built = stream.build(record, OBSERVED_AT)
            except MappingError:
                continue
            for event in built:
                yield event.entity_type.value, event.message_key(), event.to_bytes()
        yield "", b"", b""  # end of a person


def _events_file(count: int) -> tuple[Path, int]:
    """The events file (built once per size) and the number of persons it covers."""
    path = get_settings().var_dir / "bench" / f"project-events-{count}-{SEED}.bin"
    if not path.exists():
        print(f"project: building {count:,} canonical events from the simulated estate — once",
              file=sys.stderr)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        written = persons = 0
        with tmp.open("wb") as out:
            for entity, key, value in _estate_events(SEED):
                if not entity:
                    persons += 1
                    if written >= count:
                        break
                    continue
                if written < count:
                    out.write(SEP.join((entity.encode(), key, value)) + b"\n")
                    written += 1
        tmp.rename(path)
        path.with_suffix(".persons").write_text(str(persons))
    return path, int(path.with_suffix(".persons").read_text())


def _read_events(path: Path) -> list[tuple[str, bytes, bytes]]:
    out = []
    with path.open("rb") as f:
        for line in f:
            entity, key, value = line.rstrip(b"\n").split(SEP, 2)
            out.append((entity.decode(), key, value))
    return out


async def _publish(settings: Settings, events: list[tuple[str, bytes, bytes]]) -> None:
    topics = {e.value: BY_ENTITY[e].full_name(settings) for e in EntityType if e in BY_ENTITY}
    producer = make_producer(settings)
    await producer.start()
    try:
        for start in range(0, len(events), 5000):
            futures = [await producer.send(topics[entity], value, key=key)
                       for entity, key, value in events[start:start + 5000]]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _records_total(client: httpx.AsyncClient, url: str) -> float | None:
    try:
        text = (await client.get(url)).text
    except httpx.HTTPError:
        return None
    return sum(prometheus_values(text, "overlay_customer_records_total").values())


def _worker_command(profile: str | None) -> list[str]:
    """The worker; under py-spy if ``profile`` names an output (``.txt``: collapsed stacks, else SVG)."""
    command = [sys.executable, "-m", "overlay", "worker", "customer-cache"]
    if not profile:
        return command
    return [str(Path(sys.executable).with_name("py-spy")), "record", "-r", "50",
            "--format", "raw" if profile.endswith(".txt") else "flamegraph",
            "-o", str(Path(profile).resolve()), "--", *command]


def _child_of(pid: int) -> int:
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return int(children.read().split()[0])


async def _overlay_path(settings: Settings, events: int) -> dict[str, Any]:
    port = free_port()
    env = child_env(settings, OVERLAY_WORKER_METRICS_PORT=str(port))
    redis = make_redis(settings)
    metrics = f"http://127.0.0.1:{port}/metrics"
    workdir = tempfile.mkdtemp(prefix="overlay-bench-worker-")  # faust's data dir lands in the cwd
    profile = os.environ.get("OVERLAY_BENCH_PROFILE")
    with log_file(Path(workdir) / "worker.log") as log:
        command = _worker_command(profile)
        worker = await asyncio.create_subprocess_exec(
            *command, env=env, cwd=workdir,
            stdout=log, stderr=log, start_new_session=True,
        )
    pid = worker.pid
    try:
        async with httpx.AsyncClient(timeout=2.0) as http:
            deadline = time.monotonic() + 180
            before: float | None = None
            while time.monotonic() < deadline:  # the window opens at the first applied record
                before = await _records_total(http, metrics)
                if before:
                    break
                if worker.returncode is not None:
                    raise RuntimeError("the worker exited during start-up")
                await asyncio.sleep(0.02)
            if profile:  # measure and stop the worker under py-spy, so that py-spy writes its profile
                pid = _child_of(worker.pid)
            cpu0, t0 = proc_cpu_seconds(pid), time.perf_counter()
            if not before:
                raise RuntimeError("the worker applied nothing within 180 s")
            done = before
            stage1: float | None = None
            while True:
                done = await _records_total(http, metrics) or done
                if stage1 is None and done >= events:
                    stage1 = time.perf_counter() - t0
                if done >= events and await redis.zcard(KEYS.dirty) == 0:
                    break
                if worker.returncode is not None:
                    raise RuntimeError("the worker exited")
                await asyncio.sleep(0.25)  # a scrape costs the worker CPU: not too often
            wall, cpu = time.perf_counter() - t0, proc_cpu_seconds(pid) - cpu0
            peak = proc_peak_rss_mb(pid)
            text = (await http.get(metrics)).text
            resolved = sum(prometheus_values(text, "overlay_customer_resolver_parties_total").values())
            documents = sum(prometheus_values(text, "overlay_customer_documents_total").values())
        customers = int(await redis.zcard(KEYS.customers))
        parties = 0
        async for _ in redis.scan_iter(match=KEYS.source_party("*"), count=5000):
            parties += 1
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(worker.wait(), 60)
        except TimeoutError:
            worker.kill()
            await worker.wait()
        await redis.aclose()
    timed = events - int(before)
    return {"timed_events": timed, "seconds": wall, "stage1_seconds": stage1, "resolved": resolved,
            "documents": documents, "cpu_s": cpu, "customers": customers,
            "source_parties": parties, "worker_peak_rss_mb": peak}


async def _raw_path(settings: Settings, events: int) -> float:
    """Plain consumer → pipelined SETs, one pipeline per getmany batch; events per second."""
    topics = [BY_ENTITY[e].full_name(settings) for e in EntityType if e in BY_ENTITY]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                enable_auto_commit=False, max_partition_fetch_bytes=4 << 20)
    await consumer.start()
    redis = make_redis(settings, decode_responses=False)
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in range(settings.topic_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen = 0
        started = time.perf_counter()
        while seen < events:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if not batch:
                break
            pipe = redis.pipeline(transaction=False)
            for tp, records in batch.items():
                for r in records:
                    pipe.set(b"rawbench:" + tp.topic.encode() + b":" + (r.key or b""), r.value or b"")
                seen += len(records)
            await pipe.execute()
        wall = time.perf_counter() - started
    finally:
        await consumer.stop()
        await redis.aclose()
    if seen < events:
        raise RuntimeError(f"the raw consumer read {seen} of {events} events")
    return seen / wall


async def run(events: int | None = None) -> dict[str, Any]:
    events = events or int(os.environ.get("OVERLAY_BENCH_EVENTS", str(EVENTS)))
    path, persons = _events_file(events)
    data = _read_events(path)
    mix = Counter(entity for entity, _, _ in data)
    async with bench_stack(f"project{uuid.uuid4().hex[:6]}.") as (_, settings):
        await _publish(settings, data)
        del data
        load_before = load_average()
        overlay = await _overlay_path(settings, events)
        print(f"project: overlay path {overlay}", file=sys.stderr)
        raw = await _raw_path(settings, events)
    timed = overlay["timed_events"]
    result: dict[str, Any] = {
        "benchmark": "project",
        "events": events,
        "timed_events": timed,
        "events_by_entity": dict(sorted(mix.items())),
        "persons": persons,
        "source_parties": overlay["source_parties"],
        "customers": overlay["customers"],
        "parties_resolved": round(overlay["resolved"]),
        "documents_written": round(overlay["documents"]),
        "seconds": round(overlay["seconds"], 1),
        "worker_cpu_s": round(overlay["cpu_s"], 1),
        "records_applied_s": round(overlay["stage1_seconds"], 1),
        "events_per_s": round(timed / overlay["seconds"]),
        "events_per_cpu_s": round(timed / overlay["cpu_s"]),
        "raw_events_per_s": round(raw),
        "ratio": round(timed / overlay["seconds"] / raw, 3),
        "peak_rss_mb": overlay["worker_peak_rss_mb"],
        "bench_peak_rss_mb": peak_rss_mb(),
        "load_average": f"{load_before} → {load_average()}",
    }
    print(f"project: {timed:,} events → {result['customers']:,} customers in {result['seconds']} s = "
          f"{result['events_per_s']:,}/s, {result['events_per_cpu_s']:,} per worker CPU-second; raw consumer "
          f"{result['raw_events_per_s']:,}/s; ratio {result['ratio']}", file=sys.stderr)
    return result


if __name__ == "__main__":
    from bench.common import emit

    emit(asyncio.run(run()))
