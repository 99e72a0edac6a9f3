"""Reads one table incrementally in keyset pages ordered by (modified-at, key)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.sql.cursor import SqlCursor, WindowDeduplicator, row_fingerprint


class SqlStreamConfig(BaseModel):
    name: str = Field(min_length=1)
    table: str = Field(min_length=1)
    key_column: str
    cursor_column: str
    columns: list[str] = Field(min_length=1, description="Columns to read (key and cursor included).")
    page_size: int = Field(1000, ge=1, le=100_000)
    overlap_seconds: float = Field(10.0, ge=0, description="Re-read window for late commits.")


def as_utc(moment: datetime) -> datetime:
    """Legacy timestamps come naive; they are taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class SqlStreamReader:
    """Yields pages of rows not emitted before, advancing ``cursor`` as it goes."""

    def __init__(self, engine: AsyncEngine, config: SqlStreamConfig) -> None:
        self.config = config
        self._engine = engine
        cols: list[sa.ColumnClause[Any]] = [
            sa.column(c) for c in config.columns if c != config.cursor_column
        ]
        self._cursor_col = sa.column(config.cursor_column, sa.DateTime())
        self._key_col = sa.column(config.key_column, sa.String())
        self._table = sa.table(config.table, self._cursor_col, *cols)
        self._dedup = WindowDeduplicator()

    @property
    def overlap(self) -> timedelta:
        return timedelta(seconds=self.config.overlap_seconds)

    def _page_query(self, start: datetime | None, after: tuple[datetime, str] | None) -> sa.Select[Any]:
        query = sa.select(self._table).order_by(self._cursor_col, self._key_col)
        if start is not None:
            query = query.where(self._cursor_col >= start.replace(tzinfo=None))
        if after is not None:
            ts, key = after
            ts_naive = ts.replace(tzinfo=None)
            query = query.where(
                sa.or_(
                    self._cursor_col > ts_naive,
                    sa.and_(self._cursor_col == ts_naive, self._key_col > key),
                )
            )
        return query.limit(self.config.page_size)

    async def poll(self, cursor: SqlCursor) -> AsyncIterator[list[Mapping[str, Any]]]:
        """One pass from ``high_water - overlap`` to the end of the table, page by page."""
        start = cursor.start_from(self.overlap)
        self._dedup.prune(start)
        after: tuple[datetime, str] | None = None
        while True:
            async with self._engine.connect() as conn:
                result = await conn.execute(self._page_query(start, after))
                rows = [dict(r._mapping) for r in result]
            if not rows:
                return
            fresh: list[Mapping[str, Any]] = []
            for row in rows:
                key = str(row[self.config.key_column])
                modified = as_utc(row[self.config.cursor_column])
                fp = row_fingerprint(row)
                if self._dedup.is_new(key, modified, fp):
                    self._dedup.remember(key, modified, fp)
                    fresh.append(row)
                cursor.advance(modified)
            last = rows[-1]
            after = (last[self.config.cursor_column], str(last[self.config.key_column]))
            yield fresh
            if len(rows) < self.config.page_size:
                return
