"""Write-through to the owning CRM with read-your-writes.

A channel's create, change or delete is written into the CRM first (it stays the system of
record). The rows the CRM now holds are then mapped by the CRM connector's own compiled mapping —
the events are exactly those the connector will publish when it reads the rows back, same versions
included — and applied to the record store like any other event, so the resolver shows the change
within its next batch. When the connector's events arrive later they carry the same versions and
change nothing (reconciliation is the version guard). Nothing here bypasses stage 1: the view stays
a function of the stored records, and a rebuild from Kafka finds the same state once the connector
has published the rows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import redis.asyncio as aioredis

from connectors.config import LoadedConnector, load_config
from connectors.mapping.engine import CompiledStream
from connectors.mapping.errors import MappingError
from connectors.registry import source_types
from connectors.sources.sql import SqlSourceConfig
from customer_cache.keys import KEYS, Keys
from customer_cache.store import RecordStore
from customer_cache.writeback.crm_sql import CrmSchema, CrmWriteError, PartyChange, SqlCrmWriter, WrittenRows
from overlay.events import ChangeEvent
from overlay.logging import get_logger

log = get_logger(__name__)


class NoCrmRecord(CrmWriteError):
    """The customer has no live record in the CRM, so the CRM cannot take the change."""


class NotYetVisible(Exception):
    """Written to the CRM, but no resolver made it visible in time (is a worker running?)."""

    def __init__(self, customer_ref: str) -> None:
        super().__init__(f"written to the CRM as {customer_ref}; not yet visible in the 360 view")
        self.customer_ref = customer_ref


class CustomerWriteService:
    def __init__(
        self,
        crm: LoadedConnector,
        client: aioredis.Redis,
        *,
        keys: Keys = KEYS,
        schema: CrmSchema | None = None,
        writer: SqlCrmWriter | None = None,
        visible_timeout_s: float = 3.0,
    ) -> None:
        config = crm.config
        if not isinstance(config, SqlSourceConfig):
            raise TypeError(f"connector {config.name} is not a SQL connector: cannot write through to it")
        self.system = config.source_system
        self.schema = schema or CrmSchema()
        self.writer = writer or SqlCrmWriter(config.dsn.get_secret_value(), self.schema,
                                             timezone=config.timezone)
        by_table = {s.table: crm.compiled.get(s.name) for s in config.streams}
        self._streams: dict[str, CompiledStream | None] = {
            "customers": by_table.get(self.schema.customers),
            "contacts": by_table.get(self.schema.contacts),
            "addresses": by_table.get(self.schema.addresses),
        }
        if self._streams["customers"] is None:
            raise ValueError(f"connector {config.name} reads no {self.schema.customers} table")
        self._client = client
        self._keys = keys
        self._store = RecordStore(client, keys)
        self._timeout = visible_timeout_s

    @classmethod
    def from_config(
        cls, path: Path, connector: str, client: aioredis.Redis, **options: Any
    ) -> CustomerWriteService:
        loaded = {c.config.name: c for c in load_config(path, source_types())}
        if connector not in loaded:
            raise ValueError(f"{path}: no connector named {connector!r} (the CRM to write through to)")
        return cls(loaded[connector], client, **options)

    async def close(self) -> None:
        await self.writer.close()

    # --- the writes ---------------------------------------------------------------------------
    async def create(self, change: PartyChange) -> str:
        """A new CRM customer; returns its customer id once visible."""
        rows = await self.writer.create(change)
        return await self._publish(rows, "create")

    async def update(self, customer_id: str, change: PartyChange) -> str:
        key = await self.crm_key(customer_id)
        rows = await self.writer.update(key, change)
        return await self._publish(rows, "update")

    async def delete(self, customer_id: str) -> None:
        key = await self.crm_key(customer_id)
        rows = await self.writer.delete(key)
        await self._publish(rows, "delete", wait_for_customer=False)

    async def crm_key(self, customer_id: str) -> str:
        """The CRM record owning this customer: its CRM member (the first, if the CRM holds duplicates)."""
        members = cast(set[str], await self._client.smembers(self._keys.members(customer_id)))
        prefix = f"{self.system}/"
        owned = sorted(m.removeprefix(prefix) for m in members if m.startswith(prefix))
        if not owned:
            raise NoCrmRecord(f"customer {customer_id} has no record in {self.system}; its data is owned "
                              "by the stacks it came from")
        return owned[0]

    # --- from rows to visible ------------------------------------------------------------------
    def events(self, rows: WrittenRows) -> list[ChangeEvent[Any]]:
        """The rows mapped as the CRM connector maps them."""
        observed = datetime.now(UTC)
        events: list[ChangeEvent[Any]] = []
        tables: Mapping[str, Sequence[dict[str, Any]]] = {
            "customers": rows.customers, "contacts": rows.contacts, "addresses": rows.addresses,
        }
        for role, records in tables.items():
            stream = self._streams[role]
            if stream is None:
                continue
            for record in records:
                try:
                    events.extend(stream.build(record, observed))
                except MappingError as exc:  # the CRM holds what its connector cannot map
                    raise CrmWriteError(f"the CRM stored a record its connector rejects: {exc}") from None
        return events

    async def _publish(self, rows: WrittenRows, action: str, *, wait_for_customer: bool = True) -> str:
        events = self.events(rows)
        await self._store.apply(events)
        party_ref = f"{self.system}/{rows.key}"
        log.info("customer.written_through", action=action, source=party_ref,
                 event_ids=[e.event_id for e in events])
        if not wait_for_customer:
            return party_ref
        return await self._visible(party_ref)

    async def _visible(self, party_ref: str) -> str:
        """Wait until the resolver has recomputed the party's customer; its customer id."""
        deadline = time.monotonic() + self._timeout
        while True:
            pending = await self._client.zscore(self._keys.dirty, party_ref)
            if pending is None:
                customer = cast(str | None, await self._client.hget(
                    self._keys.source_party(party_ref), "cust"))
                if customer:
                    return customer
            if time.monotonic() > deadline:
                raise NotYetVisible(party_ref)
            await asyncio.sleep(0.02)
