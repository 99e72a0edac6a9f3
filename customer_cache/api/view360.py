"""The compact customer 360: the whole document in one read, for care and sales desktops.

The hot read path: the stored JSON is parsed with orjson, its attribute names camel-cased (names
memoised) and the answer written with orjson, without building the pydantic document and without
FastAPI's generic encoder — the same body as :func:`customer_cache.api.tmf_mapping.compact_360` of
the validated document, at a fraction of the cost. A stored document whose attributes are not
exactly the model's (written by another version of it) takes the validated path.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request, Response

from customer_cache.api import tmf_mapping
from customer_cache.api.common import ERRORS, keys_of, not_found
from customer_cache.reader import CustomerReader
from customer_cache.view.model import Customer360
from overlay.http.auth import Principal, mask, require
from overlay.logging import get_logger

log = get_logger(__name__)
BASE = "/api/v1"
SCOPE = "customer:read"
router = APIRouter(prefix=BASE, tags=["Customer 360"])

_FIELDS = frozenset(Customer360.model_fields)
_NAMES: dict[str, str] = {}
_MAX_NAMES = 4096  # attribute names are few; the bound only guards against a document gone wrong


def _name(key: str) -> str:
    name = _NAMES.get(key)
    if name is None:
        name = tmf_mapping._camel(key)
        if len(_NAMES) < _MAX_NAMES:
            _NAMES[key] = name
    return name


def _camel_keys(node: Any, rename: bool) -> Any:
    """:func:`tmf_mapping._camel_keys` with memoised names."""
    if isinstance(node, dict):
        if rename:
            opaque = tmf_mapping._OPAQUE
            return {_name(k): _camel_keys(v, k not in opaque) for k, v in node.items()}
        return {k: _camel_keys(v, False) for k, v in node.items()}
    if isinstance(node, list):
        return [_camel_keys(v, rename) for v in node]
    return node


def compact_body(raw: str | bytes) -> dict[str, Any]:
    """The compact 360 body of a stored document (see the module doc)."""
    data = orjson.loads(raw)
    if isinstance(data, dict) and data.keys() == _FIELDS:
        body: dict[str, Any] = _camel_keys(data, True)
        return body
    return tmf_mapping.compact_360(Customer360.model_validate_json(raw))


@router.get("/customer360/{customer_id}", responses=ERRORS, summary="The 360 view of a customer",
            response_model=dict[str, Any])
async def get_customer360(
    customer_id: str,
    request: Request,
    principal: Principal = Depends(require(SCOPE)),
) -> Response:
    """Golden record with provenance, linked source records, contact media, addresses, accounts,
    products across stacks and open orders (camelCase attributes). A merged-away id answers with the
    surviving customer (``X-Moved-From`` the id asked for)."""
    found = await CustomerReader(request.app.state.redis, keys_of(request)).get_raw(customer_id)
    if found is None:
        raise not_found("Customer", customer_id)
    raw, current = found
    body = compact_body(raw)
    headers: dict[str, str] = {}
    if current != customer_id:
        headers["X-Moved-From"] = customer_id
        headers["Content-Location"] = f"{BASE}/customer360/{current}"
    event_id = body.get("eventId")
    if event_id:
        headers["X-Event-Id"] = str(event_id)
    log.info("customer360.read", customer_id=current, requested_id=customer_id, channel=principal.channel)
    return Response(orjson.dumps(mask(principal, body)), media_type="application/json", headers=headers)
