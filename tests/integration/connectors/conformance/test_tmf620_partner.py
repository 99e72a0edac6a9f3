"""Conformance of the TMF620 adapter: the StreamFlix partner connector of
deploy/connectors/demo.yaml (offerings, specifications, prices) against the simulated partner
catalog. Changes go through the catalog's admin endpoints, as in the demo."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.conformance import ConformanceCase, ConnectorConformance, Expected
from legacy_sim.partner_catalog import create_partner_catalog_app
from legacy_sim.partner_data import API_PREFIX, STREAMFLIX, PartnerCatalog
from overlay.events import ChangeEvent, EntityType
from tests.integration.connectors.conformance._support import SEED, AppServer, demo_connector_yaml

OFFERINGS = 40


class PartnerCase(ConformanceCase):
    connector = "partner-streamflix"
    source_system = "streamflix"

    def __init__(self) -> None:
        self.catalog = PartnerCatalog(STREAMFLIX, size=OFFERINGS, seed=SEED)
        self._server: AppServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return self._server.url

    async def start(self, workdir: Path) -> None:
        self._server = AppServer(create_partner_catalog_app(self.catalog))
        await self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()

    def config_yaml(self) -> str:
        # Small pages, so a snapshot has several checkpoints (and the kill lands between two).
        small = {"limit": 10}
        return demo_connector_yaml(
            "partner-streamflix", {"OVERLAY_SIM_PARTNER_STREAMFLIX": self.url},
            poll_interval_s=1, unhealthy_poll_interval_s=2,
            streams={"offerings": small, "specifications": small, "prices": small},
        )

    async def snapshot(self) -> dict[EntityType, set[str]]:
        indexes = range(self.catalog.size)
        return {
            EntityType.PRODUCT_OFFERING: {self.catalog.offering_id(i) for i in indexes},
            EntityType.PRODUCT_SPECIFICATION: {self.catalog.spec_id(i) for i in indexes},
            EntityType.PRODUCT_OFFERING_PRICE: {pid for i in indexes for pid in self.catalog.price_ids(i)},
        }

    async def _admin(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            response = await client.post(path, json=body)
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

    async def change(self, base_url: str) -> Expected:
        [offering_id] = (await self._admin("/_admin/reprice", {"count": 1}))["changed"]
        price_id = next(p for p in self.catalog.price_ids(self.catalog.index_of(offering_id) or 0)
                        if p.endswith("-rc"))
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            price = (await client.get(f"{API_PREFIX}/productOfferingPrice/{price_id}")).json()
        amount = Decimal(str(price["price"]["value"]))

        def repriced(event: ChangeEvent[Any]) -> bool:
            return event.payload is not None and event.payload.amount == amount

        return Expected(EntityType.PRODUCT_OFFERING_PRICE, price_id, repriced)

    async def bad_record(self, base_url: str) -> str:
        # An offering without a name: the canonical ProductOffering requires one.
        await self._admin("/_admin/publish", {"count": 1, "override": {"name": None}})
        return "offerings"


class TestTmf620Partner(ConnectorConformance):
    @pytest.fixture
    def case(self) -> PartnerCase:
        return PartnerCase()
