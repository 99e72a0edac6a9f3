"""Customer search for channels: one box, any identifier or a name with postcode / birth date."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response

from customer_cache.api.common import ERRORS, keys_of
from customer_cache.search.query import MAX_LIMIT, SearchHit, search
from overlay.http.auth import Principal, mask, require
from overlay.logging import get_logger

log = get_logger(__name__)
BASE = "/api/v1"
SCOPE = "customer:search"
router = APIRouter(prefix=BASE, tags=["Customer 360"])


@router.get(
    "/customers/search", responses=ERRORS, response_model=list[SearchHit],
    summary="Find customers by any identifier or by name + postcode / birth date",
)
async def search_customers(
    request: Request,
    response: Response,
    q: str = Query(..., min_length=1, max_length=200, description=(
        "A customer id (CU-…), a source record (crm/K00000001), an email, a phone number in any "
        "spelling, an account / contract / subscriber number, or a name with optional postcode and "
        "birth date: 'Müller 10115', 'Hans Mueller 1980-02-03', 'mueller, hans'.")),
    limit: int = Query(10, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(SCOPE)),
) -> Any:
    """Ranked customer summaries: identifier matches first, then exact, prefix, phonetic and typo
    name matches; a matching postcode or birth date ranks higher."""
    hits = await search(request.app.state.redis, keys_of(request), q, limit)
    response.headers["X-Result-Count"] = str(len(hits))
    # Never the query itself in the log: it is personal data.
    log.info("customer.search", results=len(hits), stage=hits[0].stage.value if hits else None,
             channel=principal.channel)
    return mask(principal, [h.model_dump(mode="json") for h in hits])
