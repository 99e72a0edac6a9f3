"""The compact customer 360: the whole document in one read, for care and sales desktops."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from customer_cache.api import tmf_mapping
from customer_cache.api.common import ERRORS, not_found, reader, redirect_headers
from overlay.http.auth import Principal, mask, require
from overlay.logging import get_logger

log = get_logger(__name__)
BASE = "/api/v1"
SCOPE = "customer:read"
router = APIRouter(prefix=BASE, tags=["Customer 360"])


@router.get("/customer360/{customer_id}", responses=ERRORS, summary="The 360 view of a customer")
async def get_customer360(
    customer_id: str,
    request: Request,
    response: Response,
    principal: Principal = Depends(require(SCOPE)),
) -> dict[str, Any]:
    """Golden record with provenance, linked source records, contact media, addresses, accounts,
    products across stacks and open orders (camelCase attributes). A merged-away id answers with the
    surviving customer (``X-Moved-From`` the id asked for)."""
    found = await reader(request).get(customer_id)
    if found is None:
        raise not_found("Customer", customer_id)
    doc = found.doc
    redirect_headers(response, found, f"{BASE}/customer360/{doc.id}")
    if doc.event_id:
        response.headers["X-Event-Id"] = doc.event_id
    log.info("customer360.read", customer_id=doc.id, requested_id=customer_id, channel=principal.channel)
    return mask(principal, tmf_mapping.compact_360(doc))  # type: ignore[no-any-return]
