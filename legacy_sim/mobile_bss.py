"""The mobile BSS as a REST/JSON server: legacy camelCase, page-number pagination, messy MSISDNs.

``modified_since`` is inclusive (``lastModified >= since``) and timestamps have second precision,
so an incremental reader sees boundary rows again and must de-duplicate; page-number pagination
over a changing table can skip or repeat rows, as the real one does.

The subscriber listing is the connectors' bulk path: its body is assembled from items the store
renders as JSON (no model per item), byte for byte what the :class:`SubscriberPage` model would give.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Response
from pydantic import BaseModel

from legacy_sim.db import parse_since
from legacy_sim.http_guards import BearerAuth, RateLimit
from legacy_sim.mobile_store import MobileStore


def iso_z(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


class Subscriber(BaseModel):
    subscriberId: str
    msisdn: str
    firstName: str | None
    lastName: str | None
    email: str | None
    birthDate: date | None
    customerRef: str
    billingAccountNo: str
    tariffCode: str
    status: str
    simIccid: str
    imsi: str
    contractStart: date
    lastModified: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Subscriber:
        return cls(
            subscriberId=row["subscriber_id"], msisdn=row["msisdn"], firstName=row["first_name"],
            lastName=row["last_name"], email=row["email"], birthDate=row["birth_date"],
            customerRef=row["customer_ref"], billingAccountNo=row["billing_account_no"],
            tariffCode=row["tariff_code"], status=row["status"], simIccid=row["sim_iccid"],
            imsi=row["imsi"], contractStart=row["contract_start"], lastModified=iso_z(row["last_modified"]),
        )


class SubscriberPage(BaseModel):
    page: int
    page_size: int
    total: int
    items: list[Subscriber]


class TariffOut(BaseModel):
    code: str
    name: str
    monthlyFee: float
    dataGb: int | None
    validFrom: date
    validTo: date | None
    lastModified: str


def create_mobile_app(
    store: MobileStore, *, token: str | None = None, rate_limit_per_s: float | None = None
) -> FastAPI:
    """The mobile BSS API over ``store``; ``token`` enables bearer auth, ``rate_limit_per_s`` 429s."""
    app = FastAPI(title="Legacy Mobile BSS (simulated)", version="3.7-legacy")
    router = APIRouter(
        prefix="/api/v1", dependencies=[Depends(BearerAuth(token)), Depends(RateLimit(rate_limit_per_s))]
    )

    @router.get("/subscribers", response_model=SubscriberPage)
    async def list_subscribers(
        page: Annotated[int, Query(ge=1)] = 1,
        page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
        modified_since: str | None = None,
    ) -> Response:
        try:
            since = parse_since(modified_since)
        except ValueError as exc:
            raise HTTPException(400, f"invalid modified_since: {modified_since}") from exc
        total, items = await store.subscriber_page(
            offset=(page - 1) * page_size, limit=page_size, modified_since=since
        )
        body = b'{"page":%d,"page_size":%d,"total":%d,"items":[%b]}' % (
            page, page_size, total, b",".join(items))
        return Response(body, media_type="application/json")

    @router.get("/subscribers/{subscriber_id}")
    async def get_subscriber(subscriber_id: str) -> Subscriber:
        row = await store.get_subscriber(subscriber_id)
        if row is None:
            raise HTTPException(404, f"subscriber {subscriber_id} not found")
        return Subscriber.from_row(row)

    @router.get("/tariffs")
    async def list_tariffs() -> list[TariffOut]:
        return [
            TariffOut(
                code=t["code"], name=t["name"], monthlyFee=t["monthly_fee"], dataGb=t["data_gb"],
                validFrom=t["valid_from"], validTo=t["valid_to"], lastModified=iso_z(t["last_modified"]),
            )
            for t in await store.list_tariffs()
        ]

    app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
