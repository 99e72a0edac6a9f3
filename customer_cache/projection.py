"""From a canonical party change to the customer document the API serves.

Until identity resolution links records across systems, one source party is one customer, and the
customer id is derived from its source reference: stable across replays and rebuilds.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import BaseModel

from overlay.events import ChangeEvent
from overlay.models import Party


def customer_id_for(source_system: str, source_key: str) -> str:
    digest = hashlib.blake2b(f"{source_system}/{source_key}".encode(), digest_size=8).hexdigest()
    return f"CU-{digest}"


class SourceRecord(BaseModel):
    system: str
    key: str
    version: int
    modified_at: datetime | None = None


class CustomerDoc(BaseModel):
    """The stored customer: the golden party record plus where it came from."""

    id: str
    party: Party
    sources: list[SourceRecord]
    observed_at: datetime
    event_id: str


def project_party(event: ChangeEvent[Party]) -> CustomerDoc:
    if event.payload is None:
        raise ValueError("a delete has no document")
    return CustomerDoc(
        id=customer_id_for(event.source_system, event.source_key),
        party=event.payload,
        sources=[
            SourceRecord(
                system=event.source_system,
                key=event.source_key,
                version=event.version,
                modified_at=event.modified_at,
            )
        ],
        observed_at=event.observed_at,
        event_id=event.event_id,
    )
