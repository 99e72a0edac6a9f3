"""An Overlay source adapter for JSON Lines (one JSON object per line) served over HTTP.

Many legacy systems can append an export or an audit log to a file that a web server publishes,
say ``GET /export/customers.jsonl``. This adapter follows such a file like ``tail -f``:

* The stream's **state** is ``{"offset": N}``: the byte offset just after the last complete line
  handed to Overlay. The runtime commits it only after Kafka acknowledged every record before it,
  so a crash replays lines, it never skips them.
* A pass asks for ``Range: bytes=N-`` (in ``chunk_bytes`` pieces) and yields every complete line
  as a record, then a checkpoint with the new offset. A trailing line without its newline is still
  being written: it is read on a later pass. A server that ignores ``Range`` sends the whole file
  (200); the first ``N`` bytes are then skipped.
* Once a pass reached the end, the state also keeps the file's ``ETag`` / ``Last-Modified``, and the
  next pass sends ``If-None-Match`` / ``If-Modified-Since``: an unchanged file costs one 304.
  ``Last-Modified`` has one-second precision, so it is only trusted when it is older than the
  response's ``Date`` (else a line appended later in the same second would be missed).
* A file shorter than the offset was rotated or truncated: reading starts again at 0.
* A line that is not a JSON object becomes the record ``{"_line": text}``; its mapping then fails
  (no key) and it goes to the dead-letter topic with its position, and the stream carries on.

HTTP settings (``base_url``, ``auth``, ``retry``, ``timeout_s``, ``headers``, ``rate_limit_per_s``)
come from Overlay's :class:`~connectors.sources.http.HttpSourceConfig`, and requests go through its
:class:`~connectors.sources.http.HttpFetcher`: retries with back-off, auth, ``SourceUnavailable``
once a source is down (the runtime then polls it on ``unhealthy_poll_interval_s``).
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final, Literal

import httpx
from connectors.sources.base import (
    Checkpoint,
    CheckResult,
    Source,
    SourceItem,
    SourceRecord,
    SourceUnavailable,
    StreamConfig,
    StreamDescription,
)
from connectors.sources.http import HttpFetcher, HttpSourceConfig, HttpSourceError, safe_url
from pydantic import Field

TYPE_NAME: Final = "jsonl_http"
"""The ``type:`` in the YAML; must equal the entry point's name in pyproject.toml."""


class JsonLinesStream(StreamConfig):
    """One JSON Lines resource."""

    path: str = Field(min_length=1, description="Relative to base_url, e.g. /export/customers.jsonl.")
    chunk_bytes: int = Field(1 << 20, ge=1024, description="Bytes asked for per request (HTTP Range).")
    count_header: str | None = Field(
        "X-Record-Count", description="Response header with the number of lines, for progress bars."
    )


class JsonLinesHttpConfig(HttpSourceConfig):
    """``type: jsonl_http``: the HTTP connection settings plus JSON Lines streams."""

    type: Literal["jsonl_http"] = TYPE_NAME
    streams: list[JsonLinesStream] = Field(min_length=1)  # type: ignore[assignment]


