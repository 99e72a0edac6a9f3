"""What every benchmark shares: infrastructure, a peak-memory probe and the JSON result line."""

from __future__ import annotations

import json
import resource
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

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
            update={"kafka_bootstrap": stack.bootstrap, "redis_url": stack.redis_url,
                    "topic_prefix": prefix}
        )
        await ensure_topics(stack.bootstrap, resolve_all(settings))
        yield stack, settings
