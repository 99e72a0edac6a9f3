"""Runs many connectors in one process without them blocking each other.

Each connector is its own task; a slow or dead source only delays itself. The process also serves
status, Prometheus metrics and the webhook receivers on one port.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import uvicorn

from connectors.config import LoadedConnector
from connectors.offsets import OffsetStore
from connectors.registry import create_source
from connectors.runtime.runner import ConnectorRunner, RunOptions
from connectors.runtime.server import create_status_app
from connectors.runtime.status import ConnectorStatus, Metrics
from connectors.sources.base import Source
from overlay.kafka import EventPublisher
from overlay.lifecycle import HostedServer
from overlay.logging import get_logger
from overlay.settings import Settings

log = get_logger(__name__)


class ConnectorHost:
    def __init__(
        self, loaded: Sequence[LoadedConnector], settings: Settings, options: RunOptions = RunOptions(),
        *, serve_http: bool = True,
    ) -> None:
        self.settings = settings
        self.options = options
        self.metrics = Metrics()
        self.sources: list[Source[Any]] = [create_source(c.config) for c in loaded]
        self.statuses = [
            ConnectorStatus(c.config.name, c.config.type, c.config.source_system,
                            [s.name for s in c.config.streams], self.metrics)
            for c in loaded
        ]
        self._loaded = list(loaded)
        self._serve_http = serve_http

    async def run(self) -> None:
        """Run every connector until cancelled (or until each finished one pass with ``once``)."""
        server: HostedServer | None = None
        serving: asyncio.Task[None] | None = None
        async with EventPublisher.create(self.settings) as publisher:
            offsets = OffsetStore(publisher, self.settings)
            runners = [
                ConnectorRunner(c.config, src, c.compiled, publisher, offsets, st, self.options,
                                self.settings)
                for c, src, st in zip(self._loaded, self.sources, self.statuses, strict=True)
            ]
            if self._serve_http:
                app = create_status_app(self.statuses, self.sources, self.metrics)
                server = HostedServer(uvicorn.Config(
                    app, host=self.settings.connectors_host, port=self.settings.connectors_port,
                    log_config=None, access_log=False,
                ))
                serving = asyncio.create_task(server.serve())
            try:
                results = await asyncio.gather(*(r.run() for r in runners), return_exceptions=True)
                failures = [(r.config.name, e) for r, e in zip(runners, results, strict=True)
                            if isinstance(e, BaseException)]
                for name, error in failures:
                    log.error("connector.failed", connector=name, error=f"{type(error).__name__}: {error}")
                if failures:
                    raise RuntimeError(f"{len(failures)} connector(s) failed: "
                                       + ", ".join(name for name, _ in failures))
            finally:
                if server is not None and serving is not None:
                    server.should_exit = True
                    with contextlib.suppress(asyncio.CancelledError):
                        await serving
                for source in self.sources:
                    await source.close()
