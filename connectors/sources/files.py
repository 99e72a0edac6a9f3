"""The file-drop adapter: CSV, JSON (an array or JSON Lines) and XML files arriving in a folder.

Each ready file of a stream (``pattern`` in ``inbox``, oldest first) is read once: its records are
yielded with their position ``{file, line}`` (CSV, JSON Lines) or ``{file, index}`` (JSON array,
XML), then a Checkpoint whose ``on_commit`` moves the file to ``processed/``. The move happens only
after the runtime committed, so a crash before it re-reads the file: a duplicate, never a loss
(the committed state names the last file, so one that was committed but not yet moved is moved
without being read again).

A file that cannot be parsed goes to ``failed/`` with ``<name>.reason`` beside it and the adapter
carries on; if records were yielded before the error, the move waits for their commit.

A file is ready once its mtime is ``settle_seconds`` old, or, with ``done_suffix`` configured,
once ``<file><done_suffix>`` exists (the marker moves along with it). Files are parsed in a worker
thread in batches, so a large file is never loaded whole (except JSON with ``records_path``, which
must load the document to find the list). Streams should have disjoint patterns.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import csv
import json
import os
import shutil
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Iterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO, Any, Literal

import xmltodict
from pydantic import Field, field_validator, model_validator

from connectors.sources.base import (
    Checkpoint,
    CheckResult,
    Source,
    SourceConfig,
    SourceItem,
    SourceRecord,
    SourceUnavailable,
    StreamConfig,
    StreamDescription,
)
from overlay.logging import get_logger

log = get_logger(__name__)

Parsed = tuple[dict[str, Any], Any]
"""(position within the file, record)."""


class FileFormatError(ValueError):
    """The file's content is not what its stream's format says."""


class FileStream(StreamConfig):
    """Files matching ``pattern`` in the inbox, all of one format."""

    pattern: str = Field(min_length=1, description="Glob relative to the inbox, e.g. customers_*.csv.")
    format: Literal["csv", "json", "jsonl", "xml"]
    delimiter: str = Field(",", min_length=1, max_length=1, description="CSV field separator.")
    quotechar: str = Field('"', min_length=1, max_length=1)
    encoding: str = Field("utf-8-sig", description="CSV/JSON text encoding (XML follows its declaration).")
    records_path: str | None = Field(
        None, description="XML: the record elements, e.g. Export.Customer. JSON: the list inside one "
        "object (loads the document whole)."
    )
    force_list: list[str] = Field(
        default_factory=list, description="XML elements always read as lists, even when single."
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value

    @model_validator(mode="after")
    def _xml_needs_a_path(self) -> FileStream:
        if self.format == "xml" and not self.records_path:
            raise ValueError("format xml needs records_path, e.g. Export.Customer")
        return self


class FilesSourceConfig(SourceConfig):
    """A drop folder (``type: files``)."""

    type: str = "files"
    inbox: Path
    processed_dir: Path | None = Field(None, description="Default: <inbox>/processed.")
    failed_dir: Path | None = Field(None, description="Default: <inbox>/failed.")
    settle_seconds: float = Field(1.0, ge=0, description="A file is ready once its mtime is this old.")
    done_suffix: str | None = Field(
        None, min_length=1, description="If set, a file is ready only once <file><suffix> exists."
    )
    batch_size: int = Field(500, ge=1, le=100_000, description="Records parsed per worker-thread hop.")
    streams: list[FileStream] = Field(min_length=1)  # type: ignore[assignment]

    @field_validator("inbox", "processed_dir", "failed_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().resolve()

    @property
    def processed(self) -> Path:
        return self.processed_dir or self.inbox / "processed"

    @property
    def failed(self) -> Path:
        return self.failed_dir or self.inbox / "failed"


@dataclass(frozen=True)
class DroppedFile:
    path: Path
    size: int
    mtime_ns: int

    def state(self, records: int) -> dict[str, Any]:
        return {"file": self.path.name, "size": self.size, "mtime_ns": self.mtime_ns, "records": records}

    def is_committed_in(self, state: Mapping[str, Any]) -> bool:
        return (state.get("file"), state.get("size"), state.get("mtime_ns")) == (
            self.path.name, self.size, self.mtime_ns,
        )


# --- parsers (blocking generators, run in a worker thread) ---------------------------------------
def _csv_records(fh: IO[str], stream: FileStream) -> Iterator[Parsed]:
    reader = csv.DictReader(fh, delimiter=stream.delimiter, quotechar=stream.quotechar, restkey="_extra")
    for row in reader:
        yield {"line": reader.line_num}, row


def _jsonl_records(fh: IO[str]) -> Iterator[Parsed]:
    for number, line in enumerate(fh, 1):
        if line.strip():
            try:
                yield {"line": number}, json.loads(line)
            except json.JSONDecodeError as exc:
                raise FileFormatError(f"line {number}: {exc}") from None


def _skip_space(buf: str, pos: int) -> int:
    while pos < len(buf) and buf[pos].isspace():
        pos += 1
    return pos


def _json_array_records(fh: IO[str], chunk: int = 1 << 16) -> Iterator[Parsed]:
    """Elements of a top-level JSON array one by one, holding one element (plus a chunk) in memory."""
    decoder = json.JSONDecoder()
    buf, pos = fh.read(chunk), 0
    pos = _skip_space(buf, pos)
    if buf[pos:pos + 1] != "[":
        raise FileFormatError("a JSON file must hold an array of records, or JSON Lines")
    pos += 1
    index, want_value = 0, True
    while True:
        pos = _skip_space(buf, pos)
        if pos >= len(buf):
            more = fh.read(chunk)
            if not more:
                raise FileFormatError(f"the JSON array ends early, after {index} records")
            buf, pos = buf[pos:] + more, 0
            continue
        char = buf[pos]
        if char == "]":
            if want_value and index:
                raise FileFormatError(f"a trailing comma after record {index - 1}")
            return
        if not want_value:
            if char != ",":
                raise FileFormatError(f"expected ',' or ']' after record {index - 1}, found {char!r}")
            pos, want_value = pos + 1, True
            continue
        try:
            value, end = decoder.raw_decode(buf, pos)
        except json.JSONDecodeError as exc:
            more = fh.read(max(chunk, len(buf)))  # the element continues in the next chunk
            if not more:
                raise FileFormatError(f"record {index}: {exc}") from None
            buf, pos = buf[pos:] + more, 0
            continue
        yield {"index": index}, value
        index, pos, want_value = index + 1, end, False


def _json_path_records(fh: IO[str], path: str) -> Iterator[Parsed]:
    node: Any = json.load(fh)
    for part in path.replace("/", ".").split("."):
        if not isinstance(node, dict) or part not in node:
            raise FileFormatError(f"no {part!r} on the way to records_path {path!r}")
        node = node[part]
    for index, value in enumerate(node if isinstance(node, list) else [node]):
        yield {"index": index}, value


def _json_records(fh: IO[str], stream: FileStream) -> Iterator[Parsed]:
    if stream.records_path:
        return _json_path_records(fh, stream.records_path)
    if stream.format == "jsonl":
        return _jsonl_records(fh)
    head = fh.read(1)
    while head and head.isspace():
        head = fh.read(1)
    fh.seek(0)
    return _json_array_records(fh) if head == "[" else _jsonl_records(fh)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml_records(fh: IO[bytes], stream: FileStream) -> Iterator[Parsed]:
    """Elements at ``records_path`` as xmltodict dicts (``@attr``, ``#text``), freed once read."""
    wanted = (stream.records_path or "").replace("/", ".").split(".")
    names: list[str] = []
    elements: list[ET.Element] = []
    index = 0
    try:
        for event, element in ET.iterparse(fh, events=("start", "end")):
            if event == "start":
                names.append(_local(element.tag))
                elements.append(element)
                continue
            if names == wanted:
                parsed = xmltodict.parse(ET.tostring(element), force_list=tuple(stream.force_list) or None)
                value = next(iter(parsed.values()))
                yield {"index": index}, value if isinstance(value, dict) else {"#text": value}
                index += 1
                if len(elements) > 1:
                    elements[-2].remove(element)
            names.pop()
            elements.pop()
    except ET.ParseError as exc:
        raise FileFormatError(f"XML: {exc}") from None


def parse_file(path: Path, stream: FileStream) -> Generator[Parsed]:
    """Every record of ``path`` by its stream's format; records must be objects (dicts)."""
    if stream.format == "xml":
        with path.open("rb") as raw:
            yield from _xml_records(raw, stream)
        return
    with path.open(newline="" if stream.format == "csv" else None, encoding=stream.encoding) as fh:
        records = _csv_records(fh, stream) if stream.format == "csv" else _json_records(fh, stream)
        for position, value in records:
            if not isinstance(value, dict):
                raise FileFormatError(f"record at {position} is a {type(value).__name__}, not an object")
            yield position, value


def _take(records: Iterator[Parsed], size: int) -> tuple[list[Parsed], Exception | None]:
    """Up to ``size`` records, and the error that stopped the parser early (if any)."""
    batch: list[Parsed] = []
    try:
        for item in records:
            batch.append(item)
            if len(batch) >= size:
                break
    except Exception as exc:
        return batch, exc
    return batch, None


async def parse_in_batches(path: Path, stream: FileStream, size: int) -> AsyncGenerator[list[Parsed]]:
    """``parse_file`` in a worker thread, ``size`` records per hop, the file closed on exit."""
    records = parse_file(path, stream)
    try:
        while True:
            batch, error = await asyncio.to_thread(_take, records, size)
            if batch:
                yield batch  # the records before an error still count
            if error is not None:
                raise error
            if len(batch) < size:
                return
    finally:
        records.close()


# --- the adapter ---------------------------------------------------------------------------------
def _unique_target(folder: Path, name: str) -> Path:
    target = folder / name
    if not target.exists():
        return target
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return folder / f"{name}.{stamp}"


class FilesSource(Source[FilesSourceConfig]):
    """Reads the drop folder; see the module docstring for the guarantees."""

    type_name = "files"
    config_model = FilesSourceConfig

    def __init__(self, config: FilesSourceConfig) -> None:
        super().__init__(config)
        self._in_flight: set[Path] = set()
        """Files whose checkpoint was yielded but not committed yet: not read again meanwhile."""

    def _stream(self, stream: StreamConfig) -> FileStream:
        if isinstance(stream, FileStream):
            return stream
        for configured in self.config.streams:
            if configured.name == stream.name:
                return configured
        raise ValueError(f"stream {stream.name!r} is not configured on connector {self.config.name!r}")

    def _marker(self, path: Path) -> Path | None:
        suffix = self.config.done_suffix
        return path.with_name(path.name + suffix) if suffix else None

    def _ready(self, stream: FileStream, now: float) -> list[DroppedFile]:
        """Blocking: the stream's ready files, oldest first."""
        cfg = self.config
        if not cfg.inbox.is_dir():  # e.g. a share that is not mounted: not "no files"
            raise SourceUnavailable(f"inbox {cfg.inbox} is not a folder")
        skip_dirs = (cfg.processed, cfg.failed)
        found: list[DroppedFile] = []
        for path in cfg.inbox.glob(stream.pattern):
            if cfg.done_suffix and path.name.endswith(cfg.done_suffix):
                continue
            if path.name.endswith(".reason") or any(path.is_relative_to(d) for d in skip_dirs):
                continue
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            if not path.is_file():
                continue
            marker = self._marker(path)
            if marker is not None:
                if not marker.exists():
                    continue
            elif now - st.st_mtime < cfg.settle_seconds:
                continue  # probably still being written
            found.append(DroppedFile(path, st.st_size, st.st_mtime_ns))
        return sorted(found, key=lambda f: (f.mtime_ns, f.path.name))

    async def pending(self, stream: StreamConfig) -> list[DroppedFile]:
        """The files of ``stream`` ready to be read now, oldest first."""
        return await asyncio.to_thread(self._ready, self._stream(stream), time.time())

    def _move(self, path: Path, folder: Path) -> Path:
        """Blocking: move ``path`` (and its done marker) into ``folder``; never overwrites."""
        folder.mkdir(parents=True, exist_ok=True)
        target = _unique_target(folder, path.name)
        shutil.move(path, target)
        marker = self._marker(path)
        if marker is not None and marker.exists():
            shutil.move(marker, folder / (target.name + (self.config.done_suffix or "")))
        return target

    def _fail(self, path: Path, stream: FileStream, reason: str, records: int) -> Path:
        """Blocking: move ``path`` to failed/ with a ``.reason`` file beside it."""
        target = self._move(path, self.config.failed)
        target.with_name(target.name + ".reason").write_text(
            f"file: {path.name}\nstream: {stream.name}\nformat: {stream.format}\nerror: {reason}\n"
            f"records read before the error: {records}\nfailed at: {datetime.now(UTC).isoformat()}\n",
            encoding="utf-8",
        )
        return target

    def _on_commit(self, path: Path, move: Callable[[], Path]) -> Callable[[], Awaitable[None]]:
        async def on_commit() -> None:
            try:
                target = await asyncio.to_thread(move)
                log.info("files.moved", file=path.name, to=str(target))
            except FileNotFoundError:
                log.warning("files.already_gone", file=str(path))
            finally:
                self._in_flight.discard(path)

        return on_commit

    async def read(self, stream: StreamConfig, state: Mapping[str, Any]) -> AsyncIterator[SourceItem]:
        """Every ready file once, oldest first; a Checkpoint after each (see the module docstring)."""
        spec = self._stream(stream)
        for dropped in await self.pending(spec):
            path = dropped.path
            if path in self._in_flight:
                continue
            if dropped.is_committed_in(state):  # committed before a crash, never moved
                await asyncio.to_thread(self._move, path, self.config.processed)
                continue
            count, error = 0, None
            try:
                async with aclosing(parse_in_batches(path, spec, self.config.batch_size)) as batches:
                    async for batch in batches:
                        for position, data in batch:
                            yield SourceRecord(spec.name, data, {"file": path.name, **position})
                            count += 1
            except FileNotFoundError:
                log.warning("files.vanished", file=str(path))
                continue
            except (ValueError, csv.Error) as exc:  # FileFormatError, JSON and Unicode errors included
                error = f"{type(exc).__name__}: {exc}"
            self._in_flight.add(path)
            move: Callable[[], Path] = partial(self._move, path, self.config.processed)
            if error is not None:
                log.warning("files.failed", file=path.name, stream=spec.name, error=error, records=count)
                move = partial(self._fail, path, spec, error, count)
                if count == 0:  # nothing to commit: move it now
                    await self._on_commit(path, move)()
                    continue
            yield Checkpoint(spec.name, dropped.state(count), on_commit=self._on_commit(path, move))

    async def check(self) -> CheckResult:
        """The inbox exists and is readable and writable (files are moved out of it)."""
        cfg = self.config

        def probe() -> str | None:
            if not cfg.inbox.is_dir():
                return f"inbox {cfg.inbox} is not a folder"
            if not os.access(cfg.inbox, os.R_OK | os.W_OK | os.X_OK):
                return f"inbox {cfg.inbox} is not readable and writable"
            for folder in (cfg.processed, cfg.failed):
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    return f"cannot create {folder}: {exc}"
            return None

        problem = await asyncio.to_thread(probe)
        if problem is not None:
            return CheckResult(False, problem)
        waiting = {s.name: len(await self.pending(s)) for s in cfg.streams}
        return CheckResult(True, f"inbox {cfg.inbox} usable", {"waiting": waiting})

    async def discover(self) -> list[StreamDescription]:
        """The configured streams, with the fields of the oldest waiting file's first record."""
        found: list[StreamDescription] = []
        for spec in self.config.streams:
            files = await self.pending(spec)
            fields: tuple[str, ...] = ()
            if files:
                with contextlib.suppress(OSError, ValueError, csv.Error):
                    async with aclosing(parse_in_batches(files[0].path, spec, 1)) as batches:
                        async for batch in batches:
                            fields = tuple(str(k) for k in batch[0][1])
                            break
            waiting = f"{len(files)} {spec.format} file(s) matching {spec.pattern} in {self.config.inbox}"
            found.append(StreamDescription(spec.name, fields=fields, description=waiting))
        return found

    async def close(self) -> None:
        self._in_flight.clear()
