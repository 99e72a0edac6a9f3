"""Run every server of the estate in one process and one event loop, each on its own port.

``uvicorn.Server`` instances share the loop; port 0 lets the OS choose. Once every server answers
its health check, ``data_dir/endpoints.json`` is written so connectors and tests can find them;
it is removed again on shutdown. Signal handling is left to the caller (CLI or pytest).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import httpx
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

from legacy_sim.estate import EstateManifest, EstateStores, load_manifest
from legacy_sim.fixed_tv_bss import create_fixed_tv_app
from legacy_sim.mobile_bss import create_mobile_app
from legacy_sim.order_backend import BACKEND_SYSTEMS, create_order_backend
from legacy_sim.partner_catalog import create_partner_catalog_app
from legacy_sim.partner_data import PARTNERS, PartnerCatalog
from overlay.lifecycle import HostedServer
from overlay.logging import get_logger

log = get_logger(__name__)

ENDPOINTS_FILE: Final = "endpoints.json"
# Fixed offsets from --port-base, in this order.
SERVICE_NAMES: Final = (
    "mobile", "fixed_tv", "partner_streamflix", "partner_shieldsec",
    *(f"backend_{s}" for s in BACKEND_SYSTEMS),
)


class Endpoints(BaseModel):
    crm_dsn: str
    mobile: str
    fixed_tv: str
    partner_streamflix: str
    partner_shieldsec: str
    backend_mobile: str
    backend_fixed: str
    backend_tv: str
    backend_partner: str

    def as_env(self) -> dict[str, str]:
        """Every address as ``OVERLAY_SIM_<NAME>``: what deploy/connectors/demo.yaml reads."""
        return {f"OVERLAY_SIM_{name.upper()}": str(value) for name, value in self.model_dump().items()}


class ServeOptions(BaseModel):
    host: str = "127.0.0.1"
    port_base: int | None = None  # None: every server on a free port chosen by the OS
    mobile_token: str | None = None
    mobile_rate_limit_per_s: float | None = None
    order_progress_seconds: float = 5.0
    partner_offerings: int | None = None  # None: as built (manifest)


def load_endpoints(data_dir: Path) -> Endpoints:
    return Endpoints.model_validate_json((data_dir / ENDPOINTS_FILE).read_text(encoding="utf-8"))


class EstateServer:
    """All simulated servers of one estate; ``start``/``stop`` or ``async with serve(...)``."""

    def __init__(self, data_dir: Path, options: ServeOptions | None = None) -> None:
        self.data_dir = data_dir
        self.options = options or ServeOptions()
        self.manifest: EstateManifest = load_manifest(data_dir)
        self.stores = EstateStores.open(data_dir, self.manifest)
        self.apps: dict[str, FastAPI] = self._build_apps()
        self._servers: dict[str, HostedServer] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.endpoints: Endpoints | None = None

    def _build_apps(self) -> dict[str, FastAPI]:
        opts = self.options
        size = opts.partner_offerings or self.manifest.partner_offerings
        apps: dict[str, FastAPI] = {
            "mobile": create_mobile_app(
                self.stores.mobile, token=opts.mobile_token, rate_limit_per_s=opts.mobile_rate_limit_per_s
            ),
            "fixed_tv": create_fixed_tv_app(self.stores.fixed),
        }
        for slug, spec in PARTNERS.items():
            apps[f"partner_{slug}"] = create_partner_catalog_app(
                PartnerCatalog(spec, size=size, seed=self.manifest.seed)
            )
        for system in BACKEND_SYSTEMS:
            apps[f"backend_{system}"] = create_order_backend(
                system, progress_seconds=opts.order_progress_seconds
            )
        return apps

    async def start(self) -> Endpoints:
        urls: dict[str, str] = {}
        try:
            for offset, name in enumerate(SERVICE_NAMES):
                port = 0 if self.options.port_base is None else self.options.port_base + offset
                urls[name] = await self._start_one(name, port)
            await self._wait_healthy(urls)
        except BaseException:
            await self.stop()
            raise
        self.endpoints = Endpoints(crm_dsn=self.manifest.crm_url(self.data_dir), **urls)
        text = self.endpoints.model_dump_json(indent=2)
        await asyncio.to_thread(_write_atomic, self.data_dir / ENDPOINTS_FILE, text)
        log.info("legacy estate serving", data_dir=str(self.data_dir), **urls)
        return self.endpoints

    async def _start_one(self, name: str, port: int) -> str:
        config = uvicorn.Config(
            self.apps[name], host=self.options.host, port=port, log_config=None, access_log=False,
            lifespan="off", log_level="warning",
        )
        server = HostedServer(config)
        task = asyncio.create_task(server.serve(), name=f"legacy-sim-{name}")
        self._servers[name], self._tasks[name] = server, task
        while not server.started:
            if task.done():
                raise RuntimeError(f"{name} server failed to start on port {port}: {task.exception()!r}")
            await asyncio.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()[1]
        return f"http://{self.options.host}:{bound}"

    async def _wait_healthy(self, urls: dict[str, str], timeout: float = 10.0) -> None:
        async with httpx.AsyncClient(timeout=2.0) as client:
            for name, url in urls.items():
                deadline = asyncio.get_running_loop().time() + timeout
                while True:
                    try:
                        if (await client.get(f"{url}/healthz")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if asyncio.get_running_loop().time() > deadline:
                        raise TimeoutError(f"{name} at {url} did not become healthy")
                    await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Graceful shutdown of every server, then the stores; safe to call twice."""
        for server in self._servers.values():
            server.should_exit = True
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._servers.clear()
        self._tasks.clear()
        await self.stores.close()
        await asyncio.to_thread((self.data_dir / ENDPOINTS_FILE).unlink, True)
        self.endpoints = None


@contextlib.asynccontextmanager
async def serve(data_dir: Path, options: ServeOptions | None = None) -> AsyncIterator[EstateServer]:
    """``async with serve(dir) as estate: estate.endpoints.mobile`` - stops on exit or cancel."""
    server = EstateServer(data_dir, options)
    await server.start()
    try:
        yield server
    finally:
        await asyncio.shield(server.stop())


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)

