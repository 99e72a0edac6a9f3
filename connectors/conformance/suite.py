"""The conformance tests. Inherit :class:`ConnectorConformance` and provide a ``case`` fixture::

    class TestMyCrm(ConnectorConformance):
        @pytest.fixture
        def case(self) -> ConformanceCase:
            return MyCrmCase()

The suite needs a ``settings`` fixture (``overlay.settings.Settings``) pointing at a real Kafka
broker whose topics exist under a prefix of the test's own (Overlay's ``tests/conftest.py`` has one).

Every wait has a deadline; when one passes, the failure says what was awaited and what was seen
instead (keys still missing, what was published, dead letters, the connector's status or the tail
of the connectors process's log). A connector that crashes fails the test at once, with its cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from connectors.config import LoadedConnector, load_config
from connectors.conformance.case import ConformanceCase, Expected
from connectors.conformance.watch import TopicWatch
from connectors.registry import create_source, source_classes, source_types
from connectors.runtime.host import ConnectorHost
from connectors.runtime.runner import RunOptions
from overlay.events import EntityType
from overlay.infra.ports import free_port, port_open
from overlay.settings import Settings

SNAPSHOT_TIMEOUT = 60.0
CHANGE_TIMEOUT = 30.0
LISTEN_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


class ConformanceWarning(UserWarning):
    """A conformance test passed without proving much (e.g. the kill came after the snapshot)."""


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "OVERLAY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "OVERLAY_REDIS_URL": settings.redis_url.get_secret_value(),
        "OVERLAY_TOPIC_PREFIX": settings.topic_prefix,
        "OVERLAY_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "OVERLAY_CONNECTORS_HOST": settings.connectors_host,
        "OVERLAY_CONNECTORS_PORT": str(settings.connectors_port),
        "OVERLAY_LOG_FORMAT": "json",
    }


def _url(settings: Settings) -> str:
    return f"http://{settings.connectors_host}:{settings.connectors_port}"


@dataclass
class _InProcess:
    """A :class:`ConnectorHost` running as a task of the test's event loop."""

    host: ConnectorHost
    task: asyncio.Task[None]
    url: str

    def status(self) -> str:
        views = [s.view().model_dump(mode="json", exclude={"streams"}) for s in self.host.statuses]
        streams = {s.name: {n: (v.records, v.dead_letters) for n, v in s.streams.items()}
                   for s in self.host.statuses}
        return (f"connector status: {json.dumps(views, default=str)}; "
                f"(events, dead letters) per stream: {streams}")

    def alive(self) -> None:
        if not self.task.done():
            return
        error = None if self.task.cancelled() else self.task.exception()
        raise AssertionError(f"the connector host stopped unexpectedly ({error!r}); {self.status()}")


@dataclass
class _Subprocess:
    """``overlay connectors run`` in its own session (process group), logging to ``log``."""

    process: asyncio.subprocess.Process
    log: Path
    label: str

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        except OSError as exc:
            return f"(no log: {exc})"
        return f"last {len(text)} line(s) of {self.log}:\n" + "\n".join(text)

    def alive(self) -> None:
        code = self.process.returncode
        if code is not None:
            raise AssertionError(
                f"the {self.label} connectors process exited with status {code}\n{self.tail()}"
            )

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    async def kill(self) -> None:
        if self.process.returncode is None:  # never signal a group whose leader is gone (ids are reused)
            self._signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        """SIGTERM to the whole group, SIGKILL if it has not exited within STOP_TIMEOUT."""
        if self.process.returncode is None:
            self._signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                await self.kill()


async def _spawn(args: list[str], env: dict[str, str], log_path: Path, label: str) -> _Subprocess:
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(*args, env=env, stdout=log, stderr=log,
                                                       start_new_session=True)
    return _Subprocess(process, log_path, label)


