"""Conformance of the XML adapter: the fixed/TV BSS connector of deploy/connectors/demo.yaml
(customers and the product catalog) against the simulated XML server over a small estate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.conformance import ConformanceCase, ConnectorConformance, Expected
from legacy_sim.catalogs import FIXED_PRODUCTS
from legacy_sim.db import sqlite_dsn
from legacy_sim.fixed_tv_bss import create_fixed_tv_app
from legacy_sim.fixed_tv_store import FixedTvStore
from legacy_sim.people import person
from overlay.events import ChangeEvent, EntityType
from tests.integration.connectors.conformance._support import SEED, AppServer, demo_connector_yaml

PERSONS = 80  # ~40 fixed/TV customers, each six or more canonical entities
NEW_NAMES = ("Neumann", "Neubauer", "Neuhaus")


class FixedTvCase(ConformanceCase):
    connector = "fixed-tv"
    source_system = "fixed"

    def __init__(self) -> None:
        self._store: FixedTvStore | None = None
        self._server: AppServer | None = None
        self._changes = 0

    @property
    def store(self) -> FixedTvStore:
        assert self._store is not None, "start() first"
        return self._store

    async def start(self, workdir: Path) -> None:
        self._store = FixedTvStore(sqlite_dsn(workdir / "fixed_tv.sqlite"))
        await self.store.create_schema()
        await self.store.load(person(SEED, i) for i in range(PERSONS))
        self._server = AppServer(create_fixed_tv_app(self.store))
        await self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
        if self._store is not None:
            await self._store.dispose()

    def config_yaml(self) -> str:
        assert self._server is not None
        return demo_connector_yaml(
            "fixed-tv", {"OVERLAY_SIM_FIXED_TV": self._server.url}, unhealthy_poll_interval_s=2,
            # Small pages, so a snapshot has several checkpoints (and the kill lands between two).
            streams={"customers": {"pagination": {"kind": "offset", "offset_param": "offset",
                                                  "limit_param": "limit", "limit": 8}}},
        )

    async def _customers(self) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        _, page = await self.store.list_customers(offset=0, limit=100_000)
        return page

    async def snapshot(self) -> dict[EntityType, set[str]]:
        customers = await self._customers()
        ids = [c["customer_id"] for c, _ in customers]
        codes = [p.code for p in FIXED_PRODUCTS]
        return {
            EntityType.PARTY: set(ids),
            EntityType.ADDRESS: {f"{i}/service" for i in ids},
            EntityType.ACCOUNT: {c["account_no"] for c, _ in customers},
            EntityType.PRODUCT_INSTANCE: {f"{c['customer_id']}/{p['code']}" for c, products in customers
                                          for p in products},
            EntityType.PRODUCT_SPECIFICATION: set(codes),
            EntityType.PRODUCT_OFFERING: set(codes),
            EntityType.PRODUCT_OFFERING_PRICE: {f"{c}-{kind}" for c in codes
                                                for kind in ("monthly", "setup")},
        }

    async def change(self, base_url: str) -> Expected:
        customer, _ = (await self._customers())[2]
        name = next(n for n in NEW_NAMES[self._changes:] if n != customer["last_name"])
        self._changes += 1
        assert await self.store.update_customer(customer["customer_id"], last_name=name)

        def renamed(event: ChangeEvent[Any]) -> bool:
            return event.payload is not None and event.payload.family_name == name

        return Expected(EntityType.PARTY, customer["customer_id"], renamed)

    async def bad_record(self, base_url: str) -> str:
        # The demo mapping keys the billing account by AccountNo: a customer without one cannot map.
        customer, _ = (await self._customers())[5]
        assert await self.store.update_customer(customer["customer_id"], account_no="")
        return "customers"


class TestXmlFixedTv(ConnectorConformance):
    @pytest.fixture
    def case(self) -> FixedTvCase:
        return FixedTvCase()
