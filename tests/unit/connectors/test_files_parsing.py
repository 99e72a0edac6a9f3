"""File-drop parsing (CSV, JSON array / Lines, XML), readiness (settle, done marker) and config."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from connectors.sources.base import SourceUnavailable
from connectors.sources.files import (
    FileFormatError,
    FilesSource,
    FilesSourceConfig,
    FileStream,
    _json_array_records,
    parse_file,
    parse_in_batches,
)

OUT = [{"entity": "party", "key": "id"}]


def stream(**fields: Any) -> FileStream:
    return FileStream.model_validate({"name": "s", "pattern": "*", "outputs": OUT, **fields})


def records(path: Path, **fields: Any) -> list[tuple[dict[str, Any], Any]]:
    return list(parse_file(path, stream(**fields)))


def test_csv_with_delimiter_encoding_quotes_and_ragged_rows(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes('\ufeffid;name;city\n1;"Müller; Hans";Köln\n2;"Zwei\nZeilen";\n3;a;b;EXTRA\n'.encode())
    got = records(path, format="csv", delimiter=";")
    assert got[0] == ({"line": 2}, {"id": "1", "name": "Müller; Hans", "city": "Köln"})  # BOM stripped
    assert got[1] == ({"line": 4}, {"id": "2", "name": "Zwei\nZeilen", "city": ""})
    assert got[2][1]["_extra"] == ["EXTRA"]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,name\n1,Jürgen\n".encode("latin-1"))
    assert records(latin, format="csv", encoding="latin-1")[0][1]["name"] == "Jürgen"
    with pytest.raises(UnicodeDecodeError):
        records(latin, format="csv")


def test_json_array_is_streamed_across_chunk_boundaries() -> None:
    items = [{"id": i, "text": "x" * (i * 7), "nested": {"a": [1, 2, {"b": "]},["}]}} for i in range(50)]
    text = json.dumps(items, indent=2)
    got = list(_json_array_records(io.StringIO(text), chunk=16))
    assert [v for _, v in got] == items and got[3][0] == {"index": 3}
    assert list(_json_array_records(io.StringIO(" [ ] "))) == []
    for broken, message in [("[{}, ]", "trailing comma"), ('[{"a": 1} {"b": 2}]', "expected ','"),
                            ('[{"a": 1}, {"b"', "record 1"), ('{"a": 1}', "array")]:
        with pytest.raises(FileFormatError, match=message):
            list(_json_array_records(io.StringIO(broken), chunk=4))


def test_json_lines_records_path_and_non_objects(tmp_path: Path) -> None:
    lines = tmp_path / "x.json"
    lines.write_text('{"id": 1}\n\n{"id": 2}\n')
    assert records(lines, format="json") == [({"line": 1}, {"id": 1}), ({"line": 3}, {"id": 2})]
    wrapped = tmp_path / "w.json"
    wrapped.write_text('{"Export": {"Customers": [{"id": "a"}, {"id": "b"}]}}')
    found = records(wrapped, format="json", records_path="Export.Customers")
    assert [v["id"] for _, v in found] == ["a", "b"]
    with pytest.raises(FileFormatError, match="Nope"):
        records(wrapped, format="json", records_path="Export.Nope")
    scalars = tmp_path / "s.json"
    scalars.write_text("[1, 2]")
    with pytest.raises(FileFormatError, match="not an object"):
        records(scalars, format="json")


def test_xml_records_at_a_path(tmp_path: Path) -> None:
    path = tmp_path / "x.xml"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Export date="2024-05-01"><Header><Customer id="no"/></Header>'
        '<Customer id="1" type="P"><Name>Anna</Name><Phone>1</Phone></Customer>'
        '<Customer id="2"><Name>Bernd</Name><Phone>2</Phone><Phone>3</Phone></Customer>'
        "<Customer>bare</Customer></Export>"
    )
    got = records(path, format="xml", records_path="Export/Customer", force_list=["Phone"])
    assert got == [
        ({"index": 0}, {"@id": "1", "@type": "P", "Name": "Anna", "Phone": ["1"]}),
        ({"index": 1}, {"@id": "2", "Name": "Bernd", "Phone": ["2", "3"]}),
        ({"index": 2}, {"#text": "bare"}),
    ]
    broken = tmp_path / "b.xml"
    broken.write_text("<Export><Customer id='1'></Export>")
    with pytest.raises(FileFormatError, match="XML"):
        records(broken, format="xml", records_path="Export.Customer")


async def test_batches_keep_the_records_before_an_error(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('[{"id": 1}, {"id": 2}, {"id": 3}, oops]')
    got: list[int] = []
    with pytest.raises(FileFormatError):
        async for batch in parse_in_batches(path, stream(format="json"), 2):
            got.extend(v["id"] for _, v in batch)
    assert got == [1, 2, 3]


def _source(inbox: Path, **extra: Any) -> FilesSource:
    return FilesSource(FilesSourceConfig.model_validate({
        "name": "drop", "source_system": "partner", "inbox": str(inbox),
        "streams": [{"name": "c", "pattern": "*.csv", "format": "csv", "outputs": OUT}], **extra,
    }))


def _touch(path: Path, age_s: float) -> None:
    path.write_text("id\n1\n")
    os.utime(path, (time.time() - age_s, time.time() - age_s))


async def test_settle_time_and_oldest_first(tmp_path: Path) -> None:
    source = _source(tmp_path, settle_seconds=2)
    _touch(tmp_path / "b.csv", 30)
    _touch(tmp_path / "a.csv", 20)
    _touch(tmp_path / "fresh.csv", 0.5)
    (tmp_path / "processed").mkdir()
    _touch(tmp_path / "processed" / "old.csv", 99)
    pending = await source.pending(source.config.streams[0])
    assert [f.path.name for f in pending] == ["b.csv", "a.csv"]


async def test_done_marker_replaces_the_settle_time(tmp_path: Path) -> None:
    source = _source(tmp_path, done_suffix=".ok")
    _touch(tmp_path / "a.csv", 30)
    _touch(tmp_path / "b.csv", 0)
    (tmp_path / "b.csv.ok").touch()
    assert [f.path.name for f in await source.pending(source.config.streams[0])] == ["b.csv"]


async def test_a_missing_inbox_is_unavailable_not_empty(tmp_path: Path) -> None:
    source = _source(tmp_path / "not-mounted")
    with pytest.raises(SourceUnavailable, match="not-mounted"):
        await source.pending(source.config.streams[0])
    result = await source.check()
    assert not result.ok and "not-mounted" in result.message


def test_config_validation(tmp_path: Path) -> None:
    config = FilesSourceConfig.model_validate(yaml.safe_load(f"""
        name: partner-drop
        type: files
        source_system: partner
        inbox: {tmp_path}
        streams:
          - name: customers
            pattern: "customers_*.csv"
            format: csv
            delimiter: ";"
            encoding: latin-1
            outputs: [{{entity: party, key: KUNDNR}}]
    """))
    assert config.processed == tmp_path / "processed" and config.failed == tmp_path / "failed"
    assert config.settle_seconds == 1.0 and config.done_suffix is None
    with pytest.raises(ValidationError, match="records_path"):
        stream(format="xml")
    with pytest.raises(ValidationError, match="encoding"):
        stream(format="csv", encoding="klingon")
    with pytest.raises(ValidationError):
        stream(format="csv", delimiter=";;")
    with pytest.raises(ValidationError):
        stream(format="parquet")
