"""The generic SQL adapter: tables of PostgreSQL, MariaDB/MySQL or SQLite, read incrementally.

Configured in YAML (see ``SqlSourceConfig``). Each stream is one table read in keyset pages
ordered by (cursor, key). Every pass re-reads from ``high_water - overlap_seconds`` and drops rows
it already emitted (same key, modified-at and content), so rows that commit late with an older
timestamp, or that share a timestamp across a page boundary, are never missed
(:mod:`connectors.sql.cursor` explains why). Only the high water is committed; the de-duplication
memory lives in this process and is filled from each checkpoint's ``on_commit``, so a row is
remembered only once it is durable: an abandoned pass re-emits, it never skips; a state behind
the committed one (a reset, a replay) clears it.

Soft-deleted rows (``soft_delete``) are still yielded: the stream's mapping decides with
``delete_when``. ``keys()`` lists the live keys for the runtime's reconciliation of hard deletes.

A row committed later than ``overlap_seconds`` after rows with a newer timestamp is missed: set
the overlap above the longest write transaction of the legacy system. Rows with a NULL cursor
are never read. SQLite timestamps must be stored as SQLAlchemy writes them
(``YYYY-MM-DD HH:MM:SS.ffffff``), since SQLite compares them as text.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

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
from connectors.sql import query
from connectors.sql.cursor import SqlCursor, WindowDeduplicator, row_fingerprint
from connectors.sql.faults import describe, mask_dsn, with_retries
from connectors.sql.query import TableShape
from connectors.sql.reflect import SqlConfigError, describe_tables, reflect_shape
from connectors.sql.timestamps import NaiveZone

T = TypeVar("T")
_ASYNC_DRIVERS = {"aiosqlite", "asyncpg", "aiomysql", "asyncmy", "psycopg"}


class SoftDelete(BaseModel):
    """Rows whose ``column`` holds one of ``deleted_values`` are deleted (still yielded; see module)."""

    model_config = ConfigDict(extra="forbid")

    column: str = Field(min_length=1)
    deleted_values: list[Any] = Field(min_length=1)


class SqlStream(StreamConfig):
    """One table, read incrementally on (cursor, key)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    table: str = Field(min_length=1)
    schema_: str | None = Field(None, alias="schema", description="Default: the connector's.")
    key: list[str] = Field(min_length=1, description="The key column, or several for a composite key.")
    cursor: str = Field(min_length=1, description="The modified-at column.")
    columns: list[str] | None = Field(
        None, description="Columns to read (key, cursor and soft-delete column are added); default all."
    )
    overlap_seconds: float = Field(10.0, ge=0, description="Re-read window for late commits.")
    soft_delete: SoftDelete | None = None
    where: str | None = Field(None, description="A static SQL filter (trusted configuration).")
    page_size: int | None = Field(None, ge=1, le=100_000, description="Default: the connector's.")
    key_separator: str = Field("/", min_length=1, description="Joins the parts of a composite key.")

    @field_validator("key", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class SqlSourceConfig(SourceConfig):
    """A relational legacy database (``type: sql``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: str = "sql"
    dsn: SecretStr = Field(
        description="SQLAlchemy async URL: sqlite+aiosqlite:///…, postgresql+asyncpg://…, mysql+aiomysql://…"
    )
    schema_: str | None = Field(None, alias="schema", description="Default schema of streams and discover.")
    page_size: int = Field(1000, ge=1, le=100_000)
    timezone: str = Field("UTC", description="IANA zone of naive timestamps, e.g. Europe/Berlin.")
    retries: int = Field(4, ge=1, le=20, description="Attempts per query before SourceUnavailable.")
    retry_max_wait_s: float = Field(5.0, gt=0, description="Longest (jittered) pause between attempts.")
    connect_timeout_s: float = Field(10.0, gt=0)
    query_timeout_s: float = Field(60.0, gt=0, description="One page's query; a timeout is retried.")
    streams: list[SqlStream] = Field(min_length=1)  # type: ignore[assignment]

    @field_validator("dsn")
    @classmethod
    def _async_url(cls, value: SecretStr) -> SecretStr:
        try:
            url = make_url(value.get_secret_value())
        except ArgumentError:
            raise ValueError("dsn is not a SQLAlchemy URL") from None
        if "+" not in url.drivername or url.get_driver_name() not in _ASYNC_DRIVERS:
            raise ValueError(
                f"dsn {url.render_as_string(hide_password=True)} needs an async driver "
                "(sqlite+aiosqlite, postgresql+asyncpg, mysql+aiomysql)"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _unique_streams(self) -> SqlSourceConfig:
        names = [s.name for s in self.streams]
        if len(set(names)) != len(names):
            raise ValueError(f"stream names must be unique: {names}")
        return self


def _connect_args(driver: str, timeout: float) -> dict[str, Any]:
    return {"asyncpg": {"timeout": timeout}, "aiomysql": {"connect_timeout": timeout},
            "aiosqlite": {"timeout": timeout}}.get(driver, {})


class _Memory:
    """Per stream: rows committed inside the overlap window, and the high water they belong to."""

    def __init__(self) -> None:
        self.dedup = WindowDeduplicator()
        self.committed = SqlCursor()

    def fits(self, state: SqlCursor) -> bool:
        """False when ``state`` is behind what was committed (a reset or replay): forget everything."""
        if self.committed.high_water is None:
            return True
        return state.high_water is not None and state.high_water >= self.committed.high_water

    def on_commit(
        self, rows: list[tuple[str, datetime, int]], high_water: datetime | None, overlap: timedelta
    ) -> Callable[[], Awaitable[None]]:
        """The checkpoint's on_commit: remember the page's rows once they are durable."""

        async def commit() -> None:
            if high_water is not None:
                self.committed.advance(high_water)
            horizon = self.committed.start_from(overlap)
            for key, modified, fingerprint in rows:
                if horizon is None or modified >= horizon:
                    self.dedup.remember(key, modified, fingerprint)
            self.dedup.prune(horizon)

        return commit


class SqlSource(Source[SqlSourceConfig]):
    """Reads the configured tables; see the module docstring for the guarantees."""

    type_name = "sql"
    config_model = SqlSourceConfig

    def __init__(self, config: SqlSourceConfig, engine: AsyncEngine | None = None) -> None:
        super().__init__(config)
        self._dsn = config.dsn.get_secret_value()
        self._engine = engine
        self._zone = NaiveZone(ZoneInfo(config.timezone))
        self._shapes: dict[str, TableShape] = {}
        self._memory: dict[str, _Memory] = {}

    @property
    def masked_dsn(self) -> str:
        return mask_dsn(self._dsn)

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            driver = make_url(self._dsn).get_driver_name()
            self._engine = create_async_engine(
                self._dsn, pool_pre_ping=True,
                connect_args=_connect_args(driver, self.config.connect_timeout_s),
            )
        return self._engine

    # --- plumbing --------------------------------------------------------------------------------
    def _stream(self, stream: StreamConfig) -> SqlStream:
        if isinstance(stream, SqlStream):
            return stream
        for configured in self.config.streams:
            if configured.name == stream.name:
                return configured
        raise ValueError(f"stream {stream.name!r} is not configured on connector {self.config.name!r}")

    async def _run(self, what: str, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``work`` on a pooled connection, under the query timeout, with retries."""

        async def once() -> T:
            async with self.engine.connect() as conn:
                return await work(conn)

        async def timed() -> T:
            return await asyncio.wait_for(once(), self.config.query_timeout_s)

        return await with_retries(
            timed, what=what, dsn=self._dsn, attempts=self.config.retries,
            max_wait_s=self.config.retry_max_wait_s,
        )

    async def _fetch(self, what: str, statement: sa.Select[Any]) -> list[dict[str, Any]]:
        async def work(conn: AsyncConnection) -> list[dict[str, Any]]:
            result = await conn.execute(statement)
            names = list(result.keys())
            return [dict(zip(names, row, strict=True)) for row in result]  # dict(row._mapping), cheaper

        return await self._run(what, work)

    async def _shape(self, spec: SqlStream, *, refresh: bool = False) -> TableShape:
        """The stream bound to its reflected table (cached; ``refresh`` re-reflects)."""
        if refresh or spec.name not in self._shapes:
            reflect = partial(
                reflect_shape, table=spec.table, schema=spec.schema_ or self.config.schema_, key=spec.key,
                cursor=spec.cursor, columns=spec.columns, where=spec.where,
                soft_delete=(spec.soft_delete.column, spec.soft_delete.deleted_values)
                if spec.soft_delete else None,
            )

            async def work(conn: AsyncConnection) -> TableShape:
                return await conn.run_sync(reflect)

            self._shapes[spec.name] = await self._run(f"reflecting table {spec.table}", work)
        return self._shapes[spec.name]

    def _key(self, spec: SqlStream, shape: TableShape, row: Mapping[str, Any]) -> str:
        return spec.key_separator.join(str(row[c.name]) for c in shape.key)

    def _start_param(self, shape: TableShape, start: datetime | None) -> Any:
        if start is None:
            return None
        col_type = shape.cursor.type
        return self._zone.to_db(
            start,
            aware_column=bool(getattr(col_type, "timezone", False)),
            date_only=not isinstance(col_type, sa.DateTime),
        )

    # --- the contract ----------------------------------------------------------------------------
    async def read(self, stream: StreamConfig, state: Mapping[str, Any]) -> AsyncIterator[SourceItem]:
        """One pass from ``high_water - overlap`` to now; a Checkpoint after every page."""
        spec = self._stream(stream)
        shape = await self._shape(spec)
        overlap = timedelta(seconds=spec.overlap_seconds)
        limit = spec.page_size or self.config.page_size
        cursor = SqlCursor.model_validate(dict(state))
        start = cursor.start_from(overlap)
        memory = self._memory.get(spec.name)
        if memory is None or not memory.fits(cursor):
            memory = self._memory[spec.name] = _Memory()
        memory.dedup.prune(start)
        start_param = self._start_param(shape, start)
        order = (shape.cursor, *shape.key)
        single_key = shape.key[0].name if len(shape.key) == 1 else None
        cursor_name = shape.cursor.name
        to_utc = self._zone.to_utc
        is_new = memory.dedup.is_new
        last: tuple[Any, ...] | None = None
        while True:
            statement = query.changes_page(shape, start=start_param, last=last, limit=limit)
            try:
                rows = await self._fetch(f"reading table {spec.table}", statement)
            except sa.exc.SQLAlchemyError:
                self._shapes.pop(spec.name, None)  # the table may have changed: reflect again next pass
                raise
            if not rows:
                return
            last_row = rows[-1]
            next_last = tuple(last_row[c.name] for c in order)  # as read: the loop converts in place
            emitted: list[tuple[str, datetime, int]] = []
            newest: datetime | None = None
            for row in rows:
                key = str(row[single_key]) if single_key is not None else self._key(spec, shape, row)
                moment = row[cursor_name]
                modified = to_utc(moment)
                fingerprint = row_fingerprint(row)
                if is_new(key, modified, fingerprint):
                    emitted.append((key, modified, fingerprint))
                    # NaiveZone.record_value of every value, inline and in place (the row is ours);
                    # the cursor's is converted already
                    for name, value in row.items():
                        if isinstance(value, datetime):
                            row[name] = modified if value is moment else to_utc(value)
                    position = {"table": spec.table, "cursor": modified.isoformat(), "key": key}
                    yield SourceRecord(spec.name, row, position)
                if newest is None or modified > newest:
                    newest = modified
            if newest is not None:
                cursor.advance(newest)
            last = next_last
            yield Checkpoint(
                spec.name, cursor.model_dump(mode="json"),
                on_commit=memory.on_commit(emitted, cursor.high_water, overlap),
            )
            if len(rows) < limit:
                return

    async def keys(self, stream: StreamConfig) -> AsyncIterator[list[str]]:
        """Every live (not soft-deleted) key of ``stream``, a page at a time, in key order."""
        spec = self._stream(stream)
        shape = await self._shape(spec)
        limit = spec.page_size or self.config.page_size
        last: tuple[Any, ...] | None = None
        while True:
            rows = await self._fetch(
                f"listing keys of {spec.table}", query.keys_page(shape, last=last, limit=limit)
            )
            if not rows:
                return
            yield [self._key(spec, shape, row) for row in rows]
            if len(rows) < limit:
                return
            last = tuple(rows[-1][c.name] for c in shape.key)

    async def check(self) -> CheckResult:
        """Connect, then read one row of each configured table with every configured column."""
        tables: dict[str, str] = {}
        for spec in self.config.streams:
            try:
                shape = await self._shape(spec, refresh=True)
                await self._fetch(f"reading table {spec.table}", query.probe(shape))
            except SqlConfigError as exc:
                return CheckResult(False, f"stream {spec.name!r}: {exc}", {"dsn": self.masked_dsn})
            except SourceUnavailable as exc:
                return CheckResult(False, str(exc), {"dsn": self.masked_dsn})
            except sa.exc.SQLAlchemyError as exc:
                reason = describe(exc, self._dsn)
                return CheckResult(
                    False, f"stream {spec.name!r}: cannot read table {spec.table!r}: {reason}",
                    {"dsn": self.masked_dsn},
                )
            tables[spec.name] = spec.table
        return CheckResult(
            True, f"{len(tables)} table(s) readable on {self.masked_dsn}",
            {"dsn": self.masked_dsn, "tables": tables},
        )

    async def discover(self) -> list[StreamDescription]:
        """Every table: columns, primary key, timestamp columns as cursor candidates."""

        async def work(conn: AsyncConnection) -> list[StreamDescription]:
            return await conn.run_sync(describe_tables, self.config.schema_)

        return await self._run("discovering tables", work)

    async def estimate(self, stream: StreamConfig) -> int | None:
        """``COUNT(*)`` of what a snapshot reads (the ``where`` filter applied)."""
        spec = self._stream(stream)
        shape = await self._shape(spec)

        async def work(conn: AsyncConnection) -> int:
            return int((await conn.execute(query.count(shape))).scalar_one())

        return await self._run(f"counting table {spec.table}", work)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()

