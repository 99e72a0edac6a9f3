"""The SQL adapter against the simulated CRM on SQLite, PostgreSQL and MariaDB (real servers).

The runtime is played by ``drain``: it reads one pass, and "commits" every checkpoint by awaiting
its ``on_commit``, as the runtime does once Kafka acknowledged the records before it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.sources.base import Checkpoint, SourceRecord, SourceUnavailable
from connectors.sources.sql import SqlSource, SqlSourceConfig, SqlStream
from legacy_sim.crm_db import CUST_ADDR, CUST_CNTCT, CUST_MAST, CrmStore
from legacy_sim.people import person
from overlay.infra.mariadb import MariaDbServer

PERSONS = 40
TABLES = {"customers": CUST_MAST, "contacts": CUST_CNTCT, "addresses": CUST_ADDR}


def crm_config(dsn: str, *, page_size: int = 7, **overrides: Any) -> SqlSourceConfig:
    """The CRM's three tables, as a deployment would configure them in YAML."""
    streams = [
        {"name": "customers", "table": "CUST_MAST", "key": "CUST_NO", "cursor": "UPD_TS",
         "soft_delete": {"column": "DEL_FLG", "deleted_values": ["Y"]},
         "outputs": [{"entity": "party", "key": "CUST_NO"}]},
        {"name": "contacts", "table": "CUST_CNTCT", "key": "CNTCT_ID", "cursor": "UPD_TS",
         "soft_delete": {"column": "DEL_FLG", "deleted_values": ["Y"]},
         "outputs": [{"entity": "contactMedium", "key": "CNTCT_ID"}]},
        {"name": "addresses", "table": "CUST_ADDR", "key": "ADDR_ID", "cursor": "UPD_TS",
         "columns": ["ADDR_ID", "CUST_NO", "STREET", "HOUSE_NO", "ZIP_CD", "CITY"],
         "outputs": [{"entity": "address", "key": "ADDR_ID"}]},
    ]
    raw = {"name": "crm", "type": "sql", "source_system": "crm", "dsn": dsn, "page_size": page_size,
           "retries": 2, "retry_max_wait_s": 0.2, "streams": streams, **overrides}
    return SqlSourceConfig.model_validate(raw)


async def drain(
    source: SqlSource, stream: SqlStream, state: Mapping[str, Any], *, commit: bool = True
) -> tuple[list[SourceRecord], dict[str, Any]]:
    records: list[SourceRecord] = []
    last_state = dict(state)
    async for item in source.read(stream, state):
        if isinstance(item, SourceRecord):
            records.append(item)
        else:
            assert isinstance(item, Checkpoint)
            last_state = dict(item.state)
            if commit and item.on_commit is not None:
                await item.on_commit()
    return records, last_state


def keys_of(records: list[SourceRecord]) -> list[str]:
    return [str(r.position["key"]) for r in records]


@pytest.fixture
async def crm(crm_dsn: str) -> AsyncIterator[CrmStore]:
    store = CrmStore(crm_dsn)
    await store.create_schema()
    await store.load(person(7, i) for i in range(PERSONS))
    yield store
    await store.dispose()


@pytest.fixture
async def source(crm: CrmStore) -> AsyncIterator[SqlSource]:
    adapter = SqlSource(crm_config(crm.dsn))
    yield adapter
    await adapter.close()


async def table_keys(store: CrmStore, table: sa.Table) -> list[str]:
    key = next(iter(table.primary_key.columns))
    async with store.engine.connect() as conn:
        return sorted(str(k) for k in (await conn.execute(sa.select(key))).scalars())


async def high_water(state: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(state["high_water"]))


async def test_snapshot_reads_every_row_of_every_table(crm: CrmStore, source: SqlSource) -> None:
    for stream in source.config.streams:
        records, state = await drain(source, stream, {})
        expected = await table_keys(crm, TABLES[stream.name])
        assert sorted(keys_of(records)) == expected, stream.name  # each row once, none missing
        assert await source.estimate(stream) == len(expected)
        assert state["high_water"] is not None
    addresses = next(s for s in source.config.streams if s.name == "addresses")
    record = (await drain(source, addresses, {}))[0][0]
    assert set(record.data) == {"ADDR_ID", "CUST_NO", "STREET", "HOUSE_NO", "ZIP_CD", "CITY", "UPD_TS"}
    assert record.data["UPD_TS"].tzinfo is not None  # naive legacy timestamps come out as aware UTC


async def test_incremental_catches_same_second_updates_and_late_commits(crm_dsn: str, crm: CrmStore) -> None:
    source = SqlSource(crm_config(crm_dsn, page_size=3))
    customers = source.config.streams[0]
    snapshot, state = await drain(source, customers, {})
    hw = await high_water(state)
    keys = sorted(keys_of(snapshot))
    now = (hw + timedelta(seconds=30)).replace(tzinfo=None)
    writer = CrmStore(crm_dsn, clock=lambda: now)
    try:
        # Five rows share one second, across page boundaries (page size 3).
        for k in keys[:5]:
            assert await writer.update_customer(k, LAST_NM="Erste")
        first, state = await drain(source, customers, state)
        assert sorted(keys_of(first)) == keys[:5]

        # A second change of the same row within the same second is not lost; the others are not re-sent.
        assert await writer.update_customer(keys[0], LAST_NM="Zweite")
        second, state = await drain(source, customers, state)
        assert keys_of(second) == [keys[0]]
        assert second[0].data["LAST_NM"] == "Zweite"

        # A row committed late with an older UPD_TS, inside the overlap window, is still picked up.
        late = now - timedelta(seconds=6)
        async with crm.engine.begin() as conn:
            await conn.execute(
                sa.update(CUST_MAST).where(keys[7] == CUST_MAST.c.CUST_NO).values(LAST_NM="Spät", UPD_TS=late)
            )
        third, state = await drain(source, customers, state)
        assert keys_of(third) == [keys[7]]
        assert third[0].data["LAST_NM"] == "Spät"

        # Nothing new: an empty pass.
        assert (await drain(source, customers, state))[0] == []
        # A soft delete is yielded like any change (the mapping's delete_when decides).
        assert await writer.soft_delete_customer(keys[9])
        deleted, state = await drain(source, customers, state)
        assert keys_of(deleted) == [keys[9]] and deleted[0].data["DEL_FLG"] == "Y"
    finally:
        await writer.dispose()
        await source.close()


