"""De-duplication, time zones, fault classification, and the adapter on a small SQLite file."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pymysql
import pytest
import sqlalchemy as sa

from connectors.sources.base import Checkpoint, SourceRecord, SourceUnavailable
from connectors.sources.sql import SqlSource, SqlSourceConfig
from connectors.sql.cursor import WindowDeduplicator
from connectors.sql.faults import describe, is_transient, mask_dsn, scrub
from connectors.sql.timestamps import NaiveZone
from overlay.infra.ports import free_port

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def test_dedup_prunes_by_time_and_follows_a_key_to_its_newest_version() -> None:
    dedup = WindowDeduplicator()
    for i in range(1000):  # a bulk load: many rows share one second
        dedup.remember(f"K{i}", T0, "a")
    dedup.remember("K1", T0 + timedelta(seconds=20), "b")  # K1 changed later
    dedup.prune(T0 + timedelta(seconds=10))
    assert len(dedup) == 1
    assert not dedup.is_new("K1", T0 + timedelta(seconds=20), "b")
    assert dedup.is_new("K2", T0, "a")


def test_naive_timestamps_are_read_in_the_configured_zone() -> None:
    berlin = NaiveZone(ZoneInfo("Europe/Berlin"))
    assert berlin.to_utc(datetime(2024, 5, 1, 14, 0)) == T0  # CEST = UTC+2
    assert berlin.to_utc(T0) == T0
    assert berlin.to_utc("2024-05-01 14:00:00") == T0
    assert berlin.to_utc(date(2024, 5, 1)) == datetime(2024, 4, 30, 22, 0, tzinfo=UTC)
    assert berlin.to_db(T0) == datetime(2024, 5, 1, 14, 0)
    assert berlin.to_db(T0, aware_column=True) == T0
    assert berlin.to_db(T0, date_only=True) == date(2024, 5, 1)
    assert berlin.record_value(datetime(2024, 5, 1, 14, 0)) == T0 and berlin.record_value(7) == 7
    with pytest.raises(TypeError):
        berlin.to_utc(12)


def _wrapped(orig: BaseException) -> sa.exc.DBAPIError:
    return sa.exc.OperationalError("SELECT 1", {}, orig)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (ConnectionResetError(104, "reset"), True),
        (TimeoutError(), True),
        (_wrapped(pymysql.err.OperationalError(2003, "Can't connect")), True),
        (_wrapped(pymysql.err.OperationalError(1213, "Deadlock")), True),
        (_wrapped(pymysql.err.ProgrammingError(1146, "Table doesn't exist")), False),
        (_wrapped(sqlite3.OperationalError("database is locked")), True),
        (_wrapped(sqlite3.OperationalError("no such table: X")), False),
        (sa.exc.NoSuchTableError("X"), False),
    ],
)
def test_transient_faults_are_told_from_real_ones(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def test_postgres_sqlstates() -> None:
    class PgError(Exception):
        def __init__(self, sqlstate: str) -> None:
            super().__init__(sqlstate)
            self.sqlstate = sqlstate

    assert is_transient(_wrapped(PgError("08006"))) and is_transient(_wrapped(PgError("57P01")))
    assert not is_transient(_wrapped(PgError("42P01")))  # undefined table


def test_secrets_are_masked() -> None:
    dsn = "mysql+aiomysql://app:pa55word@db:3306/crm"
    assert mask_dsn(dsn) == "mysql+aiomysql://app:***@db:3306/crm"
    assert scrub("login app:pa55word failed", dsn) == "login app:*** failed"
    assert "pa55word" not in describe(_wrapped(pymysql.err.OperationalError(1045, "pa55word")), dsn)


def _config(dsn: str, **extra: Any) -> SqlSourceConfig:
    return SqlSourceConfig.model_validate({
        "name": "legacy", "source_system": "legacy", "dsn": dsn, "retries": 2, "retry_max_wait_s": 0.05,
        "connect_timeout_s": 1, "streams": [{
            "name": "lines", "table": "ORDER_LINE", "key": ["ORDER_NO", "LINE_NO"], "cursor": "CHANGED",
            "outputs": [{"entity": "order", "key": "ORDER_NO"}], **extra,
        }],
    })


async def test_an_unreachable_database_is_unavailable_with_the_password_masked() -> None:
    source = SqlSource(_config(f"postgresql+asyncpg://app:pa55word@127.0.0.1:{free_port()}/crm"))
    with pytest.raises(SourceUnavailable) as caught:
        [item async for item in source.read(source.config.streams[0], {})]
    assert "app:***@127.0.0.1" in str(caught.value) and "pa55word" not in str(caught.value)
    result = await source.check()
    assert not result.ok and "pa55word" not in result.message
    await source.close()


async def test_composite_keys_page_through_rows_sharing_a_timestamp(tmp_path: Path) -> None:
    dsn = f"sqlite+aiosqlite:///{tmp_path / 'legacy.sqlite'}"
    meta = sa.MetaData()
    lines = sa.Table(
        "ORDER_LINE", meta, sa.Column("ORDER_NO", sa.Integer, primary_key=True),
        sa.Column("LINE_NO", sa.Integer, primary_key=True), sa.Column("CHANGED", sa.DateTime),
        sa.Column("QTY", sa.Integer),
    )
    naive = T0.replace(tzinfo=None)
    rows = [{"ORDER_NO": o, "LINE_NO": n, "CHANGED": naive, "QTY": 1} for o in (2, 10) for n in range(1, 6)]
    rows.append({"ORDER_NO": 1, "LINE_NO": 1, "CHANGED": None, "QTY": 1})  # never read: no cursor
    source = SqlSource(_config(dsn, page_size=3))
    async with source.engine.begin() as conn:
        await conn.run_sync(meta.create_all)
        await conn.execute(sa.insert(lines), rows)
    stream = source.config.streams[0]
    items = [item async for item in source.read(stream, {})]
    keys = [i.position["key"] for i in items if isinstance(i, SourceRecord)]
    assert keys == [f"{o}/{n}" for o in (2, 10) for n in range(1, 6)]  # numeric order, not text
    assert sum(isinstance(i, Checkpoint) for i in items) == 4
    assert await source.estimate(stream) == 10
    assert [k async for page in source.keys(stream) for k in page][:2] == ["1/1", "2/1"]
    await source.close()
