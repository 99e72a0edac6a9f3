"""Conformance of the SQL adapter: the CRM connector of deploy/connectors/demo.yaml (customers,
contacts, addresses) on SQLite, PostgreSQL and MariaDB, over ~100 simulated persons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.conformance import ConformanceCase, ConnectorConformance, Expected
from legacy_sim.crm_db import CUST_ADDR, CUST_CNTCT, CUST_MAST, CrmStore
from legacy_sim.people import person
from overlay.events import ChangeEvent, EntityType
from tests.integration.connectors.conformance._support import SEED, demo_connector_yaml

PERSONS = 100
NEW_NAMES = ("Neumann", "Neubauer", "Neuhaus")


class CrmCase(ConformanceCase):
    connector = "crm"
    source_system = "crm"

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._store: CrmStore | None = None
        self._changes = 0

    @property
    def store(self) -> CrmStore:
        assert self._store is not None, "start() first"
        return self._store

    async def start(self, workdir: Path) -> None:
        self._store = CrmStore(self.dsn)
        await self.store.create_schema(drop_existing=True)
        await self.store.load(person(SEED, i) for i in range(PERSONS))

    async def stop(self) -> None:
        if self._store is not None:
            await self._store.dispose()

    def config_yaml(self) -> str:
        # Small pages, so a snapshot has several checkpoints (and the kill lands between two).
        return demo_connector_yaml("crm", {"OVERLAY_SIM_CRM_DSN": self.dsn}, page_size=40,
                                   unhealthy_poll_interval_s=2)

    async def _column(self, column: sa.Column[Any], *where: Any) -> list[Any]:
        async with self.store.engine.connect() as conn:
            result = await conn.execute(sa.select(column).where(*where).order_by(column))
            return list(result.scalars())

    async def snapshot(self) -> dict[EntityType, set[str]]:
        return {
            EntityType.PARTY: {str(k) for k in await self._column(CUST_MAST.c.CUST_NO)},
            EntityType.CONTACT_MEDIUM: {str(k) for k in await self._column(CUST_CNTCT.c.CNTCT_ID)},
            EntityType.ADDRESS: {str(k) for k in await self._column(CUST_ADDR.c.ADDR_ID)},
        }

    async def _live_customer(self, nth: int) -> str:
        return str((await self._column(CUST_MAST.c.CUST_NO, CUST_MAST.c.DEL_FLG == "N"))[nth])

    async def change(self, base_url: str) -> Expected:
        cust_no = await self._live_customer(3)
        record = await self.store.get_customer(cust_no)
        assert record is not None
        name = next(n for n in NEW_NAMES[self._changes:] if n != record.customer["LAST_NM"])
        self._changes += 1
        assert await self.store.update_customer(cust_no, LAST_NM=name)

        def renamed(event: ChangeEvent[Any]) -> bool:
            return event.payload is not None and event.payload.family_name == name

        return Expected(EntityType.PARTY, cust_no, renamed)

    async def bad_record(self, base_url: str) -> str:
        # The demo mapping normalises CNTCT_VAL (an e-mail if it has an @, else a phone number):
        # this one is neither.
        await self.store.add_contact(await self._live_customer(5), "EMAIL", "kein-at-zeichen.example.de")
        return "contacts"


class TestSqlCrm(ConnectorConformance):
    @pytest.fixture
    def case(self, crm_dsn: str) -> CrmCase:
        return CrmCase(crm_dsn)
