"""TMF666 Account Management v4: the billing accounts (and customer accounts) of a customer across
stacks.

An account's id is ``system/key`` of its source record (URL-encoded in paths and hrefs);
``relatedParty.id`` is the customer id (a merged-away id finds the survivor).
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
from customer_cache.view.model import Customer360
from overlay.http.auth import Principal, mask, require
from overlay.logging import get_logger
from overlay.models import AccountType
from overlay.tmf import project_fields, set_page_headers

log = get_logger(__name__)
BASE = tmf_mapping.ACCOUNT_BASE
SCOPE = "account:read"
router = APIRouter(prefix=BASE, tags=["TMF666 Account"])

_PARTY_ID = Query(None, alias="relatedParty.id", description="The customer (comma-separated for several).")
_STATE = Query(None, description="Filter: the account's state (active, closed, …).")


async def _list(
    request: Request, response: Response, account_type: AccountType, fields: str | None, offset: int,
    limit: int, principal: Principal,
) -> list[dict[str, Any]]:
    def resources(doc: Customer360) -> list[dict[str, Any]]:
        return tmf_mapping.accounts(doc, account_type)

    filters = filters_of(request)
    parties = filters.pop("relatedParty.id", None)
    if parties is not None:
        docs = await customers_by_party(request, parties)
        items = page(response, [r for d in docs for r in resources(d)], filters, fields, offset, limit)
    else:
        total, selected = await scan_resources(request, resources, filters, offset, limit)
        items = [project_fields(r, fields) for r in selected]
        set_page_headers(response, total=total, count=len(items), offset=offset)
    log.info("account.list", type=account_type.value, count=len(items), channel=principal.channel)
    return mask(principal, items)  # type: ignore[no-any-return]


async def _get(
    request: Request, account_id: str, account_type: AccountType, fields: str | None, principal: Principal
) -> dict[str, Any]:
    what = "BillingAccount" if account_type is AccountType.BILLING else "PartyAccount"
    found = await reader(request).owner_of(account_id)
    account = None
    if found is not None:
        account = next(
            (a for a in found.doc.accounts
             if tmf_mapping.ref_id(a.system, a.key) == account_id and a.account_type is account_type),
            None,
        )
    if found is None or account is None:
        raise not_found(what, account_id)
    log.info("account.read", customer_id=found.doc.id, channel=principal.channel)
    return mask(principal, project_fields(tmf_mapping.account(found.doc, account), fields))  # type: ignore[no-any-return]


@router.get("/billingAccount", responses=LIST_RESPONSES, summary="List the billing accounts of a customer")
async def list_billing_accounts(
    request: Request,
    response: Response,
    fields: str | None = FIELDS,
    offset: int = OFFSET,
    limit: int = LIMIT,
    related_party_id: str | None = _PARTY_ID,
    state: str | None = _STATE,
    principal: Principal = Depends(require(SCOPE)),
) -> list[dict[str, Any]]:
    """Billing accounts; any other attribute filters too. Without ``relatedParty.id`` every customer
    is read."""
    return await _list(request, response, AccountType.BILLING, fields, offset, limit, principal)


@router.get("/billingAccount/{account_id:path}", responses=ERRORS, summary="Retrieve a billing account")
async def get_billing_account(
    account_id: str,
    request: Request,
    fields: str | None = FIELDS,
    principal: Principal = Depends(require(SCOPE)),
) -> dict[str, Any]:
    """The billing account with id ``system/key`` (URL-encoded)."""
    return await _get(request, account_id, AccountType.BILLING, fields, principal)


@router.get("/partyAccount", responses=LIST_RESPONSES, summary="List the customer accounts of a customer")
async def list_party_accounts(
    request: Request,
    response: Response,
    fields: str | None = FIELDS,
    offset: int = OFFSET,
    limit: int = LIMIT,
    related_party_id: str | None = _PARTY_ID,
    state: str | None = _STATE,
    principal: Principal = Depends(require(SCOPE)),
) -> list[dict[str, Any]]:
    """Customer accounts (account type ``customer``); filters as for billing accounts."""
    return await _list(request, response, AccountType.CUSTOMER, fields, offset, limit, principal)


@router.get("/partyAccount/{account_id:path}", responses=ERRORS, summary="Retrieve a customer account")
async def get_party_account(
    account_id: str,
    request: Request,
    fields: str | None = FIELDS,
    principal: Principal = Depends(require(SCOPE)),
) -> dict[str, Any]:
    """The customer account with id ``system/key`` (URL-encoded)."""
    return await _get(request, account_id, AccountType.CUSTOMER, fields, principal)
