"""Conformance of the REST adapter as an order-status reader: the ``orders-mobile`` connector of
deploy/connectors/demo.yaml against a simulated order back-end, orders taken with POST /orders
(and an Idempotency-Key) as the orchestrator places them."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.conformance import ConformanceCase, ConnectorConformance, Expected
from legacy_sim.order_backend import create_order_backend
from overlay.events import ChangeEvent, EntityType
from overlay.models.order import OrderState
from tests.integration.connectors.conformance._support import AppServer, demo_connector_yaml

ORDERS = 60
PROGRESS_S = 1.5  # acknowledged → inProgress (after a third) → completed: changes without any request
PRODUCTS = ("T-M20", "T-M40", "ALLIN16", "T-BIZPRO")


class OrdersCase(ConformanceCase):
    connector = "orders-mobile"
    source_system = "backend-mobile"

    def __init__(self) -> None:
        self._server: AppServer | None = None
        self._ids: list[str] = []

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return self._server.url

    async def _order(self, client: httpx.AsyncClient, n: int) -> str:
        body = {"action": "add", "product": PRODUCTS[n % len(PRODUCTS)], "customerRef": f"MC{n + 1:08d}"}
        response = await client.post("/orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert response.status_code == 201, response.text
        order_id = str(response.json()["id"])
        self._ids.append(order_id)
        return order_id

    async def start(self, workdir: Path) -> None:
        self._server = AppServer(create_order_backend("mobile", progress_seconds=PROGRESS_S))
        await self._server.start()
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            for n in range(ORDERS):
                await self._order(client, n)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()

    def config_yaml(self) -> str:
        return demo_connector_yaml("orders-mobile", {"OVERLAY_SIM_BACKEND_MOBILE": self.url},
                                   unhealthy_poll_interval_s=2)

    async def snapshot(self) -> dict[EntityType, set[str]]:
        return {EntityType.ORDER_STATUS: set(self._ids)}

    async def change(self, base_url: str) -> Expected:
        # A new order, whose state then moves on by itself: expect it completed.
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            order_id = await self._order(client, len(self._ids))

        def completed(event: ChangeEvent[Any]) -> bool:
            return event.payload is not None and event.payload.state is OrderState.COMPLETED

        return Expected(EntityType.ORDER_STATUS, order_id, completed)

    async def bad_record(self, base_url: str) -> str:
        # A state outside TMF622 (the canonical OrderStatus rejects it), as the back-end reports it.
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            raw = {"id": "MOO-RAW-00000001", "system": "mobile", "action": "add", "product": "T-M20",
                   "customerRef": "MC00000001", "state": "stuckInLegacyQueue"}
            response = await client.post("/_admin/raw-orders", json=raw)
            assert response.status_code == 201, response.text
        return "orders"


# GET /orders has no paging, so a snapshot is one response and one checkpoint: the kill of the
# resume test cannot land inside it, and the kit's warning about that is expected here.
@pytest.mark.filterwarnings("ignore::connectors.conformance.ConformanceWarning")
class TestRestOrders(ConnectorConformance):
    @pytest.fixture
    def case(self) -> OrdersCase:
        return OrdersCase()
