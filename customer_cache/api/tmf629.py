"""TMF629 Customer Management v4: customers as the 360 read model holds them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response

from customer_cache.projection import CustomerDoc
from customer_cache.read_model import CustomerReadModel
from overlay.http.auth import Principal, mask, require
from overlay.http.errors import ApiError, TmfError
from overlay.logging import get_logger
from overlay.models import PartyKind
from overlay.tmf import project_fields

log = get_logger(__name__)
BASE = "/tmf-api/customerManagement/v4"
router = APIRouter(prefix=BASE, tags=["TMF629 Customer"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": TmfError} for code in (400, 401, 403, 404, 500)
}


def to_tmf(doc: CustomerDoc) -> dict[str, Any]:
    party = doc.party
    referred = "Organization" if party.kind is PartyKind.ORGANIZATION else "Individual"
    body: dict[str, Any] = {
        "id": doc.id,
        "href": f"{BASE}/customer/{doc.id}",
        "name": party.display_name,
        "status": party.status,
        "engagedParty": {
            "id": doc.id,
            "href": f"/tmf-api/partyManagement/v4/{referred.lower()}/{doc.id}",
            "name": party.display_name,
            "@referredType": referred,
        },
        "characteristic": [
            {"name": "sourceRecord", "valueType": "string", "value": f"{s.system}/{s.key}"}
            for s in doc.sources
        ],
        "@type": "Customer",
    }
    if party.segment:
        body["characteristic"].append({"name": "segment", "valueType": "string", "value": party.segment})
    return body


def _model(request: Request) -> CustomerReadModel:
    return CustomerReadModel(request.app.state.redis)


@router.get("/customer", responses=_ERRORS, summary="List customers")
async def list_customers(
    request: Request,
    response: Response,
    fields: str | None = Query(None, description="Comma-separated attributes to return."),
    offset: int = Query(0, ge=0),
    limit: int = Query(20, ge=1, le=1000),
    principal: Principal = Depends(require("customer:read")),
) -> list[dict[str, Any]]:
    total, docs = await _model(request).list(offset, limit)
    items = [project_fields(to_tmf(d), fields) for d in docs]
    response.headers["X-Total-Count"] = str(total)
    response.headers["X-Result-Count"] = str(len(items))
    if offset + len(items) < total:
        response.status_code = 206
    return mask(principal, items)  # type: ignore[no-any-return]


@router.get("/customer/{customer_id}", responses=_ERRORS, summary="Retrieve a customer by id")
async def get_customer(
    customer_id: str,
    request: Request,
    response: Response,
    fields: str | None = Query(None, description="Comma-separated attributes to return."),
    principal: Principal = Depends(require("customer:read")),
) -> dict[str, Any]:
    doc = await _model(request).get(customer_id)
    if doc is None:
        raise ApiError(404, "NOT_FOUND", "Customer not found", f"no customer with id {customer_id}")
    # The change that produced what the channel sees: lets support trace a read back to its source.
    response.headers["X-Event-Id"] = doc.event_id
    log.info("customer.read", customer_id=customer_id, event_id=doc.event_id, channel=principal.channel)
    return mask(principal, project_fields(to_tmf(doc), fields))  # type: ignore[no-any-return]