class JsonLinesHttpSource(Source[JsonLinesHttpConfig]):
    """Follows JSON Lines files over HTTP; see the module docstring for the guarantees."""

    type_name = TYPE_NAME
    config_model = JsonLinesHttpConfig

    def __init__(
        self, config: JsonLinesHttpConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__(config)
        self.fetcher = HttpFetcher(config, transport=transport)
        self._streams = {s.name: s for s in config.streams}

    def _stream(self, stream: StreamConfig) -> JsonLinesStream:
        """The adapter's own config of ``stream`` (the runtime may hand over the base model)."""
        return stream if isinstance(stream, JsonLinesStream) else self._streams[stream.name]

    async def _get(self, path: str, headers: Mapping[str, str]) -> httpx.Response | None:
        """GET ``path``; None for 416 (the range starts at or beyond the end of the file)."""
        try:
            return await self.fetcher.get(path, headers=headers)
        except HttpSourceError as exc:
            if exc.status == 416:
                return None
            raise

    # --- the contract ---------------------------------------------------------------------------
    async def read(self, stream: StreamConfig, state: Mapping[str, Any]) -> AsyncIterator[SourceItem]:
        spec = self._stream(stream)
        offset = int(state.get("offset", 0))
        size = spec.chunk_bytes
        conditional = _conditional_headers(state)
        while True:
            headers = {"Range": f"bytes={offset}-{offset + size - 1}", **conditional}
            response = await self._get(spec.path, headers)
            if response is None or response.status_code == 304:
                if response is None and offset and _shorter(await self._head(spec.path), offset):
                    yield Checkpoint(stream.name, {"offset": 0})  # rotated or truncated: start over
                return
            conditional = {}  # only the first request of a pass is conditional
            body, start, total = _body_from(response, offset)
            if start > offset or total < offset:  # the file shrank under us
                yield Checkpoint(stream.name, {"offset": 0})
                return
            consumed = body.rfind(b"\n") + 1  # complete lines only
            where = safe_url(response.request.url)
            line_start = 0
            while line_start < consumed:
                line_end = body.index(b"\n", line_start)
                line = body[line_start:line_end].strip()
                if line:
                    position = {"url": where, "offset": offset + line_start}
                    yield SourceRecord(stream.name, _record(line), position)
                line_start = line_end + 1
            offset += consumed
            if offset + (len(body) - consumed) >= total:  # read to the end of the file
                # Validators only now: a later 304 must mean "nothing after this offset".
                yield Checkpoint(stream.name, {"offset": offset, **_validators(response)})
                return
            if consumed:
                yield Checkpoint(stream.name, {"offset": offset})
            size = spec.chunk_bytes if consumed else size * 2  # a line longer than a chunk: ask more

    async def _head(self, path: str) -> httpx.Response:
        return await self.fetcher.request("HEAD", path)

    async def estimate(self, stream: StreamConfig) -> int | None:
        """The line count, if the server sends ``count_header`` (one HEAD request)."""
        spec = self._stream(stream)
        if not spec.count_header:
            return None
        value = (await self._head(spec.path)).headers.get(spec.count_header)
        return int(value) if value is not None and value.isdigit() else None

    async def check(self) -> CheckResult:
        """Every stream's resource answers a one-byte range request."""
        details: dict[str, Any] = {}
        for spec in self.config.streams:
            try:
                response = await self._get(spec.path, {"Range": "bytes=0-0"})
            except (SourceUnavailable, HttpSourceError) as exc:
                return CheckResult(False, f"stream {spec.name!r}: {exc}")
            details[spec.name] = "empty" if response is None else f"HTTP {response.status_code}"
        return CheckResult(True, f"{len(details)} JSON Lines resource(s) readable", details)

    async def discover(self) -> list[StreamDescription]:
        """The configured streams, with the fields of each one's first line."""
        found = []
        for spec in self.config.streams:
            response = await self._get(spec.path, {"Range": f"bytes=0-{spec.chunk_bytes - 1}"})
            first = response.content.split(b"\n", 1)[0].strip() if response is not None else b""
            fields = tuple(_record(first)) if first else ()
            found.append(StreamDescription(name=spec.name, fields=fields, cursor=("offset",),
                                           description=f"GET {spec.path} (JSON Lines)"))
        return found

    async def close(self) -> None:
        await self.fetcher.aclose()


# --- helpers -------------------------------------------------------------------------------------
def _record(line: bytes) -> dict[str, Any]:
    """A line's JSON object, or ``{"_line": text}`` for anything else (it will dead-letter)."""
    try:
        value = json.loads(line)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"_line": line.decode("utf-8", "replace")}


def _body_from(response: httpx.Response, offset: int) -> tuple[bytes, int, int]:
    """(bytes from ``offset`` on, where they start, the file's total length) of a 200 or 206."""
    if response.status_code == 206:
        # Content-Range: bytes START-END/TOTAL
        span, _, total = response.headers.get("Content-Range", "").partition("/")
        start = int(span.removeprefix("bytes ").split("-")[0])
        return response.content, start, int(total) if total.isdigit() else start + len(response.content)
    content = response.content  # the server ignored Range: the whole file
    return content[offset:], offset, len(content)


def _shorter(head: httpx.Response, offset: int) -> bool:
    """Whether a HEAD response says the file is now shorter than ``offset`` (unknown: no)."""
    length = head.headers.get("Content-Length", "")
    return length.isdigit() and int(length) < offset


def _validators(response: httpx.Response) -> dict[str, str]:
    """ETag, and Last-Modified only when it is older than the response (one-second precision)."""
    found = {}
    if etag := response.headers.get("ETag"):
        found["etag"] = etag
    modified, date = response.headers.get("Last-Modified"), response.headers.get("Date")
    if modified and date:
        try:
            if email.utils.parsedate_to_datetime(modified) < email.utils.parsedate_to_datetime(date):
                found["last_modified"] = modified
        except (TypeError, ValueError):
            pass
    return found


def _conditional_headers(state: Mapping[str, Any]) -> dict[str, str]:
    if state.get("etag"):
        return {"If-None-Match": str(state["etag"])}
    if state.get("last_modified"):
        return {"If-Modified-Since": str(state["last_modified"])}
    return {}
