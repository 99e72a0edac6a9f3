"""Writes a channel's customer changes into the owning legacy CRM, a relational database.

The CRM stays the system of record: Overlay writes the rows the CRM's own screens would write
(customer master, contacts, home address), stamps the modified-at column, and returns the rows as
the database now holds them, so the caller can map them exactly as the CRM connector will when it
reads them back. Table and column names are configuration (:class:`CrmSchema`, defaults: the
simulated estate's CRM).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from connectors.sql.timestamps import NaiveZone


class CrmSchema(BaseModel):
    """Where the CRM keeps customers, contacts and addresses, and how it codes them."""

    model_config = ConfigDict(extra="forbid")

    customers: str = "CUST_MAST"
    contacts: str = "CUST_CNTCT"
    addresses: str = "CUST_ADDR"
    key: str = "CUST_NO"
    key_prefix: str = Field("K", description="New customer numbers: prefix + zero-padded next number.")
    key_digits: int = 8
    modified_at: str = "UPD_TS"
    created_at: str = "CRT_TS"
    deleted: str = "DEL_FLG"
    yes: str = "Y"
    no: str = "N"
    columns: dict[str, str] = Field(
        default_factory=lambda: {
            "title": "SALUTATION", "given_name": "FIRST_NM", "family_name": "LAST_NM",
            "birth_date": "BIRTH_DT", "national_id": "NATL_ID", "segment": "CUST_TYPE",
            "status": "CUST_STATUS",
        },
        description="Canonical party field → customer column.",
    )
    codes: dict[str, dict[str, str]] = Field(
        default_factory=lambda: {
            "segment": {"residential": "P", "business": "B"},
            "status": {"active": "A", "inactive": "I"},
        },
        description="Canonical value → CRM code, per field.",
    )
    contact_id: str = "CNTCT_ID"
    contact_type: str = "CNTCT_TYP"
    contact_value: str = "CNTCT_VAL"
    contact_primary: str = "PRIM_FLG"
    contact_types: dict[str, str] = Field(
        default_factory=lambda: {"email": "EMAIL", "mobile": "MOBILE", "phone": "PHONE"}
    )
    address_id: str = "ADDR_ID"
    address_type: str = "ADDR_TYP"
    home: str = "HOME"
    address_columns: dict[str, str] = Field(
        default_factory=lambda: {
            "street": "STREET", "house_number": "HOUSE_NO", "postcode": "ZIP_CD", "city": "CITY",
            "country": "COUNTRY_CD",
        }
    )


class AddressChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    street: str | None = None
    house_number: str | None = None
    postcode: str | None = None
    city: str | None = None
    country: str = "DE"


class PartyChange(BaseModel):
    """What a channel may set on a CRM customer; None leaves a field as it is."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    birth_date: date | None = None
    national_id: str | None = None
    segment: str | None = None
    status: str | None = None
    email: str | None = None
    mobile: str | None = None
    phone: str | None = None
    address: AddressChange | None = None


class WrittenRows(BaseModel):
    """The rows as the CRM holds them after a write, by table role."""

    key: str
    customers: list[dict[str, Any]] = Field(default_factory=list)
    contacts: list[dict[str, Any]] = Field(default_factory=list)
    addresses: list[dict[str, Any]] = Field(default_factory=list)


class CrmWriteError(Exception):
    """The CRM refused the write (unknown customer, a constraint); the message is safe to show."""


class CrmNotFound(CrmWriteError):
    pass


