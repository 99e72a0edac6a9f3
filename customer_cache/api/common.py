"""What every customer-facing endpoint shares: the reader, errors, paging and filters."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import Query, Request, Response

from customer_cache.keys import KEYS, Keys
from customer_cache.reader import CustomerReader, Found, ScanLimitExceeded
from customer_cache.view.model import Customer360
from overlay.http.errors import ApiError, TmfError
from overlay.tmf import attribute_filters, matches, project_fields, set_page_headers

ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": TmfError} for code in (400, 401, 403, 404, 500)}
PAGE_HEADERS = {
    "X-Total-Count": {"description": "Number of matching resources", "schema": {"type": "integer"}},
    "X-Result-Count": {"description": "Number of resources in this page", "schema": {"type": "integer"}},
}
LIST_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    200: {"description": "Success", "headers": PAGE_HEADERS},
    206: {"description": "Partial content: more pages follow", "headers": PAGE_HEADERS},
}

FIELDS = Query(None, description="Comma-separated attributes to return (id, href and @type always are).")
OFFSET = Query(0, ge=0, description="Index of the first resource of the page.")
LIMIT = Query(20, ge=1, le=1000, description="Resources per page.")


def keys_of(request: Request) -> Keys:
    keys = getattr(request.app.state, "c360_keys", None)
    return keys if isinstance(keys, Keys) else KEYS


def reader(request: Request) -> CustomerReader:
    return CustomerReader(request.app.state.redis, keys_of(request))


def not_found(what: str, resource_id: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"{what} not found", f"no {what.lower()} with id {resource_id}")


def too_broad(exc: ScanLimitExceeded) -> ApiError:
    return ApiError(400, "FILTER_TOO_BROAD", "Filter too broad",
                    f"{exc}; filter by relatedParty.id, engagedParty.id or id")


def filters_of(request: Request, reserved: Iterable[str] = ()) -> dict[str, set[str]]:
    return attribute_filters(request.query_params.multi_items(), reserved)


def redirect_headers(response: Response, found: Found, location: str) -> None:
    """A read by an id that was merged away answers with the surviving customer and says so."""
    if found.moved:
        response.headers["X-Moved-From"] = found.requested_id
        response.headers["Content-Location"] = location


async def customers_by_party(request: Request, ids: set[str]) -> list[Customer360]:
    """The customers named by ``relatedParty.id`` values, following merged ids, without repeats."""
    out: dict[str, Customer360] = {}
    r = reader(request)
    for cid in sorted(ids):
        found = await r.get(cid)
        if found is not None:
            out.setdefault(found.doc.id, found.doc)
    return list(out.values())


def page(
    response: Response, resources: list[dict[str, Any]], filters: dict[str, set[str]],
    fields: str | None, offset: int, limit: int,
) -> list[dict[str, Any]]:
    """Filter, page, project and set the paging headers of resources already in memory."""
    selected = [r for r in resources if matches(r, filters)]
    items = [project_fields(r, fields) for r in selected[offset:offset + limit]]
    set_page_headers(response, total=len(selected), count=len(items), offset=offset)
    return items


async def scan_resources(
    request: Request, to_resources: Callable[[Customer360], list[dict[str, Any]]],
    filters: dict[str, set[str]], offset: int, limit: int,
) -> tuple[int, list[dict[str, Any]]]:
    """Resources of every customer that pass ``filters``: the total and one page (a guarded scan)."""
    r = reader(request)
    try:
        if await r.count() > r.max_scan:
            raise ScanLimitExceeded(r.max_scan)
    except ScanLimitExceeded as exc:
        raise too_broad(exc) from exc
    total = 0
    out: list[dict[str, Any]] = []
    async for doc in r.scan():
        for resource in to_resources(doc):
            if matches(resource, filters):
                if offset <= total < offset + limit:
                    out.append(resource)
                total += 1
    return total, out
