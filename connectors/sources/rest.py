"""REST/JSON source, and the paged-listing engine the XML and TMF620 adapters reuse.

A stream is one listing endpoint. Incremental reading keeps ``{"since": <max modified seen>,
"seen": [fingerprints]}``: a pass asks for ``since - overlap_seconds`` (legacy filters are often
inclusive and second-precise, and late commits land slightly in the past) and drops rows already
emitted in that window, recognised by a hash of their content. With page/offset
pagination over a source ordered by the modified field, the reader re-anchors its filter at the
newest value seen after every page instead of walking page numbers over a moving table (which
skips rows when earlier ones are modified mid-pass).
"""

from __future__ import annotations

import abc
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

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
from connectors.sources.http import (
    HttpFetcher,
    HttpSourceConfig,
    HttpSourceError,
    getter,
    json_body,
    lookup,
    safe_url,
)

Scalar = str | int | float | bool


# --- pagination ------------------------------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoPagination(_Model):
    """One request returns everything."""

    kind: Literal["none"] = "none"


class PagePagination(_Model):
    kind: Literal["page"]
    page_param: str = "page"
    size_param: str = "page_size"
    size: int = Field(100, ge=1)
    start: int = 1


class OffsetPagination(_Model):
    kind: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = Field(100, ge=1)


class CursorPagination(_Model):
    kind: Literal["cursor"]
    cursor_path: str = Field(description="Dotted path of the next cursor in the body; empty/absent = end.")
    cursor_param: str = "cursor"
    size_param: str | None = None
    size: int | None = Field(None, ge=1)


class LinkHeaderPagination(_Model):
    """RFC 8288 (ex 5988) ``Link: <url>; rel="next"``."""

    kind: Literal["link_header"]
    size_param: str | None = None
    size: int | None = Field(None, ge=1)


Pagination = Annotated[
    NoPagination | PagePagination | OffsetPagination | CursorPagination | LinkHeaderPagination,
    Field(discriminator="kind"),
]
SinceFormat = Literal["iso", "epoch", "epoch_ms"]


@dataclass(frozen=True)
class Listing:
    """Everything the engine needs to read one stream, whatever the adapter's config looks like."""

    path: str
    params: Mapping[str, Scalar] = field(default_factory=dict)
    records_path: str = ""
    key: tuple[str, ...] = ()
    modified_field: str | None = None
    since_param: str | None = None
    since_format: SinceFormat = "iso"
    since_inclusive: bool = True
    overlap_s: float = 5.0
    ordered: bool = True
    pagination: NoPagination | PagePagination | OffsetPagination | CursorPagination | LinkHeaderPagination = (
        field(default_factory=NoPagination)
    )
    total_path: str | None = None
    total_header: str | None = None


