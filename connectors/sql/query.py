"""Keyset queries over a table's (modified-at, key) order, portable across dialects.

The "after this row" test is spelled out as ``c1 > v1 OR (c1 = v1 AND (c2 > v2 OR …))`` rather than
a row-value comparison, which older MySQL/MariaDB planners do not turn into an index range; a
redundant ``c1 >= v1`` in front keeps it sargable everywhere. Rows whose modified-at is NULL are
never read: they have no place in the order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement


@dataclass(frozen=True)
class TableShape:
    """What a stream reads: the table, its key and cursor columns, the columns selected, filters."""

    table: sa.TableClause
    key: tuple[sa.ColumnClause[Any], ...]
    cursor: sa.ColumnClause[Any]
    selected: tuple[sa.ColumnClause[Any], ...]
    where: str | None = None
    soft_delete: tuple[sa.ColumnClause[Any], tuple[Any, ...]] | None = None

    def base_filter(self) -> list[ColumnElement[bool]]:
        filters: list[ColumnElement[bool]] = [self.cursor.is_not(None)]
        if self.where:
            filters.append(sa.text(f"({self.where})"))  # type: ignore[arg-type]
        return filters

    def live_filter(self) -> list[ColumnElement[bool]]:
        """Rows not soft-deleted (NULL counts as not deleted)."""
        filters: list[ColumnElement[bool]] = []
        if self.where:
            filters.append(sa.text(f"({self.where})"))  # type: ignore[arg-type]
        if self.soft_delete is not None:
            column, values = self.soft_delete
            filters.append(sa.or_(column.is_(None), column.not_in(values)))
        return filters


def after(columns: Sequence[ColumnElement[Any]], values: Sequence[Any]) -> ColumnElement[bool]:
    """``(columns) > (values)`` in lexicographic order, expanded (see the module docstring)."""
    if not columns or len(columns) != len(values):
        raise ValueError("after() needs one value per column")
    head, value = columns[0], values[0]
    if len(columns) == 1:
        greater: ColumnElement[bool] = head > value
        return greater
    return sa.and_(
        head >= value, sa.or_(head > value, sa.and_(head == value, after(columns[1:], values[1:])))
    )


def changes_page(
    shape: TableShape, *, start: datetime | None, last: Sequence[Any] | None, limit: int
) -> sa.Select[Any]:
    """The next page of rows ordered by (cursor, key): from ``start``, strictly after ``last``."""
    order = (shape.cursor, *shape.key)
    query = sa.select(*shape.selected).select_from(shape.table).where(*shape.base_filter())
    if start is not None:
        query = query.where(shape.cursor >= start)
    if last is not None:
        query = query.where(after(order, last))
    return query.order_by(*order).limit(limit)


def keys_page(shape: TableShape, *, last: Sequence[Any] | None, limit: int) -> sa.Select[Any]:
    """The next page of live (not soft-deleted) keys, in key order, strictly after ``last``."""
    query = sa.select(*shape.key).select_from(shape.table).where(*shape.live_filter())
    if last is not None:
        query = query.where(after(shape.key, last))
    return query.order_by(*shape.key).limit(limit)


def probe(shape: TableShape) -> sa.Select[Any]:
    """One row of the selected columns: proves the table and every column can be read."""
    return sa.select(*shape.selected).select_from(shape.table).where(*shape.base_filter()).limit(1)


def count(shape: TableShape) -> sa.Select[Any]:
    """How many rows a snapshot reads."""
    return sa.select(sa.func.count()).select_from(shape.table).where(*shape.base_filter())
