"""Reflection: a configured stream bound to the real table, and what a database offers.

Reflecting (rather than naming columns with bare ``sa.column``) gives every column its real type,
so parameters bind correctly per dialect (SQLite keeps timestamps as text in SQLAlchemy's format;
PostgreSQL compares an integer key with an integer) and names keep their exact case, which
SQLAlchemy then quotes where needed ("CUST_MAST" on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connectors.sources.base import StreamDescription
from connectors.sql.query import TableShape


class SqlConfigError(ValueError):
    """A configured table or column does not exist (or cannot serve its role); names which."""


def _is_temporal(column: sa.ColumnClause[Any]) -> bool:
    return isinstance(column.type, sa.DateTime | sa.Date)


def reflect_shape(
    conn: Connection,
    *,
    table: str,
    schema: str | None,
    key: Sequence[str],
    cursor: str,
    columns: Sequence[str] | None,
    soft_delete: tuple[str, Sequence[Any]] | None = None,
    where: str | None = None,
) -> TableShape:
    """The stream's :class:`TableShape`; :class:`SqlConfigError` naming a missing table or column."""
    try:
        reflected = sa.Table(table, sa.MetaData(), schema=schema, autoload_with=conn)
    except sa.exc.NoSuchTableError:
        where_ = f" in schema {schema!r}" if schema else ""
        raise SqlConfigError(f"table {table!r} not found{where_}") from None
    available = list(reflected.columns.keys())

    def col(name: str, role: str) -> sa.ColumnClause[Any]:
        if name not in reflected.columns:
            raise SqlConfigError(
                f"{role} column {name!r} not in table {table!r} (it has: {', '.join(available)})"
            )
        return reflected.columns[name]

    key_cols = tuple(col(k, "key") for k in key)
    cursor_col = col(cursor, "cursor")
    if not _is_temporal(cursor_col):
        raise SqlConfigError(
            f"cursor column {cursor!r} of table {table!r} is {cursor_col.type}, not a date/timestamp"
        )
    wanted = list(columns) if columns else available
    extra = [*key, cursor, *([soft_delete[0]] if soft_delete else [])]
    names = wanted + [n for n in extra if n not in wanted]
    selected = tuple(col(n, "selected") for n in names)
    deleted = None
    if soft_delete is not None:
        deleted = (col(soft_delete[0], "soft-delete"), tuple(soft_delete[1]))
    return TableShape(reflected, key_cols, cursor_col, selected, where=where, soft_delete=deleted)


def describe_tables(conn: Connection, schema: str | None = None) -> list[StreamDescription]:
    """Every table: its columns, primary key (the key) and timestamp columns (cursor candidates)."""
    inspector = sa.inspect(conn)
    found: list[StreamDescription] = []
    for name in sorted(inspector.get_table_names(schema=schema)):
        cols = inspector.get_columns(name, schema=schema)
        pk = inspector.get_pk_constraint(name, schema=schema).get("constrained_columns") or []
        stamps = [c["name"] for c in cols if isinstance(c["type"], sa.DateTime)]
        found.append(
            StreamDescription(
                name=name,
                fields=tuple(c["name"] for c in cols),
                key=tuple(pk),
                cursor=tuple(stamps),
                description=f"table {schema + '.' if schema else ''}{name}",
            )
        )
    return found