async def test_uncommitted_pages_are_read_again(crm: CrmStore, source: SqlSource) -> None:
    """Dedup memory fills on commit only: a pass whose checkpoints never committed is re-emitted."""
    contacts = source.config.streams[1]
    first, _ = await drain(source, contacts, {}, commit=False)
    again, _ = await drain(source, contacts, {})
    assert sorted(keys_of(again)) == sorted(keys_of(first)) == await table_keys(crm, CUST_CNTCT)


async def test_a_fresh_adapter_resumes_from_a_checkpoint_without_a_gap(crm_dsn: str, crm: CrmStore) -> None:
    first = SqlSource(crm_config(crm_dsn, page_size=5))
    stream = first.config.streams[1]
    seen: list[str] = []
    state: dict[str, Any] = {}
    checkpoints = 0
    async with aclosing(first.read(stream, {})) as items:  # stop ("crash") after the third page
        async for item in items:
            if isinstance(item, SourceRecord):
                seen.append(str(item.position["key"]))
            else:
                assert isinstance(item, Checkpoint)
                state, checkpoints = dict(item.state), checkpoints + 1
                if checkpoints == 3:
                    break
    await first.close()
    assert len(seen) == 15

    second = SqlSource(crm_config(crm_dsn, page_size=5))
    rest, state = await drain(second, stream, state)
    everything = await table_keys(crm, CUST_CNTCT)
    assert set(seen) | set(keys_of(rest)) == set(everything)  # duplicates allowed, gaps not
    assert len(keys_of(rest)) == len(set(keys_of(rest)))

    # Changes after the restart are picked up too.
    new_id = await crm.update_contact(str(rest[0].data["CUST_NO"]), "EMAIL", "neu@example.org")
    changed, _ = await drain(second, stream, state)
    assert str(new_id) in keys_of(changed)
    await second.close()


async def test_keys_lists_live_keys_in_pages(crm: CrmStore, source: SqlSource) -> None:
    customers = source.config.streams[0]
    async with crm.engine.connect() as conn:
        live = sorted(
            (await conn.execute(sa.select(CUST_MAST.c.CUST_NO).where(CUST_MAST.c.DEL_FLG != "Y"))).scalars()
        )
    pages = [page async for page in source.keys(customers)]
    assert all(len(p) <= 7 for p in pages) and len(pages) > 1
    assert sorted(k for p in pages for k in p) == live
    await crm.soft_delete_customer(live[0])
    assert live[0] not in [k async for p in source.keys(customers) for k in p]
    addresses = source.config.streams[2]  # no soft_delete configured: every key
    assert sorted(k for p in [p async for p in source.keys(addresses)] for k in p) == sorted(
        await table_keys(crm, CUST_ADDR)
    )


async def test_check_and_discover(crm: CrmStore, source: SqlSource) -> None:
    result = await source.check()
    assert result.ok, result.message
    described = {d.name: d for d in await source.discover()}
    assert {"CUST_MAST", "CUST_CNTCT", "CUST_ADDR"} <= set(described)
    assert described["CUST_MAST"].key == ("CUST_NO",)
    assert set(described["CUST_MAST"].cursor) == {"CRT_TS", "UPD_TS"}

    wrong_table = crm_config(crm.dsn)
    wrong_table.streams[1].table = "CUST_CONTACTS"
    bad = SqlSource(wrong_table)
    result = await bad.check()
    await bad.close()
    assert not result.ok and "CUST_CONTACTS" in result.message and "'contacts'" in result.message

    wrong_column = crm_config(crm.dsn)
    wrong_column.streams[0].cursor = "LAST_UPDATE"
    bad = SqlSource(wrong_column)
    result = await bad.check()
    await bad.close()
    assert not result.ok and "LAST_UPDATE" in result.message and "UPD_TS" in result.message


async def test_a_database_outage_is_reported_and_recovered_from(tmp_path: Path) -> None:
    """A stopped server → SourceUnavailable after the retries; once it is back the adapter reads on."""
    server = MariaDbServer(tmp_path / "mariadb")
    await server.start()
    try:
        store = CrmStore(await server.create_database("outage"))
        await store.create_schema()
        await store.load(person(3, i) for i in range(5))
        await store.dispose()
        source = SqlSource(crm_config(server.dsn_for("outage"), retries=2, retry_max_wait_s=0.1))
        customers = source.config.streams[0]
        before, state = await drain(source, customers, {})
        port = server.port
        await server.stop()
        with pytest.raises(SourceUnavailable, match="failed after 2 attempts"):
            await drain(source, customers, state)
        assert not (await source.check()).ok
        server = MariaDbServer(tmp_path / "mariadb", port=port)
        await server.start()
        after, _ = await drain(source, customers, {})
        assert sorted(keys_of(after)) == sorted(keys_of(before))
        await source.close()
    finally:
        await server.stop()
