"""Every benchmark by name, for ``overlay bench NAME`` and ``make bench BENCH=NAME``."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any

from bench.common import emit

BENCHMARKS: dict[str, str] = {
    "publish": "bench.publish",
    "ingest": "bench.ingest",
    "project": "bench.project",
    "freshness": "bench.freshness",
    "reads": "bench.reads",
}


async def run_benchmarks(name: str) -> int:
    names = list(BENCHMARKS) if name == "all" else [name]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; known: {', '.join(BENCHMARKS)}")
        return 2
    for bench_name in names:
        module = importlib.import_module(BENCHMARKS[bench_name])
        runner: Callable[[], Awaitable[dict[str, Any]]] = module.run
        emit(await runner())
    return 0
