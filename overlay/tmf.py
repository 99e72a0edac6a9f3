"""Conventions every TMF Open API resource follows here (``fields`` projection and the like)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.responses import Response

# Attributes a projection always keeps, as the TMF guidelines require.
_ALWAYS = ("id", "href", "@type")


def project_fields(resource: dict[str, Any], fields: str | None) -> dict[str, Any]:
    """Apply ``?fields=a,b``: keep the named top-level attributes plus id, href and @type."""
    if not fields:
        return resource
    wanted = {f.strip() for f in fields.split(",") if f.strip()}
    return {k: v for k, v in resource.items() if k in wanted or k in _ALWAYS}


# Query parameters with a meaning of their own; every other one filters on an attribute.
RESERVED_PARAMS = frozenset({"fields", "offset", "limit", "sort", "depth", "expand"})


def attribute_filters(params: Iterable[tuple[str, str]], reserved: Iterable[str] = ()) -> dict[str, set[str]]:
    """``?status=active&engagedParty.id=CU-1,CU-2`` → ``{"status": {"active"}, "engagedParty.id":
    {"CU-1", "CU-2"}}``: attribute path → accepted values (a comma lists alternatives, a repeated
    parameter too)."""
    skip = RESERVED_PARAMS | set(reserved)
    out: dict[str, set[str]] = {}
    for name, value in params:
        if name in skip:
            continue
        out.setdefault(name, set()).update(v.strip() for v in value.split(",") if v.strip())
    return out


def _values_at(node: Any, path: list[str]) -> list[Any]:
    if not path:
        return node if isinstance(node, list) else [node]
    if isinstance(node, list):
        return [v for item in node for v in _values_at(item, path)]
    if isinstance(node, dict) and path[0] in node:
        return _values_at(node[path[0]], path[1:])
    return []


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def matches(resource: dict[str, Any], filters: dict[str, set[str]]) -> bool:
    """True when, for every filtered attribute (a dotted path, through arrays), some value of the
    resource equals one of the accepted values."""
    for path, accepted in filters.items():
        found = {_as_text(v) for v in _values_at(resource, path.split(".")) if not isinstance(v, dict | list)}
        if not found & accepted:
            return False
    return True


def set_page_headers(response: Response, *, total: int, count: int, offset: int) -> None:
    """``X-Total-Count`` / ``X-Result-Count``, and 206 Partial Content when more pages follow."""
    response.headers["X-Total-Count"] = str(total)
    response.headers["X-Result-Count"] = str(count)
    if offset + count < total:
        response.status_code = 206
