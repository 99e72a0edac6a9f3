"""Conformance of the REST adapter: the mobile BSS connector of deploy/connectors/demo.yaml
(subscribers and tariffs) against the simulated mobile BSS server over a small estate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.conformance import ConformanceCase, ConnectorConformance, Expected
from legacy_sim.db import sqlite_dsn
from legacy_sim.mobile_bss import create_mobile_app
from legacy_sim.mobile_store import MobileStore
from legacy_sim.people import person
from overlay.events import ChangeEvent, EntityType
from tests.integration.connectors.conformance._support import SEED, AppServer, demo_connector_yaml

PERSONS = 60  # ~40 subscribers, each five or six canonical entities
NEW_NAMES = ("Neumann", "Neubauer", "Neuhaus")


class MobileCase(ConformanceCase):
    connector = "mobile"
    source_system = "mobile"

    def __init__(self) -> None:
        self._store: MobileStore | None = None
        self._server: AppServer | None = None
        self._changes = 0

    @property
    def store(self) -> MobileStore:
        assert self._store is not None, "start() first"
        return self._store

    async def start(self, workdir: Path) -> None:
        self._store = MobileStore(sqlite_dsn(workdir / "mobile.sqlite"))
        await self.store.create_schema()
        await self.store.load(person(SEED, i) for i in range(PERSONS))
        self._server = AppServer(create_mobile_app(self.store))
        await self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
        if self._store is not None:
            await self._store.dispose()

    def config_yaml(self) -> str:
        assert self._server is not None
        return demo_connector_yaml(
            "mobile", {"OVERLAY_SIM_MOBILE": self._server.url}, unhealthy_poll_interval_s=2,
            # Small pages, so a snapshot has several checkpoints (and the kill lands between two).
            streams={"subscribers": {"pagination": {"kind": "page", "page_param": "page",
                                                    "size_param": "page_size", "size": 10, "start": 1}}},
        )

    async def _subscribers(self) -> list[dict[str, Any]]:
        _, rows = await self.store.list_subscribers(offset=0, limit=100_000)
        return rows

    async def snapshot(self) -> dict[EntityType, set[str]]:
        rows = await self._subscribers()
        tariffs = [t["code"] for t in await self.store.list_tariffs()]
        return {
            EntityType.PARTY: {r["customer_ref"] for r in rows},
            EntityType.ACCOUNT: {r["billing_account_no"] for r in rows},
            EntityType.PRODUCT_INSTANCE: {r["subscriber_id"] for r in rows},
            EntityType.PRODUCT_OFFERING: set(tariffs),
            EntityType.PRODUCT_SPECIFICATION: set(tariffs),
            EntityType.PRODUCT_OFFERING_PRICE: {f"{code}-monthly" for code in tariffs},
        }

    async def change(self, base_url: str) -> Expected:
        row = (await self._subscribers())[2]
        name = next(n for n in NEW_NAMES[self._changes:] if n != row["last_name"])
        self._changes += 1
        assert await self.store.update_subscriber(row["subscriber_id"], last_name=name)

        def renamed(event: ChangeEvent[Any]) -> bool:
            return event.payload is not None and event.payload.family_name == name

        return Expected(EntityType.PARTY, row["customer_ref"], renamed)

    async def bad_record(self, base_url: str) -> str:
        # The demo mapping puts msisdn in E.164 on the product's identifiers; this is no phone number.
        row = (await self._subscribers())[5]
        assert await self.store.update_subscriber(row["subscriber_id"], msisdn="ruf-mich-an")
        return "subscribers"


class TestRestMobile(ConnectorConformance):
    @pytest.fixture
    def case(self) -> MobileCase:
        return MobileCase()
