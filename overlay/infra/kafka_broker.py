"""A real Apache Kafka 4.x broker (KRaft, single node) run as a child process.

Real, not a fake: the project's stream processing relies on compaction, consumer groups and
transactions, which only a broker exercises. The jars come from Maven Central
(:mod:`overlay.infra.kafka_install`); the broker runs from them with ``java -cp``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

from overlay.infra.errors import ServiceStartError
from overlay.infra.kafka_admin import wait_for_kafka
from overlay.infra.kafka_config import broker_properties, new_cluster_id, render_properties
from overlay.infra.kafka_install import (
    check_java,
    default_cache_dir,
    default_kafka_version,
    find_java,
    install_kafka,
)
from overlay.infra.paths import kafka_deploy_dir
from overlay.infra.ports import ensure_port_free, free_port
from overlay.infra.process import ChildProcess, LocalServer
from overlay.logging import get_logger

log = get_logger(__name__)


class KafkaBroker(LocalServer):
    """One KRaft broker+controller node on ``host:port``, data and logs under ``data_dir``.

    ``port``/``controller_port`` 0 pick free ports at :meth:`start`. ``properties`` are extra
    server.properties that override the development defaults.
    """

    what = "the broker's"

    def __init__(
        self,
        data_dir: Path,
        *,
        cache_dir: Path | None = None,
        port: int = 0,
        controller_port: int = 0,
        heap: str = "1g",
        properties: Mapping[str, str] | None = None,
        version: str | None = None,
        host: str = "127.0.0.1",
        start_timeout: float = 60.0,
        stop_timeout: float = 20.0,
    ) -> None:
        self.version = version or default_kafka_version()
        self.data_dir = Path(data_dir).resolve()
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir(self.version)
        self.host = host
        self.heap = heap
        self.properties = dict(properties or {})
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._port = port
        self._controller_port = controller_port
        self._proc: ChildProcess | None = None

    # -- paths and addresses ------------------------------------------------------------
    @property
    def libs_dir(self) -> Path:
        return self.cache_dir / "libs"

    @property
    def log_dir(self) -> Path:
        """Kafka's data (``log.dirs``), holding ``meta.properties`` once formatted."""
        return self.data_dir / "kafka-logs"

    @property
    def log_path(self) -> Path:
        """The broker's stdout/stderr (log4j writes to stdout)."""
        return self.data_dir / "broker.log"


    @property
    def controller_port(self) -> int:
        if not self._controller_port:
            raise RuntimeError("the controller port is chosen at start(); start it first")
        return self._controller_port

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


    # -- lifecycle -----------------------------------------------------------------------
    async def ensure_installed(self) -> Path:
        """Fetch the broker jars into ``cache_dir/libs`` unless already there; returns that dir.

        Also fails early, naming what to install, when java is missing: the jars alone are no use.
        """
        find_java()
        return await install_kafka(self.cache_dir, self.version, kafka_deploy_dir() / "pom.xml")

    def _choose_ports(self) -> None:
        if not self._port:
            self._port = free_port(self.host)
        while not self._controller_port or self._controller_port == self._port:
            self._controller_port = free_port(self.host)

    async def _check_ports(self) -> None:
        for port, what in ((self.port, "the Kafka listener"), (self.controller_port, "the KRaft controller")):
            try:
                await ensure_port_free(self.host, port, what)
            except OSError as exc:
                raise ServiceStartError(str(exc)) from None

    def _write_config(self) -> tuple[Path, Path]:
        """Write server.properties and the log4j2 config into data_dir (small synchronous writes)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        props = broker_properties(
            host=self.host,
            port=self.port,
            controller_port=self.controller_port,
            log_dir=self.log_dir,
            extra=self.properties,
        )
        server_props = self.data_dir / "server.properties"
        server_props.write_text(render_properties(props))
        log4j = self.data_dir / "log4j2.yaml"
        shutil.copyfile(kafka_deploy_dir() / "log4j2.yaml", log4j)
        return server_props, log4j

    def _java_args(self, log4j: Path, main: str, *args: str, jvm: tuple[str, ...] = ()) -> list[str]:
        classpath = f"{self.libs_dir}{os.sep}*"
        return [*jvm, f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath, main, *args]

    def _jvm_options(self) -> tuple[str, ...]:
        # No -Xms: the JVM then starts small and grows up to the cap, whatever ``heap`` is.
        return (f"-Xmx{self.heap}", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true")

    async def _format_storage(self, java: str, server_props: Path, log4j: Path) -> None:
        """Format the KRaft log dir on first start only (``meta.properties`` marks it done)."""
        if (self.log_dir / "meta.properties").exists():
            return
        cmd = [
            java,
            *self._java_args(log4j, "kafka.tools.StorageTool", "format", "-t", new_cluster_id(),
                             "-c", str(server_props)),
        ]
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=self.data_dir
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise ServiceStartError(
                f"formatting Kafka storage in {self.log_dir} failed (exit {proc.returncode}):\n"
                + out.decode("utf-8", "replace")[-3000:]
            )

    async def start(self) -> None:
        """Install if needed, format on first use, start java, return once it answers metadata."""
        if self.is_running():
            return
        started = time.monotonic()
        await self.ensure_installed()
        java = find_java()
        await check_java(java)
        server_props, log4j = self.data_dir / "server.properties", self.data_dir / "log4j2.yaml"
        proc = ChildProcess(
            "kafka broker",
            [java, *self._java_args(log4j, "kafka.Kafka", str(server_props), jvm=self._jvm_options())],
            log_path=self.log_path,
            pid_path=self.data_dir / "broker.pid",
            cwd=self.data_dir,
        )
        proc.check_leftover(marker=str(server_props))
        self._choose_ports()
        await self._check_ports()
        await asyncio.to_thread(self._write_config)
        await self._format_storage(java, server_props, log4j)
        self._proc = proc
        await proc.spawn()
        try:
            ready = wait_for_kafka(self.bootstrap, self.start_timeout)
            await proc.wait_until_ready(ready, address=self.bootstrap)
        except BaseException:
            await proc.stop(grace=5.0)
            raise
        log.info(
            "infra.kafka.ready",
            bootstrap=self.bootstrap,
            pid=proc.pid,
            seconds=round(time.monotonic() - started, 2),
        )


