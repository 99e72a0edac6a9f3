"""The third-party connector template (examples/connector-template) works as docs/connectors.md says.

The template is not installed into the project's virtualenv. Instead the ``installed`` fixture does
what ``pip install`` would do for Overlay's purposes: it writes the package's ``*.dist-info`` with
the entry points declared in its pyproject.toml into a temporary folder and puts that folder and the
package's ``src`` on ``sys.path`` and ``PYTHONPATH``. ``type: jsonl_http`` then resolves through the
real ``overlay.connectors`` entry-point group, in this process and in the ``python -m overlay
connectors run`` subprocess of the kit's resume test.

The conformance case (the JSON Lines server and the connector's YAML) is the template's own
``tests/test_conformance.py``, loaded from its file, so what the template ships is what runs here.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from connectors.config import load_config
from connectors.conformance import ConformanceCase, ConnectorConformance
from connectors.registry import source_classes, source_types
from connectors.sources.base import Checkpoint, SourceRecord, StreamConfig

TEMPLATE = Path(__file__).resolve().parents[3] / "examples" / "connector-template"
SRC = TEMPLATE / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from overlay_jsonl_connector.source import JsonLinesHttpConfig, JsonLinesHttpSource  # noqa: E402


def _template_tests() -> ModuleType:
    """The template's tests/test_conformance.py, under a name that cannot clash with ``tests``."""
    name = "overlay_jsonl_connector_template_tests"
    spec = importlib.util.spec_from_file_location(name, TEMPLATE / "tests" / "test_conformance.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


template = _template_tests()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The template's distribution metadata on sys.path and PYTHONPATH, as an install would leave it."""
    project = tomllib.loads((TEMPLATE / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    site = tmp_path_factory.mktemp("site-packages")
    dist = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n", encoding="utf-8"
    )
    groups = project["entry-points"]
    (dist / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in eps.items())
        for group, eps in groups.items()
    ), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(site))
        mp.setenv("PYTHONPATH", os.pathsep.join(
            p for p in (str(site), str(SRC), os.environ.get("PYTHONPATH", "")) if p
        ))
        importlib.invalidate_caches()
        source_classes.cache_clear()
        try:
            yield site
        finally:
            source_classes.cache_clear()
    importlib.invalidate_caches()


def test_entry_point_makes_the_type_known(installed: Path) -> None:
    assert source_classes()["jsonl_http"] is JsonLinesHttpSource


def test_example_configuration_loads(installed: Path) -> None:
    [loaded] = load_config(TEMPLATE / "connectors.example.yaml", source_types(),
                           environ={"FEED_URL": "http://export-host:8080"})
    assert isinstance(loaded.config, JsonLinesHttpConfig)
    assert [o.entity.value for o in loaded.config.streams[0].outputs] == ["party", "contactMedium"]


# --- the adapter's behaviour, against the template's JSON Lines server in-process (no Kafka) -------
def _source(export: Any, *, chunk_bytes: int = 1024,
            transport: httpx.AsyncBaseTransport | None = None) -> JsonLinesHttpSource:
    config = JsonLinesHttpConfig.model_validate({
        "name": "feed", "type": "jsonl_http", "source_system": "acme", "base_url": "http://export.test",
        "retry": {"attempts": 1},
        "streams": [{"name": "customers", "path": "/export/customers.jsonl", "chunk_bytes": chunk_bytes,
                     "outputs": [{"entity": "party", "key": "id"}]}],
    })
    return JsonLinesHttpSource(config, transport=transport or httpx.ASGITransport(export.app()))


async def _pass(source: JsonLinesHttpSource, state: dict[str, Any]
                ) -> tuple[list[SourceRecord], list[Checkpoint]]:
    records: list[SourceRecord] = []
    checkpoints: list[Checkpoint] = []
    stream: StreamConfig = source.config.streams[0]
    async for item in source.read(stream, state):
        if isinstance(item, SourceRecord):
            records.append(item)
        else:
            checkpoints.append(item)
    return records, checkpoints