class SqlCrmWriter:
    """Customer creation, change and (soft) deletion in the CRM's tables."""

    def __init__(self, dsn: str, schema: CrmSchema | None = None, *, timezone: str = "UTC",
                 engine: AsyncEngine | None = None) -> None:
        self.schema = schema or CrmSchema()
        self.zone = NaiveZone(UTC if timezone == "UTC" else ZoneInfo(timezone))
        self.engine = engine or create_async_engine(dsn, pool_pre_ping=True)
        self._tables: tuple[sa.Table, sa.Table, sa.Table] | None = None

    async def _reflect(self, conn: AsyncConnection) -> None:
        """The three tables with their column types, as the database declares them (so values read
        back are typed like the connector reads them)."""
        if self._tables is None:
            s = self.schema

            def reflect(sync_conn: Any) -> tuple[sa.Table, sa.Table, sa.Table]:
                meta = sa.MetaData()
                names = (s.customers, s.contacts, s.addresses)
                return tuple(  # type: ignore[return-value]
                    sa.Table(name, meta, autoload_with=sync_conn) for name in names
                )

            self._tables = await conn.run_sync(reflect)
        self._cust, self._cntct, self._addr = self._tables

    async def close(self) -> None:
        await self.engine.dispose()

    # --- the three writes ---------------------------------------------------------------------
    async def create(self, change: PartyChange) -> WrittenRows:
        for attempt in range(5):  # a concurrent create may take the same next number
            try:
                async with self.engine.begin() as conn:
                    await self._reflect(conn)
                    key = await self._next_key(conn)
                    now = await self._stamp(conn, None)
                    s = self.schema
                    values = {s.key: key, s.created_at: now, s.modified_at: now, s.deleted: s.no,
                              **self._customer_values(change, creating=True)}
                    await conn.execute(sa.insert(self._cust).values(values))
                    await self._contacts(conn, key, change, now)
                    if change.address is not None:
                        await self._move(conn, key, change.address, now)
                    return await self._read_back(conn, key, now)
            except IntegrityError:
                if attempt == 4:
                    raise CrmWriteError("the CRM rejected the new customer (a constraint failed)") from None
        raise AssertionError("unreachable")

    async def update(self, key: str, change: PartyChange) -> WrittenRows:
        async with self.engine.begin() as conn:
            await self._reflect(conn)
            now = await self._stamp(conn, key)
            values = self._customer_values(change, creating=False)
            s = self.schema
            if values:
                await conn.execute(sa.update(self._cust).where(self._cust.c[s.key] == key)
                                   .values({**values, s.modified_at: now}))
            await self._contacts(conn, key, change, now)
            if change.address is not None:
                await self._move(conn, key, change.address, now)
            return await self._read_back(conn, key, now)

    async def delete(self, key: str) -> WrittenRows:
        async with self.engine.begin() as conn:
            await self._reflect(conn)
            now = await self._stamp(conn, key)
            s = self.schema
            status = s.columns.get("status")
            values: dict[str, Any] = {s.deleted: s.yes, s.modified_at: now}
            if status:
                values[status] = s.codes.get("status", {}).get("inactive", "I")
            await conn.execute(sa.update(self._cust).where(self._cust.c[s.key] == key).values(values))
            return await self._read_back(conn, key, now)

    # --- helpers ------------------------------------------------------------------------------
    async def _stamp(self, conn: AsyncConnection, key: str | None) -> datetime:
        """The modified-at of this write: now to the second (the CRM's precision), and after the
        customer's current stamp, so the change's version is always newer than the last one."""
        now = datetime.now(UTC).astimezone(self.zone.zone).replace(tzinfo=None, microsecond=0)
        if key is None:
            return now
        s = self.schema
        current = (await conn.execute(
            sa.select(self._cust.c[s.modified_at], self._cust.c[s.deleted]).where(self._cust.c[s.key] == key)
        )).first()
        if current is None or current[1] == s.yes:
            raise CrmNotFound(f"customer {key} is not in the CRM (or deleted there)")
        previous = current[0]
        if isinstance(previous, str):
            previous = datetime.fromisoformat(previous)
        return max(now, previous + timedelta(seconds=1)) if isinstance(previous, datetime) else now

    def _customer_values(self, change: PartyChange, *, creating: bool) -> dict[str, Any]:
        s = self.schema
        values: dict[str, Any] = {}
        for field, column in s.columns.items():
            value = getattr(change, field, None)
            if value is None:
                if creating and field == "status":
                    values[column] = s.codes.get("status", {}).get("active", "A")
                elif creating and field == "segment":
                    values[column] = s.codes.get("segment", {}).get("residential", "P")
                continue
            codes = s.codes.get(field)
            if codes is not None:
                if value not in codes:
                    raise CrmWriteError(f"{field} must be one of {sorted(codes)}")
                value = codes[value]
            values[column] = value
        return values

    async def _next_key(self, conn: AsyncConnection) -> str:
        s = self.schema
        keys = (await conn.execute(
            sa.select(self._cust.c[s.key]).where(self._cust.c[s.key].like(f"{s.key_prefix}%"))
            .order_by(self._cust.c[s.key].desc()).limit(1)
        )).scalar_one_or_none()
        number = 0
        if keys:
            digits = re.sub(r"\D", "", str(keys)[len(s.key_prefix):])
            number = int(digits) if digits else 0
        return f"{s.key_prefix}{number + 1:0{s.key_digits}d}"

    async def _next_id(self, conn: AsyncConnection, table: sa.Table, column: str) -> int:
        current = (await conn.execute(sa.select(sa.func.max(table.c[column])))).scalar_one_or_none()
        return int(current or 0) + 1

    async def _contacts(self, conn: AsyncConnection, key: str, change: PartyChange, now: datetime) -> None:
        s = self.schema
        for medium, code in s.contact_types.items():
            value = getattr(change, medium, None)
            if value is None:
                continue
            found = (await conn.execute(
                sa.select(self._cntct.c[s.contact_id]).where(
                    self._cntct.c[s.key] == key, self._cntct.c[s.contact_type] == code,
                    self._cntct.c[s.deleted] == s.no,
                ).order_by(self._cntct.c[s.contact_primary].desc(), self._cntct.c[s.contact_id]).limit(1)
            )).scalar_one_or_none()
            if found is None:
                await conn.execute(sa.insert(self._cntct).values({
                    s.contact_id: await self._next_id(conn, self._cntct, s.contact_id), s.key: key,
                    s.contact_type: code, s.contact_value: value, s.contact_primary: s.yes,
                    s.deleted: s.no, s.modified_at: now,
                }))
            else:
                await conn.execute(sa.update(self._cntct).where(self._cntct.c[s.contact_id] == found)
                                   .values({s.contact_value: value, s.modified_at: now}))

    async def _move(self, conn: AsyncConnection, key: str, address: AddressChange, now: datetime) -> None:
        """A new home address: the old row is soft-deleted and a new one inserted, as the CRM does."""
        s = self.schema
        addr = self._addr.c
        await conn.execute(sa.update(self._addr).where(
            addr[s.key] == key, addr[s.address_type] == s.home, addr[s.deleted] == s.no,
        ).values({s.deleted: s.yes, s.modified_at: now}))
        values = {s.address_columns[f]: getattr(address, f) for f in s.address_columns}
        await conn.execute(sa.insert(self._addr).values({
            s.address_id: await self._next_id(conn, self._addr, s.address_id), s.key: key,
            s.address_type: s.home, s.deleted: s.no, s.modified_at: now, **values,
        }))

    async def _read_back(self, conn: AsyncConnection, key: str, stamp: datetime) -> WrittenRows:
        """The customer's row and the child rows this write stamped, as stored now."""
        s = self.schema

        async def rows(table: sa.Table, only_stamped: bool) -> list[dict[str, Any]]:
            query = sa.select(table).where(table.c[s.key] == key)
            if only_stamped:
                query = query.where(table.c[s.modified_at] == stamp)
            result = await conn.execute(query)
            names = list(result.keys())
            return [{n: self.zone.record_value(v) for n, v in zip(names, row, strict=True)} for row in result]

        customers = await rows(self._cust, False)
        if not customers:
            raise CrmNotFound(f"customer {key} is not in the CRM")
        return WrittenRows(key=key, customers=customers, contacts=await rows(self._cntct, True),
                           addresses=await rows(self._addr, True))
