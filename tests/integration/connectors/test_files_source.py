"""The file-drop adapter on a real folder: drops of each format, commit-then-move, failures, settling."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connectors.sources.base import Checkpoint, SourceRecord
from connectors.sources.files import FilesSource, FilesSourceConfig, FileStream

OUTPUT = [{"entity": "party", "key": "id"}]


def files_config(inbox: Path, **overrides: Any) -> FilesSourceConfig:
    """A drop folder with one stream per format, as a deployment would configure it in YAML."""
    streams = [
        {"name": "customers", "pattern": "customers_*.csv", "format": "csv", "delimiter": ";",
         "outputs": OUTPUT},
        {"name": "orders", "pattern": "orders_*.json", "format": "json", "outputs": OUTPUT},
        {"name": "products", "pattern": "products_*.xml", "format": "xml",
         "records_path": "Export.Product", "force_list": ["Price"], "outputs": OUTPUT},
    ]
    return FilesSourceConfig.model_validate(
        {"name": "drop", "type": "files", "source_system": "partner", "inbox": str(inbox),
         "streams": streams, **overrides}
    )


def drop(path: Path, text: str, *, age_s: float = 5.0) -> Path:
    path.write_text(text, encoding="utf-8")
    moment = time.time() - age_s
    os.utime(path, (moment, moment))
    return path


async def one_pass(
    source: FilesSource, stream: FileStream, state: Mapping[str, Any] | None = None
) -> tuple[list[SourceRecord], list[Checkpoint]]:
    records: list[SourceRecord] = []
    checkpoints: list[Checkpoint] = []
    async for item in source.read(stream, state or {}):
        if isinstance(item, SourceRecord):
            records.append(item)
        else:
            assert isinstance(item, Checkpoint)
            checkpoints.append(item)
    return records, checkpoints


async def commit(checkpoints: list[Checkpoint]) -> None:
    for checkpoint in checkpoints:
        assert checkpoint.on_commit is not None
        await checkpoint.on_commit()


async def test_csv_drop_moves_to_processed_only_after_commit(tmp_path: Path) -> None:
    source = FilesSource(files_config(tmp_path))
    customers = source.config.streams[0]
    drop(tmp_path / "customers_2.csv", "id;name\n3;Carl\n", age_s=5)
    first = drop(tmp_path / "customers_1.csv", 'id;name\n1;"Anna\nMaria"\n2;Bernd\n', age_s=10)

    records, checkpoints = await one_pass(source, customers)
    assert [r.data["id"] for r in records] == ["1", "2", "3"]  # oldest file first
    assert records[0].data["name"] == "Anna\nMaria"
    assert records[0].position == {"file": "customers_1.csv", "line": 3}
    assert [c.state["file"] for c in checkpoints] == ["customers_1.csv", "customers_2.csv"]
    assert first.exists()  # not committed yet: still in the inbox
    assert (await one_pass(source, customers))[0] == []  # in flight: not read twice

    await commit(checkpoints)
    assert not first.exists()
    processed = sorted(p.name for p in (tmp_path / "processed").iterdir())
    assert processed == ["customers_1.csv", "customers_2.csv"]
    assert (await one_pass(source, customers))[0] == []


async def test_json_array_json_lines_and_xml_drops(tmp_path: Path) -> None:
    source = FilesSource(files_config(tmp_path))
    customers, orders, products = source.config.streams
    drop(tmp_path / "orders_1.json", json.dumps([{"id": "O1", "lines": [1, 2]}, {"id": "O2"}]), age_s=9)
    drop(tmp_path / "orders_2.json", '{"id": "O3"}\n\n{"id": "O4"}\n', age_s=8)
    drop(
        tmp_path / "products_1.xml",
        '<?xml version="1.0"?><Export><Product id="P1"><Name>Fibre 1000</Name><Price>10</Price>'
        '</Product><Product id="P2"><Name>TV</Name><Price>5</Price><Price>7</Price></Product></Export>',
    )
    records, checkpoints = await one_pass(source, orders)
    assert [r.data["id"] for r in records] == ["O1", "O2", "O3", "O4"]
    assert records[1].position == {"file": "orders_1.json", "index": 1}
    assert records[2].position == {"file": "orders_2.json", "line": 1}
    await commit(checkpoints)

    records, checkpoints = await one_pass(source, products)
    assert [r.data for r in records] == [
        {"@id": "P1", "Name": "Fibre 1000", "Price": ["10"]},
        {"@id": "P2", "Name": "TV", "Price": ["5", "7"]},
    ]
    await commit(checkpoints)
    assert sorted(p.name for p in (tmp_path / "processed").iterdir()) == [
        "orders_1.json", "orders_2.json", "products_1.xml",
    ]
    assert (await one_pass(source, customers))[0] == []


async def test_a_bad_file_goes_to_failed_with_a_reason_and_the_adapter_carries_on(tmp_path: Path) -> None:
    source = FilesSource(files_config(tmp_path))
    orders = source.config.streams[1]
    drop(tmp_path / "orders_1.json", "this is not json", age_s=9)
    drop(tmp_path / "orders_2.json", '[{"id": "A"}, {"id": "B"}, {"id": ', age_s=8)  # breaks after 2
    drop(tmp_path / "orders_3.json", '[{"id": "C"}]', age_s=7)

    records, checkpoints = await one_pass(source, orders)
    assert [r.data["id"] for r in records] == ["A", "B", "C"]
    failed = tmp_path / "failed"
    assert (failed / "orders_1.json").exists()  # nothing read from it: moved at once
    reason = (failed / "orders_1.json.reason").read_text()
    assert "file: orders_1.json" in reason and "error: FileFormatError: line 1" in reason
    assert (tmp_path / "orders_2.json").exists()  # its two records must be committed first
    await commit(checkpoints)
    assert "records read before the error: 2" in (failed / "orders_2.json.reason").read_text()
    assert (tmp_path / "processed" / "orders_3.json").exists()
    assert not (tmp_path / "orders_1.json").exists() and not (tmp_path / "orders_2.json").exists()


async def test_files_still_being_written_are_not_picked_up(tmp_path: Path) -> None:
    source = FilesSource(files_config(tmp_path, settle_seconds=1.0))
    customers = source.config.streams[0]
    growing = drop(tmp_path / "customers_1.csv", "id;name\n1;Anna\n", age_s=0)
    assert (await one_pass(source, customers))[0] == []
    old = time.time() - 2
    os.utime(growing, (old, old))
    records, _ = await one_pass(source, customers)
    assert [r.data["id"] for r in records] == ["1"]

    marked = FilesSource(files_config(tmp_path / "marked", done_suffix=".done", settle_seconds=0))
    (tmp_path / "marked").mkdir()
    data = drop(tmp_path / "marked" / "customers_9.csv", "id;name\n9;Ida\n", age_s=60)
    assert (await one_pass(marked, customers))[0] == []  # old, but no marker yet
    (tmp_path / "marked" / "customers_9.csv.done").touch()
    records, checkpoints = await one_pass(marked, customers)
    assert [r.data["id"] for r in records] == ["9"]
    await commit(checkpoints)
    assert not data.exists()
    assert sorted(p.name for p in (tmp_path / "marked" / "processed").iterdir()) == [
        "customers_9.csv", "customers_9.csv.done",
    ]


async def test_a_crash_before_the_move_re_reads_and_a_committed_file_is_only_moved(tmp_path: Path) -> None:
    config = files_config(tmp_path)
    customers = config.streams[0]
    path = drop(tmp_path / "customers_1.csv", "id;name\n1;Anna\n")
    records, checkpoints = await one_pass(FilesSource(config), customers)
    assert len(records) == 1

    # Crash before the runtime committed: a new process re-reads the file (a duplicate, no loss).
    again, checkpoints = await one_pass(FilesSource(config), customers, {})
    assert [r.data for r in again] == [r.data for r in records]

    # Crash after the commit but before the move: the committed state says the file is done.
    committed = dict(checkpoints[-1].state)
    moved, _ = await one_pass(FilesSource(config), customers, committed)
    assert moved == [] and not path.exists() and (tmp_path / "processed" / "customers_1.csv").exists()
