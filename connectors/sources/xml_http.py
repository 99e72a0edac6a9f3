"""XML over HTTP: the REST listing engine with bodies parsed by ``xmltodict``.

Records are xmltodict dicts (attributes ``@name``, mixed text ``#text``), so mapping paths such as
``@id``, ``Name.First`` or ``Products.Product`` work. XML cannot tell a one-element list from a
single child, hence ``force_list``: the named elements are lists wherever they occur (the record
element itself always is). xmltodict's expat parser does not expand external entities.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from xml.parsers.expat import ExpatError

import httpx
import xmltodict
from pydantic import AliasChoices, Field

from connectors.sources.base import StreamConfig
from connectors.sources.http import HttpSourceConfig, HttpSourceError, safe_url
from connectors.sources.rest import (
    Listing,
    ListingSource,
    ListingStreamConfig,
    NoPagination,
    OffsetPagination,
    PagePagination,
)


class XmlStreamConfig(ListingStreamConfig):
    records_path: str = Field(min_length=1, description="Dotted path of the record element, e.g. "
                              "CustomerList.Customer.")
    modified_since_param: str | None = Field(
        None, validation_alias=AliasChoices("since_param", "modified_since_param"),
        description="Query parameter filtering on modified_field (alias since_param).",
    )
    pagination: Annotated[NoPagination | PagePagination | OffsetPagination, Field(discriminator="kind")] = (
        Field(default_factory=NoPagination)
    )
    force_list: list[str] = Field(default_factory=list, description="Elements that are always lists.")

    def force(self) -> tuple[str, ...]:
        record = self.records_path.replace("/", ".").split(".")[-1]
        return tuple(dict.fromkeys([record, *self.force_list]))


class XmlSourceConfig(HttpSourceConfig):
    type: Literal["xml"] = "xml"
    streams: list[XmlStreamConfig] = Field(min_length=1)  # type: ignore[assignment]


def parse_xml(content: bytes, force_list: tuple[str, ...] = ()) -> Any:
    """xmltodict's dict of ``content`` with ``force_list`` elements always as lists."""
    return xmltodict.parse(content, force_list=force_list)


class XmlSource(ListingSource[XmlSourceConfig]):
    """XML listings over HTTP (offset/limit or page pagination, ``since`` filters)."""

    type_name = "xml"
    config_model = XmlSourceConfig

    def listing(self, stream: StreamConfig) -> Listing:
        if not isinstance(stream, XmlStreamConfig):
            raise TypeError(f"stream {stream.name!r} is not configured for this xml source")
        return stream.listing(stream.pagination)

    def decode(self, response: httpx.Response, stream: StreamConfig) -> Any:
        force = stream.force() if isinstance(stream, XmlStreamConfig) else ()
        try:
            return parse_xml(response.content, force)
        except ExpatError as exc:
            raise HttpSourceError(
                f"{response.request.method} {safe_url(response.request.url)}: response is not well-formed "
                f"XML ({exc})"
            ) from exc
