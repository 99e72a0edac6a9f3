"""Build the whole simulated estate into a directory: CRM, mobile and fixed/TV stores + ground truth.

Persons stream through in batches (constant memory); the inserts of one batch run while the next
batch is generated, so a 1M estate takes minutes, 10k a couple of seconds. Same seed and size
give identical data.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from legacy_sim.crm_db import CrmRows, CrmStore, crm_rows
from legacy_sim.db import sqlite_dsn
from legacy_sim.fixed_tv_store import FixedTvStore, fixed_rows
from legacy_sim.ground_truth import TRUTH_FILE, truth_lines
from legacy_sim.mobile_store import MobileStore, mobile_rows
from legacy_sim.people import Person, person
from overlay.logging import get_logger

log = get_logger(__name__)

MANIFEST_FILE = "estate.json"
CRM_FILE, MOBILE_FILE, FIXED_FILE = "crm.sqlite", "mobile.sqlite", "fixed_tv.sqlite"
Progress = Callable[[int, int], None]


class EstateCounts(BaseModel):
    persons: int = 0
    crm_customers: int = 0
    crm_duplicates: int = 0
    mobile_subscribers: int = 0
    fixed_customers: int = 0


class EstateManifest(BaseModel):
    """What was built, from which seed; ``crm_dsn`` None means the SQLite file in the data dir."""

    seed: int
    customers: int
    crm_dsn: str | None = None
    partner_offerings: int = 30
    counts: EstateCounts
    format_version: int = 1

    def crm_url(self, data_dir: Path) -> str:
        return self.crm_dsn or sqlite_dsn(data_dir.resolve() / CRM_FILE)


def mobile_url(data_dir: Path) -> str:
    return sqlite_dsn(data_dir.resolve() / MOBILE_FILE)


def fixed_url(data_dir: Path) -> str:
    return sqlite_dsn(data_dir.resolve() / FIXED_FILE)


def load_manifest(data_dir: Path) -> EstateManifest:
    path = data_dir / MANIFEST_FILE
    if not path.exists():
        raise FileNotFoundError(f"no estate in {data_dir} (run `overlay sim build` first)")
    return EstateManifest.model_validate_json(path.read_text(encoding="utf-8"))


@dataclass
class EstateStores:
    """Open stores of a built estate; ``close`` disposes their engines."""

    crm: CrmStore
    mobile: MobileStore
    fixed: FixedTvStore

    @classmethod
    def open(cls, data_dir: Path, manifest: EstateManifest | None = None) -> EstateStores:
        manifest = manifest or load_manifest(data_dir)
        return cls(CrmStore(manifest.crm_url(data_dir)), MobileStore(mobile_url(data_dir)),
                   FixedTvStore(fixed_url(data_dir)))

    async def close(self) -> None:
        await asyncio.gather(self.crm.dispose(), self.mobile.dispose(), self.fixed.dispose())


@dataclass
class _Batch:
    crm: CrmRows
    mobile: list[dict[str, object]]
    fixed_customers: list[dict[str, object]]
    fixed_products: list[dict[str, object]]
    truth: str


def _rows(persons: list[Person], counts: EstateCounts) -> _Batch:
    crm = CrmRows()
    mobile: list[dict[str, object]] = []
    fixed_c: list[dict[str, object]] = []
    fixed_p: list[dict[str, object]] = []
    for p in persons:
        crm.extend(crm_rows(p))
        mobile.extend(mobile_rows(p))
        fixed = fixed_rows(p)
        if fixed is not None:
            fixed_c.append(fixed[0])
            fixed_p.extend(fixed[1])
        counts.crm_duplicates += p.crm_duplicate
    counts.persons += len(persons)
    counts.crm_customers += len(crm.customers)
    counts.mobile_subscribers += len(mobile)
    counts.fixed_customers += len(fixed_c)
    return _Batch(crm, mobile, fixed_c, fixed_p, truth_lines(persons))


def _clear(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    for name in (CRM_FILE, MOBILE_FILE, FIXED_FILE):
        for suffix in ("", "-wal", "-shm"):
            (data_dir / f"{name}{suffix}").unlink(missing_ok=True)
    for name in (TRUTH_FILE, MANIFEST_FILE, "endpoints.json"):
        (data_dir / name).unlink(missing_ok=True)


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)


def _generate(seed: int, start: int, stop: int) -> tuple[_Batch, EstateCounts]:
    """Rows of persons ``start..stop-1``; top-level so a worker process can run it."""
    counts = EstateCounts()
    return _rows([person(seed, i) for i in range(start, stop)], counts), counts


def _add(total: EstateCounts, part: EstateCounts) -> None:
    for name in EstateCounts.model_fields:
        setattr(total, name, getattr(total, name) + getattr(part, name))


async def _batches(
    seed: int, customers: int, batch_size: int, workers: int
) -> AsyncIterator[tuple[int, _Batch, EstateCounts]]:
    """Generated batches in index order: in-process, or from ``workers`` processes for big estates."""
    ranges = [(s, min(customers, s + batch_size)) for s in range(0, customers, batch_size)]
    if workers <= 1:
        for start, stop in ranges:
            yield stop, *_generate(seed, start, stop)
            await asyncio.sleep(0)  # let the previous batch's inserts progress
        return
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: deque[tuple[int, asyncio.Future[tuple[_Batch, EstateCounts]]]] = deque()
        todo = iter(ranges)
        for start, stop in todo:
            pending.append((stop, loop.run_in_executor(pool, _generate, seed, start, stop)))
            if len(pending) > workers:
                stop_done, future = pending.popleft()
                yield stop_done, *(await future)
        while pending:
            stop_done, future = pending.popleft()
            yield stop_done, *(await future)


async def build_estate(
    data_dir: Path,
    seed: int,
    customers: int,
    crm_dsn: str | None = None,
    *,
    batch_size: int = 5000,
    partner_offerings: int = 30,
    progress: Progress | None = None,
    workers: int | None = None,
) -> EstateManifest:
    """Write every store of a ``customers``-person estate into ``data_dir`` (replacing one there).

    ``workers``: generator processes; default one per CPU from 50,000 customers, else in-process.
    """
    if workers is None:
        workers = (os.cpu_count() or 1) if customers >= 50_000 else 0
    await asyncio.to_thread(_clear, data_dir)
    counts = EstateCounts()
    manifest = EstateManifest(
        seed=seed, customers=customers, crm_dsn=crm_dsn, partner_offerings=partner_offerings, counts=counts
    )
    stores = EstateStores.open(data_dir, manifest)
    truth_path = data_dir / TRUTH_FILE
    try:
        await asyncio.gather(
            stores.crm.create_schema(drop_existing=crm_dsn is not None),
            stores.mobile.create_schema(),
            stores.fixed.create_schema(),
            asyncio.to_thread(truth_path.touch),
        )
        writing: asyncio.Future[tuple[None, None, None, None]] | None = None
        async for done, batch, part in _batches(seed, customers, batch_size, workers):
            _add(counts, part)
            if writing is not None:
                await writing
            writing = asyncio.gather(
                stores.crm.load_rows(batch.crm),
                stores.mobile.load_rows(batch.mobile),
                stores.fixed.load_rows(batch.fixed_customers, batch.fixed_products),
                asyncio.to_thread(_append, truth_path, batch.truth),
            )
            if progress is not None:
                progress(done, customers)
        if writing is not None:
            await writing
    finally:
        await stores.close()
    manifest_json = manifest.model_dump_json(indent=2)
    await asyncio.to_thread((data_dir / MANIFEST_FILE).write_text, manifest_json, "utf-8")
    log.info("estate built", data_dir=str(data_dir), seed=seed, **counts.model_dump())
    return manifest
