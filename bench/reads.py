"""``reads``: customer 360 reads per second and their latency through the API, against redis-benchmark.

``OVERLAY_BENCH_CUSTOMERS`` (default 1,000,000) Customer360 documents are loaded straight into Redis
(pipelined SETs of ``c360:cust:{id}`` and the ``c360:customers`` listing; not through the pipeline,
which would take hours): 1,000 distinct documents built with
:class:`customer_cache.view.model.Customer360` — a person or a company with two or three linked
source records, contact media, addresses, accounts, products across stacks and per-field provenance,
about 3 KB of JSON like the documents of the simulated estate — each copied under 1,000 ids.

The API server runs as a subprocess (``overlay api`` for one worker; ``uvicorn
overlay.http.app:create_app --factory --workers N`` for more, ``OVERLAY_BENCH_API_WORKERS``). The
load is ``OVERLAY_BENCH_CONCURRENCY`` (default 64) keep-alive connections, each with one request in
flight, of ``GET /api/v1/customer360/{id}`` with random ids for ``OVERLAY_BENCH_SECONDS`` (default
20), from this process. The client is a minimal asyncio HTTP/1.1 client (request line out, status,
headers and ``Content-Length`` body in), not httpx: on this 2-core machine the client shares the
CPU with the server, and httpx alone costs more per request than the server does. Every answer must
be a 200 with a body. The raw baseline, in the same run against the same Redis:
``redis-benchmark -t get -n 200000 -q`` (50 clients, 3-byte values: Redis's own ceiling, not a 360).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bench.common import free_port, load_average, log_file, peak_rss_mb, proc_cpu_seconds
from customer_cache.keys import KEYS
from customer_cache.view.model import (
    AccountView,
    AddressView,
    ContactPoint,
    Customer360,
    FieldSource,
    Golden,
    ProductView,
    SourceLink,
)
from overlay.infra.redis_server import RedisServer, find_redis_binary
from overlay.models import (
    AccountType,
    AddressRole,
    Characteristic,
    MediumType,
    PartyKind,
    ProductStatus,
)

CUSTOMERS = 1_000_000
TEMPLATES = 1_000
CONCURRENCY = 64
SECONDS = 20.0
PATH = "/api/v1/customer360/"

GIVEN = ["Anna", "Lukas", "Marie", "Jonas", "Sophie", "Felix", "Lena", "Paul", "Emma", "Leon", "Mia", "Ben"]
FAMILY = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
          "Hoffmann"]
STREETS = ["Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schillerstraße", "Lindenallee", "Goethestraße"]
CITIES = [("10115", "Berlin"), ("20095", "Hamburg"), ("80331", "München"), ("50667", "Köln"),
          ("60311", "Frankfurt")]
TARIFFS = [("MOB-L", "Mobil L"), ("MOB-M", "Mobil M"), ("DSL-100", "Internet 100"), ("TV-BASIC", "TV Basis")]


def customer_id(n: int) -> str:
    return f"CU-{n:012x}"


def _template(rng: random.Random, n: int) -> Customer360:
    at = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    org = rng.random() < 0.1
    given, family = rng.choice(GIVEN), rng.choice(FAMILY)
    postcode, city = rng.choice(CITIES)
    crm, mob, fx = f"K{n:08d}", f"MC{n:08d}", f"FX{n:08d}"
    email = f"{given.lower()}.{family.lower()}{n}@example.de".replace("ü", "ue")
    mobile = f"+49151{n:08d}"
    systems = [("crm", crm), ("mobile", mob)] + ([("fixed", fx)] if rng.random() < 0.5 else [])
    golden = Golden(
        kind=PartyKind.ORGANIZATION if org else PartyKind.INDIVIDUAL, title=None if org else "Frau",
        given_name=None if org else given, family_name=None if org else family,
        organization_name=f"{family} GmbH" if org else None,
        birth_date=None if org else date(1950 + n % 50, 1 + n % 12, 1 + n % 28),
        national_id=None if org else f"L{n:08d}X", segment="business" if org else "residential",
        email=email, phone=mobile,
    )
    address = AddressView(role=AddressRole.BILLING, street=rng.choice(STREETS),
                          house_number=str(1 + n % 120), postcode=postcode, city=city,
                          sources=[f"address|crm/A{n:08d}"])
    tariffs = rng.sample(TARIFFS, 2)
    products = [
        ProductView(system=system, key=f"{key}-P{i}", stack=system, offering_code=code, name=name,
                    status=ProductStatus.ACTIVE, start_date=at,
                    identifiers={"msisdn": mobile} if system == "mobile" else {},
                    account=f"{system}/{key}-A",
                    characteristics=[Characteristic(name="dataVolume", value="20GB")])
        for i, ((system, key), (code, name)) in enumerate(zip(systems[1:], tariffs, strict=False))
    ]
    return Customer360(
        id=customer_id(n), golden=golden,
        provenance={f: FieldSource(system="crm", key=crm, modified_at=at)
                    for f in ("given_name", "family_name", "birth_date", "email", "phone")},
        sources=[SourceLink(system=s, key=k, version=1_700_000_000_000 + n, modified_at=at, observed_at=at)
                 for s, k in systems],
        contact_media=[
            ContactPoint(medium_type=MediumType.EMAIL, value=email, preferred=True,
                         sources=[f"contactMedium|crm/{crm}-E"]),
            ContactPoint(medium_type=MediumType.MOBILE, value=mobile, sources=[f"party|mobile/{mob}"]),
            ContactPoint(medium_type=MediumType.PHONE, value=f"+4930{n:07d}",
                         sources=[f"contactMedium|crm/{crm}-T"]),
        ],
        addresses=[address, address.model_copy(update={"role": AddressRole.SERVICE,
                                                        "serviceability": {"fibre": "1000", "dsl": "100"}})],
        accounts=[AccountView(system=s, key=f"{k}-A", account_number=f"{n:08d}{i}",
                              account_type=AccountType.BILLING, name=f"{given} {family}", stack=s)
                  for i, (s, k) in enumerate(systems[1:])],
        products=products, version=1_700_000_000_000 + n, updated_at=at, event_id=f"ev-{n:08d}",
    )


async def _load(redis_url: str, customers: int) -> int:
    """Documents into Redis; returns the average document size in bytes."""
    import redis.asyncio as aioredis

    rng = random.Random(42)
    templates = [_template(rng, n).model_dump_json().replace(customer_id(n), "\x00")
                 for n in range(TEMPLATES)]
    client = aioredis.from_url(redis_url)
    try:
        for start in range(0, customers, 10_000):
            pipe = client.pipeline(transaction=False)
            ids = [customer_id(n) for n in range(start, min(customers, start + 10_000))]
            for n, cid in enumerate(ids, start):
                pipe.set(KEYS.customer(cid), templates[n % TEMPLATES].replace("\x00", cid))
            pipe.zadd(KEYS.customers, dict.fromkeys(ids, 0))
            await pipe.execute()
    finally:
        await client.aclose()
    return round(statistics.mean(len(t.encode()) + 12 for t in templates))


class _Client:
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    async def get(self, path: str) -> tuple[int, int]:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        match = re.search(rb"(?i)content-length: *(\d+)", head)
        length = int(match.group(1)) if match else 0
        body = await self.reader.readexactly(length)
        return status, len(body)


async def _hammer(port: int, customers: int, concurrency: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def one(seed: int) -> None:
        nonlocal errors
        rng = random.Random(seed)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = _Client(reader, writer, f"127.0.0.1:{port}")
        try:
            while time.perf_counter() < deadline:
                path = PATH + customer_id(rng.randrange(customers))
                t0 = time.perf_counter()
                status, size = await client.get(path)
                latencies.append(time.perf_counter() - t0)
                if status != 200 or size == 0:
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(concurrency)))
    wall = time.perf_counter() - started
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    return {"requests": len(latencies), "errors": errors, "reads_per_s": round(len(latencies) / wall),
            "p50_ms": round(q[49] * 1000, 2), "p99_ms": round(q[98] * 1000, 2), "seconds": round(wall, 1)}


async def _wait_http(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            status, _ = await _Client(reader, writer, "x").get(PATH + customer_id(0))
            writer.close()
            if status == 200:
                return
        except (OSError, asyncio.IncompleteReadError):
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError("the API did not answer")


def _redis_benchmark(port: int) -> float:
    binary = shutil.which("redis-benchmark") or str(Path(find_redis_binary()).with_name("redis-benchmark"))
    out = subprocess.run([binary, "-t", "get", "-n", "200000", "-q", "-p", str(port)],
                         capture_output=True, text=True, check=True, timeout=300).stdout
    match = re.search(r"GET: ([\d.]+) requests per second", out.replace("\r", "\n"))
    if match is None:
        raise RuntimeError(f"unexpected redis-benchmark output: {out[-300:]}")
    return float(match.group(1))


def _children_cpu(pid: int) -> float:
    """CPU of a process and its children (uvicorn's workers), from /proc."""
    total = proc_cpu_seconds(pid)
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            kids = [int(k) for k in children.read().split()]
    except OSError:
        kids = []
    for kid in kids:
        with contextlib.suppress(OSError):
            total += _children_cpu(kid)
    return total


async def _serve_and_hammer(workdir: Path, redis_url: str, workers: int, customers: int, concurrency: int,
                            seconds: float) -> dict[str, Any]:
    """One API server with ``workers`` processes, warmed up, then loaded for ``seconds``."""
    port = free_port()
    env = {**os.environ, "OVERLAY_REDIS_URL": redis_url, "OVERLAY_LOG_LEVEL": "WARNING",
           "OVERLAY_LOG_FORMAT": "json", "OVERLAY_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    if workers == 1:  # exactly what `overlay api` runs
        command = ["-m", "overlay", "api", "--port", str(port)]
    else:
        command = ["-m", "uvicorn", "overlay.http.app:create_app", "--factory", "--workers",
                   str(workers), "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
                   "--log-level", "warning"]
    with log_file(workdir / f"api-{workers}.log") as log:
        api = await asyncio.create_subprocess_exec(sys.executable, *command, env=env, cwd=workdir,
                                                   stdout=log, stderr=log, start_new_session=True)
    try:
        await _wait_http(port)
        await _hammer(port, customers, concurrency, 3.0)  # warm-up (every worker process)
        load_before = load_average()
        cpu0 = _children_cpu(api.pid)
        figures = await _hammer(port, customers, concurrency, seconds)
        api_cpu = _children_cpu(api.pid) - cpu0
        load_after = load_average()
    finally:
        if api.returncode is None:
            api.terminate()
            await api.wait()
    return {**figures, "api_workers": workers, "api_cpu_s": round(api_cpu, 1),
            "reads_per_api_cpu_s": round(figures["requests"] / api_cpu) if api_cpu else None,
            "load_average": f"{load_before} → {load_after}"}


async def run() -> dict[str, Any]:
    customers = int(os.environ.get("OVERLAY_BENCH_CUSTOMERS", str(CUSTOMERS)))
    concurrency = int(os.environ.get("OVERLAY_BENCH_CONCURRENCY", str(CONCURRENCY)))
    seconds = float(os.environ.get("OVERLAY_BENCH_SECONDS", str(SECONDS)))
    worker_counts = [int(w) for w in os.environ.get("OVERLAY_BENCH_API_WORKERS", "1,2").split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="overlay-bench-reads-"))
    redis = RedisServer(workdir / "redis")
    await redis.start()
    runs: list[dict[str, Any]] = []
    try:
        t0 = time.perf_counter()
        doc_bytes = await _load(redis.url, customers)
        print(f"reads: {customers:,} documents ({doc_bytes} B each) loaded in "
              f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
        for workers in worker_counts:
            runs.append(await _serve_and_hammer(workdir, redis.url, workers, customers, concurrency, seconds))
            print(f"reads: {runs[-1]}", file=sys.stderr)
        redis_get = _redis_benchmark(redis.port)
    finally:
        await redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    best = max(runs, key=lambda r: float(r["reads_per_s"]))
    workers = best["api_workers"]
    figures = best
    result: dict[str, Any] = {
        "benchmark": "reads",
        "customers": customers,
        "doc_bytes": doc_bytes,
        **figures,
        "redis_get_per_s": round(redis_get),
        "concurrency": concurrency,
        "runs": [{k: r[k] for k in ("api_workers", "reads_per_s", "p50_ms", "p99_ms", "reads_per_api_cpu_s")}
                 for r in runs],
        "endpoint": PATH + "{id}",
        "client": "asyncio keep-alive HTTP/1.1, one request in flight per connection",
        "bench_peak_rss_mb": peak_rss_mb(),
    }
    print(f"reads: {figures['reads_per_s']:,}/s, p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms "
          f"({workers} API worker(s), {concurrency} connections); redis-benchmark GET {redis_get:,.0f}/s",
          file=sys.stderr)
    return result


if __name__ == "__main__":
    from bench.common import emit

    emit(asyncio.run(run()))
