"""Conventions every TMF Open API resource follows here (``fields`` projection and the like)."""

from __future__ import annotations

from typing import Any

# Attributes a projection always keeps, as the TMF guidelines require.
_ALWAYS = ("id", "href", "@type")


def project_fields(resource: dict[str, Any], fields: str | None) -> dict[str, Any]:
    """Apply ``?fields=a,b``: keep the named top-level attributes plus id, href and @type."""
    if not fields:
        return resource
    wanted = {f.strip() for f in fields.split(",") if f.strip()}
    return {k: v for k, v in resource.items() if k in wanted or k in _ALWAYS}