class ConnectorConformance:
    """Spec valid, check, discover, snapshot complete, an incremental change picked up, resume
    after a kill loses nothing, a bad record goes to the dead-letter topic."""

    snapshot_timeout: ClassVar[float] = SNAPSHOT_TIMEOUT
    change_timeout: ClassVar[float] = CHANGE_TIMEOUT

    @pytest.fixture
    async def source_case(self, case: ConformanceCase, tmp_path: Path) -> AsyncIterator[ConformanceCase]:
        workdir = tmp_path / "source"
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            await case.start(workdir)
            yield case
        finally:
            await case.stop()  # also after a start that failed half-way

    @pytest.fixture
    def kit_settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"connectors_port": free_port(settings.connectors_host)})

    @pytest.fixture
    def config_file(self, source_case: ConformanceCase, tmp_path: Path) -> Path:
        path = tmp_path / "connectors.yaml"
        path.write_text(source_case.config_yaml(), encoding="utf-8")
        return path

    @pytest.fixture
    def loaded(self, source_case: ConformanceCase, config_file: Path) -> LoadedConnector:
        by_name = {c.config.name: c for c in load_config(config_file, source_types())}
        assert source_case.connector in by_name, (
            f"connector {source_case.connector!r} is not in {config_file} (it has {sorted(by_name)})"
        )
        found = by_name[source_case.connector]
        assert found.config.source_system == source_case.source_system, (
            f"connector {source_case.connector!r} publishes as {found.config.source_system!r}, "
            f"the case expects {source_case.source_system!r}"
        )
        return found

    @contextlib.asynccontextmanager
    async def _running(self, loaded: LoadedConnector, settings: Settings) -> AsyncIterator[_InProcess]:
        host = ConnectorHost([loaded], settings, RunOptions())
        run = _InProcess(host, asyncio.create_task(host.run(), name=f"conformance-{loaded.config.name}"),
                         _url(settings))
        try:
            deadline = time.monotonic() + LISTEN_TIMEOUT
            while not await port_open(settings.connectors_host, settings.connectors_port, 0.5):
                run.alive()
                if time.monotonic() > deadline:
                    raise AssertionError(f"the connectors HTTP server did not listen on {run.url} within "
                                         f"{LISTEN_TIMEOUT:.0f}s; {run.status()}")
                await asyncio.sleep(0.05)
            yield run
            run.alive()
        finally:
            run.task.cancel()
            await asyncio.gather(run.task, return_exceptions=True)

    async def _snapshot(
        self, watch: TopicWatch, case: ConformanceCase, expected: dict[EntityType, set[str]], what: str,
        alive: Callable[[], None], status: Callable[[], str] | None = None,
    ) -> None:
        total = sum(len(keys) for keys in expected.values())
        assert total, "the case's snapshot() expects nothing: a conformance case needs some data"

        def explain() -> str:
            lines = [f"still missing (up to 10 per entity type) of {total} expected: "
                     f"{watch.missing(case.source_system, expected)}",
                     watch.summary(case.source_system, case.connector)]
            if status is not None:
                lines.append(status())
            return "\n".join(lines)

        await watch.until(lambda: not watch.missing(case.source_system, expected), self.snapshot_timeout,
                          what, explain=explain, alive=alive)

    async def _picked_up(self, watch: TopicWatch, case: ConformanceCase, change: Expected,
                         alive: Callable[[], None], status: Callable[[], str]) -> None:
        def seen() -> bool:
            events = watch.of(change.entity_type, case.source_system, change.source_key)
            return any(change.check is None or change.check(e) for e in events)

        def explain() -> str:
            events = watch.of(change.entity_type, case.source_system, change.source_key)
            shown = [e.model_dump(mode="json", include={"operation", "version", "modified_at", "payload"})
                     for e in events[-3:]]
            found = (f"{len(events)} event(s) for it, none passing the case's check; the last ones: "
                     f"{json.dumps(shown, default=str)[:1500]}" if events else "no event for it at all")
            return f"{found}\n{watch.summary(case.source_system, case.connector)}\n{status()}"

        await watch.until(seen, self.change_timeout,
                          f"the change of {change.entity_type.value} {change.source_key!r}",
                          explain=explain, alive=alive)

    # --- the tests -------------------------------------------------------------------------

    async def test_spec_valid(self, loaded: LoadedConnector) -> None:
        cls = source_classes()[loaded.config.type]
        assert isinstance(loaded.config, cls.config_model), (
            f"loaded as {type(loaded.config).__name__}, not {cls.__name__}.config_model "
            f"({cls.config_model.__name__})"
        )
        schema = cls.config_model.model_json_schema()
        assert schema.get("type") == "object" and "streams" in schema.get("properties", {}), (
            f"{cls.config_model.__name__}'s JSON schema has no streams property"
        )
        again = cls.config_model.model_validate(loaded.config.model_dump(by_alias=True))
        assert again == loaded.config, (
            f"{cls.config_model.__name__} does not survive dump → validate unchanged:\n"
            f"before: {loaded.config!r}\nafter:  {again!r}"
        )

    async def test_check(self, loaded: LoadedConnector) -> None:
        source = create_source(loaded.config)
        try:
            result = await source.check()
        finally:
            await source.close()
        assert result.ok, f"check() failed: {result.message} {dict(result.details)}"

    async def test_discover(self, loaded: LoadedConnector) -> None:
        source = create_source(loaded.config)
        try:
            streams = await source.discover()
        finally:
            await source.close()
        assert streams, "discover() found no stream"
        assert all(s.name for s in streams), f"discover() gave a stream without a name: {streams}"

    async def test_snapshot_complete(self, source_case: ConformanceCase, loaded: LoadedConnector,
                                     kit_settings: Settings) -> None:
        expected = await source_case.snapshot()
        async with TopicWatch(kit_settings) as watch, self._running(loaded, kit_settings) as run:
            await source_case.push(run.url)
            await self._snapshot(watch, source_case, expected, "a complete snapshot", run.alive, run.status)

    async def test_incremental_change(self, source_case: ConformanceCase, loaded: LoadedConnector,
                                      kit_settings: Settings) -> None:
        expected = await source_case.snapshot()
        async with TopicWatch(kit_settings) as watch, self._running(loaded, kit_settings) as run:
            await source_case.push(run.url)
            await self._snapshot(watch, source_case, expected, "the snapshot", run.alive, run.status)
            change = await source_case.change(run.url)
            await self._picked_up(watch, source_case, change, run.alive, run.status)

    async def test_resume_after_kill_loses_nothing(self, source_case: ConformanceCase, config_file: Path,
                                                   kit_settings: Settings, tmp_path: Path) -> None:
        expected = await source_case.snapshot()
        args = [sys.executable, "-m", "overlay", "connectors", "run", source_case.connector,
                "--config", str(config_file), "--no-progress"]
        env = _env(kit_settings)
        url = _url(kit_settings)
        processes: list[_Subprocess] = []
        pushing: asyncio.Task[None] | None = None
        async with TopicWatch(kit_settings) as watch:
            try:
                first = await _spawn(args, env, tmp_path / "run1.log", "first")
                processes.append(first)
                pushing = asyncio.create_task(source_case.push(url))

                def first_alive() -> None:
                    first.alive()
                    if pushing.done() and not pushing.cancelled() and pushing.exception() is not None:
                        raise AssertionError(f"push() failed: {pushing.exception()!r}\n{first.tail()}")

                # Killed as soon as it has published anything: mid-snapshot for any real source.
                system = source_case.source_system
                await watch.until(lambda: bool(watch.keys(system)), self.snapshot_timeout,
                                  "the first records", alive=first_alive,
                                  explain=lambda: f"{watch.summary(system)}\n{first.tail()}")
                await first.kill()
                if not watch.missing(source_case.source_system, expected):
                    warnings.warn(ConformanceWarning(
                        f"{source_case.connector}: the whole snapshot was published before the kill, so "
                        "this run did not show that a restart resumes without loss; give the case more "
                        "data or smaller pages"
                    ), stacklevel=1)
                second = await _spawn(args, env, tmp_path / "run2.log", "second (after the kill)")
                processes.append(second)
                try:
                    await asyncio.wait_for(asyncio.shield(pushing), self.snapshot_timeout)
                except TimeoutError:
                    raise AssertionError(f"push() did not finish within {self.snapshot_timeout:.0f}s "
                                         f"of the restart\n{second.tail()}") from None
                await self._snapshot(watch, source_case, expected, "every record after the restart",
                                     second.alive, second.tail)
            finally:
                if pushing is not None and not pushing.done():
                    pushing.cancel()
                    await asyncio.gather(pushing, return_exceptions=True)
                for process in processes:
                    await process.stop()

    async def test_bad_record_goes_to_dead_letter(self, source_case: ConformanceCase,
                                                  loaded: LoadedConnector, kit_settings: Settings) -> None:
        expected = await source_case.snapshot()
        connector = source_case.connector
        async with TopicWatch(kit_settings) as watch, self._running(loaded, kit_settings) as run:
            await source_case.push(run.url)
            await self._snapshot(watch, source_case, expected, "the snapshot", run.alive, run.status)
            before = len(watch.dead_letters_of(connector))
            stream = await source_case.bad_record(run.url)
            stream_names = [s.name for s in loaded.config.streams]
            assert stream in stream_names, f"bad_record() returned {stream!r}, not a stream of {stream_names}"

            def new_letters() -> list[dict[str, Any]]:
                return [d for d in watch.dead_letters_of(connector)[before:] if d.get("stream") == stream]

            def explain() -> str:
                others = watch.dead_letters_of(connector)[before:]
                return (f"new dead letters of {connector!r} in other streams: "
                        f"{[(d.get('stream'), str(d.get('reason'))[:100]) for d in others]}\n"
                        f"{watch.summary(source_case.source_system, connector)}\n{run.status()}")

            await watch.until(lambda: bool(new_letters()), self.change_timeout,
                              f"a dead letter from {connector!r} stream {stream!r}",
                              explain=explain, alive=run.alive)
            letter = new_letters()[0]
            assert letter.get("reason"), f"the dead letter gives no reason: {letter}"
            assert isinstance(letter.get("original"), dict) and letter["original"], (
                f"the dead letter does not carry the original record: {letter}"
            )
            assert isinstance(letter.get("position"), dict), f"the dead letter has no position: {letter}"
            # … and the connector carried on: a later change still arrives.
            change = await source_case.change(run.url)
            await self._picked_up(watch, source_case, change, run.alive, run.status)
