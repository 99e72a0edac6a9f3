"""Keyset queries, compiled for each dialect: quoting of legacy names, order, bounds, filters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from connectors.sql import query
from connectors.sql.query import TableShape

T = sa.table(
    "CUST_MAST",
    sa.column("CUST_NO", sa.String()), sa.column("UPD_TS", sa.DateTime()), sa.column("DEL_FLG", sa.String()),
    sa.column("LAST_NM", sa.String()),
)
SHAPE = TableShape(
    T, (T.c.CUST_NO,), T.c.UPD_TS, (T.c.CUST_NO, T.c.LAST_NM, T.c.UPD_TS, T.c.DEL_FLG),
    where="\"LAST_NM\" <> 'X'", soft_delete=(T.c.DEL_FLG, ("Y", "D")),
)
TS = datetime(2024, 5, 1, 12, 0, 0)
DIALECTS = {"postgresql": postgresql.dialect(), "mysql": mysql.dialect(), "sqlite": sqlite.dialect()}


def compiled(statement: sa.Select[Any], dialect: str) -> tuple[str, dict[str, Any]]:
    c = statement.compile(dialect=DIALECTS[dialect])
    return " ".join(str(c).split()), dict(c.params)


def test_postgresql_quotes_upper_case_legacy_names() -> None:
    sql, params = compiled(query.changes_page(SHAPE, start=TS, last=(TS, "K1"), limit=50), "postgresql")
    assert 'FROM "CUST_MAST"' in sql
    assert 'ORDER BY "CUST_MAST"."UPD_TS", "CUST_MAST"."CUST_NO" LIMIT' in sql
    assert '"CUST_MAST"."UPD_TS" IS NOT NULL' in sql and "(\"LAST_NM\" <> 'X')" in sql
    assert sorted(v for v in params.values() if isinstance(v, str)) == ["K1"]
    assert 50 in params.values()


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_keyset_condition_per_dialect(dialect: str) -> None:
    sql, params = compiled(query.changes_page(SHAPE, start=None, last=(TS, "K1"), limit=10), dialect)
    q = {"postgresql": '"', "mysql": "`", "sqlite": '"'}[dialect]
    ts, key = f"{q}CUST_MAST{q}.{q}UPD_TS{q}", f"{q}CUST_MAST{q}.{q}CUST_NO{q}"
    assert f"{ts} >= " in sql and f"{ts} > " in sql and f"{ts} = " in sql and f"{key} > " in sql
    assert "LIMIT" in sql and " OR " in sql
    assert list(params.values()).count(TS) == 3


def test_no_bounds_on_a_snapshot_start() -> None:
    sql, _ = compiled(query.changes_page(SHAPE, start=None, last=None, limit=10), "postgresql")
    assert " OR " not in sql and ">=" not in sql


def test_after_expands_composite_keys_lexicographically() -> None:
    a, b, c = sa.column("a"), sa.column("b"), sa.column("c")
    sql = str(query.after((a, b, c), (1, 2, 3)).compile(compile_kwargs={"literal_binds": True}))
    assert sql == "a >= 1 AND (a > 1 OR a = 1 AND b >= 2 AND (b > 2 OR b = 2 AND c > 3))"
    with pytest.raises(ValueError):
        query.after((a, b), (1,))


def test_keys_page_leaves_out_soft_deleted_rows() -> None:
    sql, params = compiled(query.keys_page(SHAPE, last=("K9",), limit=100), "postgresql")
    assert sql.startswith('SELECT "CUST_MAST"."CUST_NO" FROM "CUST_MAST"')
    assert '"CUST_MAST"."DEL_FLG" IS NULL OR ("CUST_MAST"."DEL_FLG" NOT IN' in sql
    assert '"CUST_MAST"."CUST_NO" > ' in sql and 'ORDER BY "CUST_MAST"."CUST_NO" LIMIT' in sql
    assert "K9" in params.values() and 100 in params.values() and ["Y", "D"] in params.values()


def test_count_and_probe_use_the_filters() -> None:
    count_sql, _ = compiled(query.count(SHAPE), "mysql")
    assert count_sql.startswith(
        "SELECT count(*) AS count_1 FROM `CUST_MAST` WHERE `CUST_MAST`.`UPD_TS` IS NOT NULL"
    )
    probe_sql, _ = compiled(query.probe(SHAPE), "sqlite")
    assert '"CUST_MAST"."LAST_NM"' in probe_sql and "LIMIT" in probe_sql
