"""``overlay demo``: the whole walking skeleton on one machine, in the foreground.

Starts Kafka and Redis (or uses the ones named by ``OVERLAY_KAFKA_BOOTSTRAP`` /
``OVERLAY_REDIS_URL``), builds the simulated legacy estate once, then runs every process as a
supervised child: the estate's servers, its change generator, the connectors, the workers and the
API. Ctrl-C or SIGTERM stops the children, then the servers it started; nothing is left behind.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from rich.console import Console

from overlay.infra.kafka_admin import ensure_topics
from overlay.infra.stack import LocalStack
from overlay.lifecycle import wait_for_stop_signal
from overlay.logging import get_logger
from overlay.settings import get_settings
from overlay.supervisor import Child, Supervisor
from overlay.topics import resolve_all

log = get_logger(__name__)
console = Console(stderr=True)


def _overlay(*args: str) -> list[str]:
    return [sys.executable, "-m", "overlay", *args]


async def _wait_for_file(path_exists: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path_exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the legacy estate did not start in time")
        await asyncio.sleep(0.2)


async def _wait_for_api(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(url)).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
    return False


async def run_demo(customers: int, change_rate: float) -> int:
    from legacy_sim.estate import build_estate
    from legacy_sim.serve import load_endpoints

    s = get_settings()
    sim_dir = s.sim_dir
    supervisor = Supervisor()
    stop = asyncio.create_task(wait_for_stop_signal())
    async with LocalStack(s.var_dir / "infra") as stack:
        report = await ensure_topics(stack.bootstrap, resolve_all(s))
        log.info("demo.topics", created=len(report.created), unchanged=len(report.unchanged))
        if not (sim_dir / "ground_truth.jsonl").exists():
            console.print(f"Building the legacy estate ({customers} customers) in {sim_dir} …")
            await build_estate(sim_dir, seed=42, customers=customers, crm_dsn=None)
        env = {
            "OVERLAY_KAFKA_BOOTSTRAP": stack.bootstrap,
            "OVERLAY_REDIS_URL": stack.redis_url,
            "OVERLAY_SIM_DIR": str(sim_dir),
            # People watch the demo: readable lines unless the environment asks for JSON.
            "OVERLAY_LOG_FORMAT": os.environ.get("OVERLAY_LOG_FORMAT", "console"),
        }
        endpoints = sim_dir / "endpoints.json"
        endpoints.unlink(missing_ok=True)
        try:
            await supervisor.start(
                Child("legacy-estate", _overlay("sim", "serve", "--data-dir", str(sim_dir)), env)
            )
            await _wait_for_file(endpoints.exists, 60)
            env |= load_endpoints(sim_dir).as_env()
            await supervisor.start(Child("customer-cache", _overlay("worker", "customer-cache"), env))
            await supervisor.start(Child("connectors", _overlay("connectors", "run"), env))
            await supervisor.start(Child("api", _overlay("api"), env))
            await supervisor.start(Child(
                "change-generator",
                _overlay("sim", "changes", "--data-dir", str(sim_dir), "--rate", str(change_rate)),
                env,
            ))
            api = f"http://{s.api_host}:{s.api_port}"
            healthy = await _wait_for_api(f"{api}/health", 90)
            _print_where_to_look(api, stack, endpoints, healthy)
            await stop
        finally:
            stop.cancel()
            console.print("Stopping …")
            await supervisor.stop_all()
    console.print("Stopped; no process left behind.")
    return 0


def _print_where_to_look(api: str, stack: LocalStack, endpoints: Path, healthy: bool) -> None:
    s = get_settings()
    state = "[green]healthy[/]" if healthy else "[red]not healthy yet[/] (see the logs)"
    console.print(
        f"\n[bold]Overlay demo is running[/] — API {state}\n"
        f"  Customers (TMF629)  {api}/tmf-api/customerManagement/v4/customer?limit=5\n"
        f"  API docs            {api}/docs\n"
        f"  Health              {api}/health\n"
        f"  Connectors          overlay connectors status  (http://{s.connectors_host}:{s.connectors_port}/status"
        ", /metrics)\n"
        f"  Kafka               {stack.bootstrap}\n"
        f"  Redis               {stack.redis_url}\n"
        f"  Legacy estate       {endpoints} (CRM database, BSS and back-end addresses)\n"
        "Ctrl-C stops everything.\n"
    )
