"""`overlay demo` (what `make demo` runs): serves the skeleton's read, stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio

import httpx
import psutil

from overlay.infra.ports import free_port
from tests.conftest import child_env
from tests.integration.helpers import ChildProcess, eventually


async def test_demo_serves_customers_and_leaves_no_process_behind(settings, tmp_path):
    port = free_port()
    env = child_env(settings) | {
        "OVERLAY_API_PORT": str(port),
        "OVERLAY_VAR_DIR": str(tmp_path / "var"),
    }
    demo = await ChildProcess(["demo", "--customers", "100", "--change-rate", "5"], env,
                              tmp_path / "demo.log").start()
    assert demo.process is not None
    me = psutil.Process(demo.process.pid)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:

            async def customers() -> bool:
                try:
                    r = await client.get("/tmf-api/customerManagement/v4/customer", params={"limit": 1})
                except httpx.TransportError:
                    return False
                return r.status_code in (200, 206) and int(r.headers["X-Total-Count"]) >= 100

            await eventually(customers, 120, what=demo.describe("the demo's customers in the API"))
        descendants = me.children(recursive=True)
        assert len(descendants) >= 5  # estate, worker, connectors, API, change generator
    finally:
        assert demo.process.returncode is None, demo.log()[-3000:]
        demo.process.terminate()  # SIGTERM to the demo only, as a service manager would
        code = await asyncio.wait_for(demo.process.wait(), 60)
    assert code == 0, demo.log()[-3000:]
    assert "Stopped; no process left behind." in demo.log()
    await asyncio.sleep(0.5)
    alive = [p for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [p.cmdline() for p in alive]
    assert (settings.sim_dir / "ground_truth.jsonl").exists()
