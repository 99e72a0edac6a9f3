"""Shared pieces of the conformance cases: the demo configuration of one connector as
self-contained YAML, a simulated server on a free port, and a patient pusher."""

from __future__ import annotations

import asyncio
import copy
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml
from fastapi import FastAPI

from connectors.config import read_yaml
from overlay.lifecycle import HostedServer

DEMO = Path(__file__).resolve().parents[4] / "deploy" / "connectors" / "demo.yaml"
SEED = 42

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _interpolate(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env) for v in value]
    if isinstance(value, str):
        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                raise KeyError(f"the demo configuration needs {name}; give it to demo_connector_yaml")
            return env[name]

        return _ENV_REF.sub(sub, value)
    return value


def demo_connector_yaml(
    name: str,
    env: Mapping[str, str],
    *,
    streams: Mapping[str, Mapping[str, Any]] | None = None,
    only_streams: list[str] | None = None,
    **settings: Any,
) -> str:
    """The ``name`` connector of deploy/connectors/demo.yaml (YAML merge keys resolved, ``${VAR}``
    filled from ``env``) as a one-connector YAML file. ``settings`` replace connector-level values
    (poll intervals, page sizes); ``streams`` maps a stream name to values replacing its own (never
    its mapping: the conformance tests exercise the demo mapping as deployed)."""
    document = read_yaml(DEMO.read_text(encoding="utf-8"))
    entries = {entry["name"]: entry for entry in document["connectors"]}
    entry = copy.deepcopy(entries[name])
    entry.update(settings)
    by_stream = {s["name"]: s for s in entry["streams"]}
    for stream, values in (streams or {}).items():
        assert "outputs" not in values, "the demo mapping is what is under test"
        by_stream[stream].update(copy.deepcopy(dict(values)))
    if only_streams is not None:
        entry["streams"] = [by_stream[s] for s in only_streams]
    return yaml.safe_dump({"connectors": [_interpolate(entry, env)]}, sort_keys=False, allow_unicode=True)


class AppServer:
    """A simulated legacy server (a FastAPI app) on a free loopback port, in the test's event loop."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.server = HostedServer(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None,
                                                  access_log=False, lifespan="off", log_level="warning"))
        self._task: asyncio.Task[None] | None = None
        self.url = ""

    async def start(self) -> str:
        self._task = asyncio.create_task(self.server.serve(), name=f"sim-{self.app.title}")
        while not self.server.started:
            if self._task.done():
                raise RuntimeError(f"{self.app.title} did not start: {self._task.exception()!r}")
            await asyncio.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._task is not None:
            self.server.should_exit = True
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


async def push_until_accepted(
    client: httpx.AsyncClient, url: str, body: bytes, headers: Mapping[str, str] | None = None,
    *, timeout: float = 60.0,
) -> None:
    """POST ``body`` until the receiver answers 202, as a legacy sender with a retry queue would:
    connection errors (the process is down or restarting), timeouts and 503 (backpressure, not yet
    durable) are retried; anything else is a failure of the test."""
    deadline = time.monotonic() + timeout
    last = "no attempt"
    while time.monotonic() < deadline:
        try:
            response = await client.post(url, content=body, headers={"content-type": "application/json",
                                                                     **(headers or {})})
        except httpx.TransportError as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code == 202:
                return
            if response.status_code != 503:
                raise AssertionError(f"POST {url} answered {response.status_code}: {response.text[:300]}")
            last = f"HTTP {response.status_code}"
        await asyncio.sleep(0.1)
    raise AssertionError(f"POST {url} not accepted within {timeout:.0f}s (last: {last})")
