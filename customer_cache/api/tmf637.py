"""TMF637 Product Inventory v4: what a customer holds, across every stack.

A product's id is ``system/key`` of its source record (URL-encoded in paths and hrefs:
``mobile%2FS0000001``); ``relatedParty.id`` is the customer id (a merged-away id finds the survivor).
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
    customers_by_party,
    filters_of,
    not_found,
    page,
    reader,
    scan_resources,
)
from overlay.http.auth import Principal, mask, require
from overlay.logging import get_logger
from overlay.tmf import project_fields, set_page_headers

log = get_logger(__name__)
BASE = tmf_mapping.PRODUCT_BASE
SCOPE = "product:read"
router = APIRouter(prefix=BASE, tags=["TMF637 Product Inventory"])


@router.get("/product", responses=LIST_RESPONSES, summary="List the products of a customer")
async def list_products(
    request: Request,
    response: Response,
    fields: str | None = FIELDS,
    offset: int = OFFSET,
    limit: int = LIMIT,
    related_party_id: str | None = Query(
        None, alias="relatedParty.id", description="The customer (comma-separated for several)."
    ),
    status: str | None = Query(None, description="Filter: active, suspended, terminated, …"),
    offering_id: str | None = Query(None, alias="productOffering.id", description="Filter: the offering."),
    principal: Principal = Depends(require(SCOPE)),
) -> list[dict[str, Any]]:
    """Products in the order of the customer's 360 document. Any other attribute filters too
    (``?productCharacteristic.value=+4915123456789``). Without ``relatedParty.id`` every customer
    is read."""
    filters = filters_of(request)
    parties = filters.pop("relatedParty.id", None)
    if parties is not None:
        docs = await customers_by_party(request, parties)
        resources = [p for d in docs for p in tmf_mapping.products(d)]
        items = page(response, resources, filters, fields, offset, limit)
    else:
        total, selected = await scan_resources(request, tmf_mapping.products, filters, offset, limit)
        items = [project_fields(r, fields) for r in selected]
        set_page_headers(response, total=total, count=len(items), offset=offset)
    log.info("product.list", count=len(items), channel=principal.channel)
    return mask(principal, items)  # type: ignore[no-any-return]


@router.get("/product/{product_id:path}", responses=ERRORS, summary="Retrieve a product by id")
async def get_product(
    product_id: str,
    request: Request,
    fields: str | None = FIELDS,
    principal: Principal = Depends(require(SCOPE)),
) -> dict[str, Any]:
    """The product with id ``system/key`` (URL-encoded), found through its customer."""
    found = await reader(request).owner_of(product_id)
    product = None
    if found is not None:
        doc = found.doc
        product = next((p for p in doc.products if tmf_mapping.ref_id(p.system, p.key) == product_id), None)
    if found is None or product is None:
        raise not_found("Product", product_id)
    log.info("product.read", customer_id=found.doc.id, channel=principal.channel)
    return mask(principal, project_fields(tmf_mapping.product(found.doc, product), fields))  # type: ignore[no-any-return]
