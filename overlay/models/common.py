"""Small value types shared by the canonical entities."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class CanonicalModel(BaseModel):
    """Base of every canonical entity: strict about unknown fields so mapping mistakes surface."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class SourceRef(CanonicalModel):
    """A record in one legacy system: ``system`` is the connector's source name, ``key`` its id there."""

    system: str = Field(min_length=1)
    key: str = Field(min_length=1)
    kind: str | None = Field(None, description="What the key identifies, e.g. 'customer', 'billingAccount'.")

    def __str__(self) -> str:
        return f"{self.system}:{self.key}"


class ValidFor(CanonicalModel):
    start: datetime | None = None
    end: datetime | None = None


class Characteristic(CanonicalModel):
    """A name/value pair as TMF characteristics carry them (speed, data volume, technology …)."""

    name: str = Field(min_length=1)
    value: str | int | float | bool
    unit: str | None = None
