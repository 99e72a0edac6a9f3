"""TM Forum TMF620 v4 (product catalog) feeds of partners: offerings, specifications, prices.

Every stream is one resource, paged with ``offset``/``limit`` (end at ``X-Total-Count`` or a short
page) and read incrementally with the strict ``lastUpdate.gt`` filter on ``lastUpdate``; records
are the TMF JSON resources as served. Built on the REST listing engine.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import httpx
from pydantic import Field

from connectors.sources.base import StreamConfig, StreamDescription
from connectors.sources.http import HttpSourceConfig, json_body
from connectors.sources.rest import Listing, ListingSource, OffsetPagination, Scalar

TmfResource = Literal["productOffering", "productSpecification", "productOfferingPrice"]
RESOURCES: tuple[TmfResource, ...] = get_args(TmfResource)


class Tmf620StreamConfig(StreamConfig):
    resource: TmfResource
    limit: int = Field(100, ge=1, le=1000, description="Page size.")
    fields: list[str] = Field(default_factory=list, description="TMF attribute selection (id, href, "
                              "@type and lastUpdate are always kept).")
    params: dict[str, Scalar] = Field(default_factory=dict, description="Extra filters (lifecycleStatus…).")
    overlap_seconds: float = Field(5.0, ge=0)


class Tmf620SourceConfig(HttpSourceConfig):
    type: Literal["tmf620"] = "tmf620"
    api_prefix: str = "/tmf-api/productCatalogManagement/v4"
    streams: list[Tmf620StreamConfig] = Field(min_length=1)  # type: ignore[assignment]


class Tmf620Source(ListingSource[Tmf620SourceConfig]):
    """A partner's TMF620 v4 catalog."""

    type_name = "tmf620"
    config_model = Tmf620SourceConfig

    def _listing(self, resource: TmfResource, limit: int = 100, fields: list[str] | None = None,
                 params: dict[str, Scalar] | None = None, overlap_s: float = 5.0) -> Listing:
        query = dict(params or {})
        if fields:
            query["fields"] = ",".join(dict.fromkeys([*fields, "lastUpdate"]))
        return Listing(
            path=f"{self.config.api_prefix.rstrip('/')}/{resource}", params=query, key=("id",),
            modified_field="lastUpdate", since_param="lastUpdate.gt", since_inclusive=False,
            overlap_s=overlap_s, pagination=OffsetPagination(kind="offset", limit=limit),
            total_header="X-Total-Count",
        )

    def listing(self, stream: StreamConfig) -> Listing:
        if not isinstance(stream, Tmf620StreamConfig):
            raise TypeError(f"stream {stream.name!r} is not configured for this tmf620 source")
        s = stream
        return self._listing(s.resource, s.limit, s.fields, s.params, s.overlap_seconds)

    def decode(self, response: httpx.Response, stream: StreamConfig) -> Any:
        return json_body(response)

    async def discover(self) -> list[StreamDescription]:
        """The three catalog resources, with the attributes of a sample of each."""
        found = []
        for resource in RESOURCES:
            listing = self._listing(resource)
            response = await self.fetcher.get(listing.path, params={"offset": 0, "limit": 1})
            rows = self.records(json_body(response), listing)
            found.append(StreamDescription(
                name=resource, fields=tuple(rows[0]) if rows else (), key=("id",), cursor=("lastUpdate",),
                description=f"TMF620 {resource} ({response.headers.get('X-Total-Count', '?')} in total)",
            ))
        return found
