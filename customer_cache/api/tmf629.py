"""TMF629 Customer Management v4: customers as the 360 read model holds them.

Reads only for now. Creating, changing and deleting customers (write-through to the legacy CRM with
a read-your-writes overlay in ``c360:pw:{id}``) will add ``POST /customer``, ``PATCH /customer/{id}``
and ``DELETE /customer/{id}`` to this router; they will resolve the customer with :func:`_found`
and answer with :func:`_resource`, as the reads do.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response

from customer_cache.api import tmf_mapping
from customer_cache.api.common import (
    ERRORS,
    FIELDS,
    LIMIT,
    LIST_RESPONSES,
    OFFSET,
    filters_of,
    page,
    reader,
    redirect_headers,
    too_broad,
)
from customer_cache.api.common import not_found as _not_found
from customer_cache.reader import Found, ScanLimitExceeded
from customer_cache.view.model import Customer360
from overlay.http.auth import Principal, mask, require
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