class ListingStreamConfig(StreamConfig):
    """Stream fields shared by the REST and XML adapters."""

    path: str = Field(min_length=1, description="Relative to base_url, e.g. /api/v1/subscribers.")
    params: dict[str, Scalar] = Field(default_factory=dict, description="Constant query parameters.")
    records_path: str = Field("", description="Dotted path of the record list; empty: the body is the list.")
    key: list[str] = Field(default_factory=list, description="Field(s) identifying a record.")
    modified_field: str | None = Field(None, description="Record field that grows with every change.")
    modified_since_param: str | None = Field(None, description="Query parameter filtering on it.")
    modified_since_format: SinceFormat = "iso"
    modified_since_inclusive: bool = Field(True, description="Filter is >= (else >, as TMF's .gt).")
    overlap_seconds: float = Field(5.0, ge=0)
    ordered: bool = Field(True, description="The source returns records in modified order.")
    total_path: str | None = Field(None, description="Dotted path of the total count in the body.")
    total_header: str | None = Field(None, description="Header with the total count, e.g. X-Total-Count.")

    @field_validator("key", mode="before")
    @classmethod
    def _one_key(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def listing(self, pagination: Any) -> Listing:
        return Listing(
            path=self.path, params=self.params, records_path=self.records_path, key=tuple(self.key),
            modified_field=self.modified_field, since_param=self.modified_since_param,
            since_format=self.modified_since_format, since_inclusive=self.modified_since_inclusive,
            overlap_s=self.overlap_seconds, ordered=self.ordered, pagination=pagination,
            total_path=self.total_path, total_header=self.total_header,
        )


class RestStreamConfig(ListingStreamConfig):
    pagination: Pagination = Field(default_factory=NoPagination)


class RestSourceConfig(HttpSourceConfig):
    type: Literal["rest"] = "rest"
    streams: list[RestStreamConfig] = Field(min_length=1)  # type: ignore[assignment]


# --- incremental window ------------------------------------------------------------------------------
def parse_ts(value: Any) -> datetime | None:
    """A modified value as aware UTC: ISO 8601 (naive = UTC) or epoch seconds/milliseconds."""
    if type(value) is str and value and not value.isdigit():
        try:  # the common case first: ISO 8601 as served ("Z" included), no clean-up needed
            ts = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            zone = ts.tzinfo
            return ts if zone is UTC else ts.replace(tzinfo=UTC) if zone is None else ts.astimezone(UTC)
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        ts = value
    elif isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        number = float(value)
        ts = datetime.fromtimestamp(number / 1000 if number > 1e11 else number, UTC)
    else:
        try:
            ts = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def format_ts(ts: datetime, fmt: SinceFormat = "iso") -> str:
    if fmt == "epoch":
        return str(int(ts.timestamp()))
    if fmt == "epoch_ms":
        return str(int(ts.timestamp() * 1000))
    return ts.astimezone(UTC).isoformat(timespec="milliseconds" if ts.microsecond else "seconds").replace(
        "+00:00", "Z"
    )


_SORTED = orjson.OPT_SORT_KEYS
# What orjson cannot encode (integers beyond 64 bits, non-string keys) is encoded like this instead.
_CONTENT = json.JSONEncoder(sort_keys=True, default=str, separators=(",", ":"))


def fingerprint(record: Mapping[str, Any]) -> str:
    """A short digest of the record's content, which includes its key and modified value: two
    records share it only if they are the same version of the same row.

    Persisted in the stream's state (``seen``). The text hashed is ``orjson.dumps(record,
    OPT_SORT_KEYS, default=str)`` (the standard library's sorted compact JSON where orjson cannot
    encode the record). Before, it was the standard library's JSON of [key values, modified value,
    content]: the first pass after that upgrade does not recognise the rows of the state's overlap
    window and emits them once more, a duplicate, never a loss.
    """
    try:
        content = orjson.dumps(record, default=str, option=_SORTED)
    except (orjson.JSONEncodeError, TypeError):
        content = _CONTENT.encode(record).encode()
    return hashlib.blake2b(content, digest_size=12).hexdigest()


class Window:
    """What a pass has emitted near its newest modified value; becomes the stream's state.

    Rows are recognised by :func:`fingerprint`, computed only when it can matter: for a row no
    newer than the state's ``since`` (it may be one the state remembers), for rows sharing their
    modified instant with another row of the pass (both may be the same row served twice), and when
    a checkpoint keeps the rows inside the overlap window. A row at an instant of its own is kept
    unhashed until then: no other row can equal it.
    """

    def __init__(self, listing: Listing, state: Mapping[str, Any]) -> None:
        self.listing = listing
        self.overlap = timedelta(seconds=listing.overlap_s)
        self.start_state = dict(state)
        self.since = parse_ts(state.get("since")) if listing.modified_field else None
        self.floor = None if self.since is None else self.since - self.overlap
        # Fingerprints from the state were all modified at or before ``since``.
        since = self.since
        self.seen: dict[str, datetime] = {fp: since for fp in state.get("seen", [])} if since else {}
        self.newest = self.since
        self._modified: Callable[[Any], Any] | None = (
            getter(listing.modified_field) if listing.modified_field else None
        )
        self._hashed: set[datetime] = set()  # instants after ``since`` with fingerprints in ``seen``
        self._unhashed: dict[datetime, Mapping[str, Any]] = {}  # the one emitted row of its instant

    def admit(self, record: Mapping[str, Any]) -> bool:
        """Emit this record? False for rows already emitted (or older than the window)."""
        return bool(self.admit_page([record]))

    def admit_page(self, records: Sequence[Mapping[str, Any]]) -> list[int]:
        """The indexes of the records of one page to emit, in order (:meth:`admit` of each)."""
        modified_of = self._modified
        if modified_of is None:
            return list(range(len(records)))
        fresh: list[int] = []
        since, floor, seen, newest = self.since, self.floor, self.seen, self.newest
        hashed, unhashed = self._hashed, self._unhashed
        last_raw: Any = None
        modified: datetime | None = None
        for index, record in enumerate(records):
            raw = modified_of(record)
            if type(raw) is not str or raw != last_raw:  # rows of one instant: parsed once
                modified, last_raw = parse_ts(raw), raw
            if modified is None:
                fresh.append(index)
                continue
            if floor is not None and modified < floor:
                continue
            if modified in hashed or (since is not None and modified <= since):
                fp = fingerprint(record)
                if fp in seen:
                    continue
                seen[fp] = modified
            elif modified in unhashed:  # a second row of this instant: compare fingerprints
                seen[fingerprint(unhashed.pop(modified))] = modified
                hashed.add(modified)
                fp = fingerprint(record)
                if fp in seen:
                    continue
                seen[fp] = modified
            else:
                unhashed[modified] = record
            if newest is None or modified > newest:
                newest = modified
            fresh.append(index)
        self.newest = newest
        if not self.listing.ordered:  # no checkpoint prunes mid-pass: keep digests, not rows
            self._hash(None)
        return fresh

    def _hash(self, edge: datetime | None) -> None:
        """Fingerprint the unhashed rows modified at or after ``edge`` (all for None), forget the rest."""
        for modified, record in self._unhashed.items():
            if edge is None or modified >= edge:
                self.seen[fingerprint(record)] = modified
                self._hashed.add(modified)
        self._unhashed.clear()

    def state(self, *, final: bool) -> dict[str, Any]:
        """The resume state; mid-pass only if the source is ordered (else a crash could skip rows)."""
        if self.newest is None or not (final or self.listing.ordered):
            return self.start_state
        edge = self.newest - self.overlap
        self._hash(edge)
        self.seen = {fp: ts for fp, ts in self.seen.items() if ts >= edge}
        self._hashed = {ts for ts in self._hashed if ts >= edge}
        return {"since": format_ts(self.newest), "seen": sorted(self.seen)}


# --- the engine -----------------------------------------------------------------------------------------
C = TypeVar("C", bound=HttpSourceConfig)


class ListingSource(Source[C], abc.ABC):
    """A poll source over paged HTTP listings; subclasses say how streams and bodies look."""

    def __init__(self, config: C, *, transport: httpx.AsyncBaseTransport | None = None,
                 fetcher: HttpFetcher | None = None) -> None:
        super().__init__(config)
        self.fetcher = fetcher or HttpFetcher(config, transport=transport)
        self._streams = {s.name: s for s in config.streams}

    @abc.abstractmethod
    def listing(self, stream: StreamConfig) -> Listing:
        """The listing of a configured stream."""

    @abc.abstractmethod
    def decode(self, response: httpx.Response, stream: StreamConfig) -> Any:
        """The parsed body."""

    def configured(self, stream: StreamConfig) -> StreamConfig:
        """The adapter's own config of ``stream`` (the runtime may pass the base model)."""
        return self._streams.get(stream.name, stream)

    def records(self, body: Any, listing: Listing) -> list[Mapping[str, Any]]:
        found = lookup(body, listing.records_path)
        if found is None:
            return []
        if isinstance(found, Mapping):
            return [found]
        if isinstance(found, list) and all(type(r) is dict or isinstance(r, Mapping) for r in found):
            return found
        raise HttpSourceError(
            f"{listing.path}: records_path {listing.records_path!r} is not a list of objects "
            f"(got {type(found).__name__})"
        )

    # --- requests ---
    def _params(self, listing: Listing, anchor: datetime | None, position: Any, size: int | None = None
                ) -> dict[str, Scalar]:
        params: dict[str, Scalar] = dict(listing.params)
        if anchor is not None and listing.since_param:
            params[listing.since_param] = format_ts(anchor, listing.since_format)
        p = listing.pagination
        if isinstance(p, PagePagination):
            params[p.page_param], params[p.size_param] = position, size or p.size
        elif isinstance(p, OffsetPagination):
            params[p.offset_param], params[p.limit_param] = position, size or p.limit
        elif isinstance(p, CursorPagination | LinkHeaderPagination):
            if p.size_param and (size or p.size):
                params[p.size_param] = size or p.size or 0
            if isinstance(p, CursorPagination) and position is not None:
                params[p.cursor_param] = position
        return params

    async def _page(self, stream: StreamConfig, listing: Listing, anchor: datetime | None, position: Any,
                    size: int | None = None) -> tuple[httpx.Response, Any]:
        if isinstance(listing.pagination, LinkHeaderPagination) and position is not None:
            response = await self.fetcher.get(position)  # the server's next URL, query included
        else:
            params = self._params(listing, anchor, position, size)
            response = await self.fetcher.get(listing.path, params=params)
        return response, self.decode(response, stream)

    def _start(self, listing: Listing) -> Any:
        p = listing.pagination
        return p.start if isinstance(p, PagePagination) else 0 if isinstance(p, OffsetPagination) else None

    # --- Source ---
    async def read(self, stream: StreamConfig, state: Mapping[str, Any]) -> AsyncIterator[SourceItem]:
        own = self.configured(stream)
        listing = self.listing(own)
        window = Window(listing, state)
        anchor, position = window.floor, self._start(listing)
        p = listing.pagination
        reanchor = bool(listing.ordered and listing.since_param and listing.modified_field) and isinstance(
            p, PagePagination | OffsetPagination
        )
        while True:
            response, body = await self._page(own, listing, anchor, position)
            rows = self.records(body, listing)
            where = safe_url(response.request.url)
            fresh = window.admit_page(rows)
            for index in fresh:
                yield SourceRecord(stream.name, rows[index], {"url": where, "index": index})
            position = self._next(listing, response, body, rows, position)
            if position is not None and reanchor and fresh and window.newest is not None:
                candidate = window.newest if listing.since_inclusive else window.newest - timedelta(seconds=1)
                if anchor is None or candidate > anchor:
                    anchor, position = candidate, self._start(listing)
            yield Checkpoint(stream.name, window.state(final=position is None))
            if position is None:
                return

    def _next(self, listing: Listing, response: httpx.Response, body: Any,
              rows: list[Mapping[str, Any]], position: Any) -> Any:
        """The next page's position, or None at the end."""
        p = listing.pagination
        if isinstance(p, PagePagination | OffsetPagination):
            full = len(rows) >= (p.size if isinstance(p, PagePagination) else p.limit)
            consumed = (position - p.start) * p.size if isinstance(p, PagePagination) else position
            total = self._total(listing, response, body)
            if not full or (total is not None and consumed + len(rows) >= total):
                return None
            return position + 1 if isinstance(p, PagePagination) else position + len(rows)
        if isinstance(p, CursorPagination):
            cursor = lookup(body, p.cursor_path)
            return cursor if rows and cursor not in (None, "") else None
        if isinstance(p, LinkHeaderPagination):
            nxt = response.links.get("next", {}).get("url")
            if not nxt:
                return None
            url, here = response.url.join(nxt), response.url
            if (url.scheme, url.host, url.port) != (here.scheme, here.host, here.port):
                # credentials go with every request: never follow a link to another origin
                raise HttpSourceError(f"{listing.path}: next link points to another origin ({safe_url(url)})")
            return str(url)
        return None

    async def estimate(self, stream: StreamConfig) -> int | None:
        own = self.configured(stream)
        listing = self.listing(own)
        if not (listing.total_path or listing.total_header):
            return None
        response, body = await self._page(own, listing, None, self._start(listing), size=1)
        return self._total(listing, response, body)

    def _total(self, listing: Listing, response: httpx.Response, body: Any) -> int | None:
        """The total count of the current query, when the source tells it."""
        raw = response.headers.get(listing.total_header) if listing.total_header else None
        if raw is None and listing.total_path:
            raw = lookup(body, listing.total_path)
        try:
            return None if raw is None else int(raw)
        except (TypeError, ValueError):
            return None

    async def check(self) -> CheckResult:
        stream = self.config.streams[0]
        listing = self.listing(stream)
        try:
            response, body = await self._page(stream, listing, None, self._start(listing), size=1)
            self.records(body, listing)
        except (SourceUnavailable, HttpSourceError) as exc:
            return CheckResult(False, str(exc))
        return CheckResult(True, f"{stream.name}: HTTP {response.status_code}",
                           {"url": safe_url(response.request.url)})

    async def discover(self) -> list[StreamDescription]:
        """The configured streams, with the fields of a sample record."""
        found = []
        for stream in self.config.streams:
            listing = self.listing(stream)
            _, body = await self._page(stream, listing, None, self._start(listing), size=1)
            rows = self.records(body, listing)
            found.append(StreamDescription(
                name=stream.name, fields=tuple(rows[0]) if rows else (), key=listing.key,
                cursor=(listing.modified_field,) if listing.modified_field else (),
                description=f"GET {listing.path}",
            ))
        return found

    async def close(self) -> None:
        await self.fetcher.aclose()


class RestSource(ListingSource[RestSourceConfig]):
    """REST/JSON listings: page, offset, cursor, Link-header or no pagination."""

    type_name = "rest"
    config_model = RestSourceConfig

    def listing(self, stream: StreamConfig) -> Listing:
        if not isinstance(stream, RestStreamConfig):
            raise TypeError(f"stream {stream.name!r} is not configured for this rest source")
        return stream.listing(stream.pagination)

    def decode(self, response: httpx.Response, stream: StreamConfig) -> Any:
        return json_body(response)
