"""What every benchmark shares: infrastructure, a peak-memory probe and the JSON result line."""

from __future__ import annotations

import json
import resource
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import SecretStr

from overlay.infra.kafka_admin import ensure_topics
from overlay.infra.stack import LocalStack
from overlay.settings import Settings, get_settings
from overlay.topics import resolve_all


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def emit(result: dict[str, Any]) -> None:
    """Print the benchmark's figures; the JSON object is always the last line."""
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    sys.stdout.flush()


@asynccontextmanager
async def bench_stack(prefix: str) -> AsyncIterator[tuple[LocalStack, Settings]]:
    """Kafka and Redis for a benchmark (started here unless the environment names them)."""
    base = get_settings()
    async with LocalStack(base.var_dir / "bench-infra") as stack:
        settings = base.model_copy(
            update={"kafka_bootstrap": stack.bootstrap, "redis_url": SecretStr(stack.redis_url),
                    "topic_prefix": prefix}
        )
        await ensure_topics(stack.bootstrap, resolve_all(settings))
        yield stack, settings


# --- child processes: the worker, the API, the estate (used by project, freshness, reads) -----------


def child_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for an Overlay subprocess that must use ``settings`` (as tests/conftest.py does)."""
    import os

    url = settings.redis_url
    env = {
        **os.environ,
        "OVERLAY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "OVERLAY_REDIS_URL": url if isinstance(url, str) else url.get_secret_value(),
        "OVERLAY_TOPIC_PREFIX": settings.topic_prefix,
        "OVERLAY_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "OVERLAY_LOG_FORMAT": "json",
        "OVERLAY_LOG_LEVEL": "WARNING",
    }
    env.update(extra)
    return env


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far (from /proc/<pid>/stat; its own threads included)."""
    import os

    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a running process (VmHWM)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def load_average() -> str:
    """The 1/5/15-minute load average, recorded with every result (the machine is shared)."""
    with open("/proc/loadavg") as loadavg:
        return " ".join(loadavg.read().split()[:3])


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prometheus_values(text: str, name: str) -> dict[str, float]:
    """Samples of one metric family from Prometheus text: the label part (``{...}`` or "") → value."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            head, _, value = line.rpartition(" ")
            rest = head[len(name):]
            if rest == "" or rest.startswith("{"):
                out[rest] = float(value)
    return out


def histogram_quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """``q`` of a cumulative histogram (upper bound, count) by linear interpolation inside the bucket
    holding it, as Prometheus's ``histogram_quantile`` does; +Inf falls back to the last finite bound."""
    buckets = sorted(buckets)
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return float("nan")
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def log_file(path: Path) -> BinaryIO:
    """A child process's log, opened for writing (a blocking call, kept out of the async code)."""
    return path.open("wb")
