"""The conformance tests. Inherit :class:`ConnectorConformance` and provide a ``case`` fixture::

    class TestMyCrm(ConnectorConformance):
        @pytest.fixture
        def case(self) -> ConformanceCase:
            return MyCrmCase()

The suite needs a ``settings`` fixture (``overlay.settings.Settings``) pointing at a real Kafka
broker whose topics exist under a prefix of the test's own (Overlay's ``tests/conftest.py`` has one).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from connectors.config import LoadedConnector, load_config
from connectors.conformance.case import ConformanceCase, Expected
from connectors.conformance.watch import TopicWatch
from connectors.registry import create_source, source_classes, source_types
from connectors.runtime.host import ConnectorHost
from connectors.runtime.runner import RunOptions
from overlay.infra.ports import free_port, wait_for_port
from overlay.settings import Settings

SNAPSHOT_TIMEOUT = 60.0


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "OVERLAY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "OVERLAY_REDIS_URL": settings.redis_url.get_secret_value(),
        "OVERLAY_TOPIC_PREFIX": settings.topic_prefix,
        "OVERLAY_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "OVERLAY_CONNECTORS_PORT": str(settings.connectors_port),
        "OVERLAY_LOG_FORMAT": "json",
    }


class ConnectorConformance:
    """Spec valid, check, discover, snapshot complete, an incremental change picked up, resume
    after a kill loses nothing, a bad record goes to the dead-letter topic."""

    @pytest.fixture
    async def source_case(self, case: ConformanceCase, tmp_path: Path) -> AsyncIterator[ConformanceCase]:
        await case.start(tmp_path / "source")
        try:
            yield case
        finally:
            await case.stop()

    @pytest.fixture
    def kit_settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"connectors_port": free_port()})

    @pytest.fixture
    def config_file(self, source_case: ConformanceCase, tmp_path: Path) -> Path:
        path = tmp_path / "connectors.yaml"
        path.write_text(source_case.config_yaml(), encoding="utf-8")
        return path

    @pytest.fixture
    def loaded(self, source_case: ConformanceCase, config_file: Path) -> LoadedConnector:
        by_name = {c.config.name: c for c in load_config(config_file, source_types())}
        assert source_case.connector in by_name, f"{source_case.connector} not in {config_file}"
        return by_name[source_case.connector]

    @contextlib.asynccontextmanager
    async def _running(self, loaded: LoadedConnector, settings: Settings) -> AsyncIterator[str]:
        host = ConnectorHost([loaded], settings, RunOptions())
        task = asyncio.create_task(host.run())
        try:
            await wait_for_port(settings.connectors_host, settings.connectors_port, 30)
            yield f"http://{settings.connectors_host}:{settings.connectors_port}"
            assert not task.done() or task.exception() is None, task.exception()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- the tests -------------------------------------------------------------------------

    async def test_spec_valid(self, loaded: LoadedConnector) -> None:
        cls = source_classes()[loaded.config.type]
        schema = cls.config_model.model_json_schema()
        assert schema["type"] == "object" and "streams" in schema["properties"]
        assert cls.config_model.model_validate(loaded.config.model_dump(by_alias=True)) == loaded.config

    async def test_check(self, loaded: LoadedConnector) -> None:
        source = create_source(loaded.config)
        try:
            result = await source.check()
        finally:
            await source.close()
        assert result.ok, result.message

    async def test_discover(self, loaded: LoadedConnector) -> None:
        source = create_source(loaded.config)
        try:
            streams = await source.discover()
        finally:
            await source.close()
        assert streams and all(s.name for s in streams)

    async def test_snapshot_complete(self, source_case: ConformanceCase, loaded: LoadedConnector,
                                     kit_settings: Settings) -> None:
        expected = await source_case.snapshot()
        async with TopicWatch(kit_settings) as watch, self._running(loaded, kit_settings) as url:
            await source_case.push(url)
            await watch.until(lambda: not watch.missing(source_case.source_system, expected),
                              SNAPSHOT_TIMEOUT, "a complete snapshot")

    async def test_incremental_change(self, source_case: ConformanceCase, loaded: LoadedConnector,
                                      kit_settings: Settings) -> None:
        expected = await source_case.snapshot()
        async with TopicWatch(kit_settings) as watch, self._running(loaded, kit_settings) as url:
            await source_case.push(url)
            await watch.until(lambda: not watch.missing(source_case.source_system, expected),
                              SNAPSHOT_TIMEOUT, "the snapshot")
            await _picked_up(watch, source_case, await source_case.change(url))

    async def test_resume_after_kill_loses_nothing(self, source_case: ConformanceCase, config_file: Path,
                                                   kit_settings: Settings, tmp_path: Path) -> None:
        expected = await source_case.snapshot()
        args = [sys.executable, "-m", "overlay", "connectors", "run", source_case.connector,
                "--config", str(config_file), "--no-progress"]
        env = _env(kit_settings)
        url = f"http://{kit_settings.connectors_host}:{kit_settings.connectors_port}"
        async with TopicWatch(kit_settings) as watch:
            first = await _spawn(args, env, tmp_path / "run1.log")
            pushing = asyncio.create_task(source_case.push(url))
            # Killed as soon as it has published anything: mid-snapshot for any real source.
            await watch.until(lambda: bool(watch.keys(source_case.source_system)), SNAPSHOT_TIMEOUT,
                              "the first records")
            os.killpg(first.pid, signal.SIGKILL)
            await first.wait()
            second = await _spawn(args, env, tmp_path / "run2.log")
            try:
                await pushing
                await watch.until(lambda: not watch.missing(source_case.source_system, expected),
                                  SNAPSHOT_TIMEOUT, "every record after the restart")
            finally:
                second.terminate()
                await second.wait()

    async def test_bad_record_goes_to_dead_letter(self, source_case: ConformanceCase,
                                                  loaded: LoadedConnector, kit_settings: Settings) -> None:
        expected = await source_case.snapshot()
        async with TopicWatch(kit_settings) as watch, self._running(loaded, kit_settings) as url:
            await source_case.push(url)
            await watch.until(lambda: not watch.missing(source_case.source_system, expected),
                              SNAPSHOT_TIMEOUT, "the snapshot")
            stream = await source_case.bad_record(url)

            def dead_lettered() -> list[dict[str, Any]]:
                return [d for d in watch.dead_letters
                        if d["connector"] == source_case.connector and d["stream"] == stream]

            await watch.until(lambda: bool(dead_lettered()), SNAPSHOT_TIMEOUT, "the dead letter")
            letter = dead_lettered()[0]
            assert letter["reason"] and letter["original"] and isinstance(letter["position"], dict)
            # … and the connector carried on: a later change still arrives.
            await _picked_up(watch, source_case, await source_case.change(url))


async def _picked_up(watch: TopicWatch, case: ConformanceCase, change: Expected) -> None:
    key = (change.entity_type, case.source_system, change.source_key)

    def seen() -> bool:
        return any(change.check is None or change.check(e) for e in watch.events.get(key, []))

    await watch.until(seen, SNAPSHOT_TIMEOUT, f"the change of {change.source_key}")


async def _spawn(args: list[str], env: dict[str, str], log_path: Path) -> asyncio.subprocess.Process:
    with log_path.open("ab") as log:
        return await asyncio.create_subprocess_exec(*args, env=env, stdout=log, stderr=log,
                                                    start_new_session=True)