@pytest.fixture
def export() -> Any:
    server = template.JsonLinesExport()
    server.append("customers.jsonl", *(template.customer(n) for n in range(1, 41)))
    return server


async def test_reads_in_chunks_resumes_and_asks_conditionally(export: Any) -> None:
    source = _source(export)
    try:
        records, checkpoints = await _pass(source, {})
        assert [r.data["id"] for r in records] == [f"C{n:05d}" for n in range(1, 41)]
        assert len(checkpoints) > 3, "one checkpoint per chunk"
        offsets = [c.state["offset"] for c in checkpoints]
        assert offsets == sorted(offsets) and offsets[-1] == len(export.files["customers.jsonl"])
        final = dict(checkpoints[-1].state)
        assert final["etag"] and all("etag" not in c.state for c in checkpoints[:-1])

        before = export.requests
        assert await _pass(source, final) == ([], [])
        assert export.requests == before + 1, "an unchanged file costs one 304"

        export.append("customers.jsonl", template.customer(41))
        records, checkpoints = await _pass(source, final)
        assert [r.data["id"] for r in records] == ["C00041"]
        assert records[0].position["offset"] == final["offset"]
    finally:
        await source.close()


async def test_unfinished_and_broken_lines(export: Any) -> None:
    source = _source(export)
    try:
        _, checkpoints = await _pass(source, {})
        state = dict(checkpoints[-1].state)
        export.files["customers.jsonl"] += b'{"id": "C00041", "first_na'  # still being written
        export.append("customers.jsonl")  # new ETag
        records, checkpoints = await _pass(source, state)
        assert records == [] and checkpoints[-1].state["offset"] == state["offset"]
        export.files["customers.jsonl"] += b'me": "x"}\nnot json\n[1, 2]\n'
        export.append("customers.jsonl")
        records, _ = await _pass(source, dict(checkpoints[-1].state))
        assert [r.data for r in records] == [{"id": "C00041", "first_name": "x"}, {"_line": "not json"},
                                             {"_line": "[1, 2]"}]
    finally:
        await source.close()


async def test_truncated_file_starts_over(export: Any) -> None:
    source = _source(export)
    try:
        _, checkpoints = await _pass(source, {})
        export.files["customers.jsonl"] = bytearray()
        export.append("customers.jsonl", template.customer(1))
        records, checkpoints = await _pass(source, {"offset": checkpoints[-1].state["offset"]})
        assert records == [] and checkpoints[-1].state == {"offset": 0}
        records, _ = await _pass(source, {"offset": 0})
        assert [r.data["id"] for r in records] == ["C00001"]
    finally:
        await source.close()


async def test_long_lines_and_servers_without_range(export: Any) -> None:
    long = template.customer(99, first_name="x" * 5000)
    export.append("customers.jsonl", long)
    source = _source(export, chunk_bytes=1024)
    try:
        records, _ = await _pass(source, {})
        assert records[-1].data == long
    finally:
        await source.close()

    body = bytes(export.files["customers.jsonl"])
    plain = httpx.MockTransport(lambda request: httpx.Response(200, content=body))  # ignores Range
    source = _source(export, transport=plain)
    try:
        middle = body.index(b"\n", len(body) // 2) + 1
        records, checkpoints = await _pass(source, {"offset": middle})
        assert records[0].position["offset"] == middle and records[-1].data == long
        assert checkpoints[-1].state["offset"] == len(body)
    finally:
        await source.close()


async def test_check_discover_estimate(export: Any) -> None:
    source = _source(export)
    try:
        assert (await source.check()).ok
        [stream] = await source.discover()
        assert stream.name == "customers" and "first_name" in stream.fields
        assert await source.estimate(source.config.streams[0]) == 40
    finally:
        await source.close()


# --- Overlay's conformance kit, with a real Kafka broker ------------------------------------------
class TestTemplateConformance(ConnectorConformance):
    @pytest.fixture
    def case(self, installed: Path) -> ConformanceCase:
        case: ConformanceCase = template.JsonLinesCase()
        return case
