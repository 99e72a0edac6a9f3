"""TMF629 Customer Management v4: customers as the 360 read model holds them.

Writes (``POST /customer``, ``PATCH /customer/{id}``, ``DELETE /customer/{id}``) go through to the
legacy CRM that owns customer data (:mod:`customer_cache.writeback`) and answer once the change is
visible in the 360 view (read-your-writes); ``202 Accepted`` if no resolver made it visible in time.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from customer_cache.api import tmf629_write, tmf_mapping
from customer_cache.api.common import (
    ERRORS,
    FIELDS,
    LIMIT,
    LIST_RESPONSES,
    OFFSET,
    filters_of,
    keys_of,
    page,
    reader,
    redirect_headers,
    too_broad,
)
from customer_cache.api.common import not_found as _not_found
from customer_cache.reader import Found, ScanLimitExceeded
from customer_cache.view.model import Customer360
from customer_cache.writeback.crm_sql import CrmNotFound, CrmWriteError, PartyChange
from customer_cache.writeback.service import CustomerWriteService, NoCrmRecord, NotYetVisible
from overlay.http.auth import Principal, mask, require
from overlay.http.errors import ApiError, TmfError
from overlay.logging import get_logger
from overlay.tmf import matches, project_fields, set_page_headers

log = get_logger(__name__)
BASE = tmf_mapping.CUSTOMER_BASE
SCOPE = "customer:read"
router = APIRouter(prefix=BASE, tags=["TMF629 Customer"])

_ID_FILTERS = ("id", "engagedParty.id")


def _resource(doc: Customer360) -> dict[str, Any]:
    return tmf_mapping.customer(doc)


async def _found(request: Request, customer_id: str) -> Found:
    found = await reader(request).get(customer_id)
    if found is None:
        raise _not_found("Customer", customer_id)
    return found


@router.get("/customer", responses=LIST_RESPONSES, summary="List or find customers")
async def list_customers(
    request: Request,
    response: Response,
    fields: str | None = FIELDS,
    offset: int = OFFSET,
    limit: int = LIMIT,
    status: str | None = Query(None, description="Filter: lifecycle status (active, inactive, …)."),
    name: str | None = Query(None, description="Filter: the customer's name, exactly."),
    engaged_party_id: str | None = Query(None, alias="engagedParty.id", description="Filter: the party id."),
    principal: Principal = Depends(require(SCOPE)),
) -> list[dict[str, Any]]:
    """Customers in id order. Any other attribute filters too (``?characteristic.value=crm/K1``);
    a comma separates accepted values. Filters other than ``id`` / ``engagedParty.id`` read every
    customer."""
    filters = filters_of(request)
    by_id = next((filters.pop(f) for f in _ID_FILTERS if f in filters), None)
    if by_id is not None:
        named = await reader(request).get_many(sorted(by_id))  # attribute equality: no moved redirects
        items = page(response, [_resource(d) for d in named if d is not None], filters, fields, offset, limit)
    else:
        predicate = (lambda d: matches(_resource(d), filters)) if filters else None
        try:
            total, docs = await reader(request).list(offset, limit, predicate)
        except ScanLimitExceeded as exc:
            raise too_broad(exc) from exc
        items = [project_fields(_resource(d), fields) for d in docs]
        set_page_headers(response, total=total, count=len(items), offset=offset)
    log.info("customer.list", count=len(items), filtered=bool(filters or by_id), channel=principal.channel)
    return mask(principal, items)  # type: ignore[no-any-return]


@router.get("/customer/{customer_id}", responses=ERRORS, summary="Retrieve a customer by id")
async def get_customer(
    customer_id: str,
    request: Request,
    response: Response,
    fields: str | None = FIELDS,
    principal: Principal = Depends(require(SCOPE)),
) -> dict[str, Any]:
    """The customer; an id merged into another customer answers with the survivor (its id in the
    body, ``X-Moved-From`` the id asked for)."""
    found = await _found(request, customer_id)
    doc = found.doc
    redirect_headers(response, found, tmf_mapping.href(BASE, "customer", doc.id))
    # The change that produced what the channel sees: lets support trace a read back to its source.
    if doc.event_id:
        response.headers["X-Event-Id"] = doc.event_id
    log.info("customer.read", customer_id=doc.id, requested_id=customer_id, event_id=doc.event_id,
             channel=principal.channel)
    return mask(principal, project_fields(_resource(doc), fields))  # type: ignore[no-any-return]


# --- writes: through to the CRM -----------------------------------------------------------------
WRITE_SCOPE = "customer:write"
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS, **{code: {"model": TmfError} for code in (409, 422, 503)},
}


def _writer(request: Request) -> CustomerWriteService:
    service = getattr(request.app.state, "customer_writer", None)
    if service is None:
        settings = request.app.state.settings
        try:
            service = CustomerWriteService.from_config(
                settings.connectors_config, settings.crm_connector, request.app.state.redis,
                keys=keys_of(request),
            )
        except Exception as exc:  # a missing or broken connectors file: writes unavailable, reads fine
            log.warning("customer.write_unavailable", error=f"{type(exc).__name__}: {exc}"[:300])
            raise ApiError(503, "WRITE_UNAVAILABLE", "Customer writes unavailable",
                           "the CRM write-through is not configured on this server") from None
        request.app.state.customer_writer = service
    return service


def _change(body: dict[str, Any], *, creating: bool) -> PartyChange:
    try:
        return tmf629_write.to_change(body, creating=creating)
    except tmf629_write.InvalidCustomerBody as exc:
        raise ApiError(400, "INVALID_BODY", "Invalid customer", str(exc)) from None


async def _written(request: Request, response: Response, customer_id: str, principal: Principal,
                   status: int) -> dict[str, Any]:
    found = await _found(request, customer_id)
    response.status_code = status
    response.headers["Location"] = tmf_mapping.href(BASE, "customer", found.doc.id)
    if found.doc.event_id:
        response.headers["X-Event-Id"] = found.doc.event_id
    return mask(principal, _resource(found.doc))  # type: ignore[no-any-return]


def _accepted(response: Response, exc: NotYetVisible) -> dict[str, Any]:
    response.status_code = 202
    return {"id": None, "status": "pending", "@type": "Customer",
            "characteristic": [{"name": "sourceRecord", "valueType": "string", "value": exc.customer_ref}]}


def _write_failed(exc: CrmWriteError) -> ApiError:
    if isinstance(exc, CrmNotFound):
        return ApiError(404, "NOT_FOUND", "Customer not found in the CRM", str(exc))
    if isinstance(exc, NoCrmRecord):
        return ApiError(409, "NO_CRM_RECORD", "Customer not owned by the CRM", str(exc))
    return ApiError(422, "CRM_REJECTED", "The CRM rejected the change", str(exc))


@router.post("/customer", status_code=201, responses=_WRITE_ERRORS, summary="Create a customer (in the CRM)")
async def create_customer(
    request: Request,
    response: Response,
    body: dict[str, Any] = Body(..., description="TMF629 Customer_Create: name or givenName/familyName "
                                "characteristics, contactMedium, status."),
    principal: Principal = Depends(require(WRITE_SCOPE)),
) -> dict[str, Any]:
    change = _change(body, creating=True)
    try:
        customer_id = await _writer(request).create(change)
    except NotYetVisible as exc:
        return _accepted(response, exc)
    except CrmWriteError as exc:
        raise _write_failed(exc) from None
    log.info("customer.created", customer_id=customer_id, channel=principal.channel)
    return await _written(request, response, customer_id, principal, 201)


@router.patch("/customer/{customer_id}", responses=_WRITE_ERRORS, summary="Update a customer (in the CRM)")
async def patch_customer(
    customer_id: str,
    request: Request,
    response: Response,
    body: dict[str, Any] = Body(..., description="TMF629 Customer_Update (merge patch)."),
    principal: Principal = Depends(require(WRITE_SCOPE)),
) -> dict[str, Any]:
    found = await _found(request, customer_id)
    change = _change(body, creating=False)
    try:
        updated = await _writer(request).update(found.doc.id, change)
    except NotYetVisible as exc:
        return _accepted(response, exc)
    except CrmWriteError as exc:
        raise _write_failed(exc) from None
    log.info("customer.updated", customer_id=updated, channel=principal.channel)
    return await _written(request, response, updated, principal, 200)


@router.delete("/customer/{customer_id}", status_code=204, responses=_WRITE_ERRORS,
               summary="Delete a customer (soft delete in the CRM)")
async def delete_customer(
    customer_id: str,
    request: Request,
    principal: Principal = Depends(require(WRITE_SCOPE)),
) -> Response:
    found = await _found(request, customer_id)
    try:
        await _writer(request).delete(found.doc.id)
    except CrmWriteError as exc:
        raise _write_failed(exc) from None
    log.info("customer.deleted", customer_id=found.doc.id, channel=principal.channel)
    return Response(status_code=204)
