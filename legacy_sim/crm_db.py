"""The CRM: a relational legacy schema (a contract other code reads) and its async store.

Upper-case legacy names are kept verbatim; on PostgreSQL SQLAlchemy therefore quotes them
("CUST_MAST"). Timestamps are naive UTC at second precision, so many rows share one UPD_TS and
readers must page on (UPD_TS, key). Mutations touch only the rows they change: a contact change
moves CUST_CNTCT.UPD_TS, not CUST_MAST's, as in the real thing.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from legacy_sim import names
from legacy_sim.db import SqlStore, bulk_insert
from legacy_sim.people import Person, SystemView

metadata = sa.MetaData()

CUST_MAST = sa.Table(
    "CUST_MAST",
    metadata,
    sa.Column("CUST_NO", sa.String(16), primary_key=True),
    sa.Column("SALUTATION", sa.String(8)),
    sa.Column("FIRST_NM", sa.String(80)),
    sa.Column("LAST_NM", sa.String(80)),
    sa.Column("BIRTH_DT", sa.Date, nullable=True),
    sa.Column("NATL_ID", sa.String(32), nullable=True),
    sa.Column("CUST_TYPE", sa.CHAR(1), nullable=False),
    sa.Column("CUST_STATUS", sa.CHAR(1), nullable=False),
    sa.Column("DEL_FLG", sa.CHAR(1), nullable=False),
    sa.Column("CRT_TS", sa.DateTime, nullable=False),
    sa.Column("UPD_TS", sa.DateTime, nullable=False),
    sa.Index("IX_CUST_MAST_UPD", "UPD_TS", "CUST_NO"),
    mysql_charset="utf8mb4",
)

CUST_CNTCT = sa.Table(
    "CUST_CNTCT",
    metadata,
    sa.Column("CNTCT_ID", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("CUST_NO", sa.String(16), sa.ForeignKey("CUST_MAST.CUST_NO"), nullable=False),
    sa.Column("CNTCT_TYP", sa.String(8), nullable=False),
    sa.Column("CNTCT_VAL", sa.String(120), nullable=False),
    sa.Column("PRIM_FLG", sa.CHAR(1), nullable=False),
    sa.Column("DEL_FLG", sa.CHAR(1), nullable=False),
    sa.Column("UPD_TS", sa.DateTime, nullable=False),
    sa.Index("IX_CUST_CNTCT_UPD", "UPD_TS", "CNTCT_ID"),
    sa.Index("IX_CUST_CNTCT_CUST", "CUST_NO"),
    mysql_charset="utf8mb4",
)

CUST_ADDR = sa.Table(
    "CUST_ADDR",
    metadata,
    sa.Column("ADDR_ID", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("CUST_NO", sa.String(16), sa.ForeignKey("CUST_MAST.CUST_NO"), nullable=False),
    sa.Column("ADDR_TYP", sa.String(8), nullable=False),
    sa.Column("STREET", sa.String(120)),
    sa.Column("HOUSE_NO", sa.String(16)),
    sa.Column("ZIP_CD", sa.String(10)),
    sa.Column("CITY", sa.String(80)),
    sa.Column("COUNTRY_CD", sa.CHAR(2)),
    sa.Column("DEL_FLG", sa.CHAR(1), nullable=False),
    sa.Column("UPD_TS", sa.DateTime, nullable=False),
    sa.Index("IX_CUST_ADDR_UPD", "UPD_TS", "ADDR_ID"),
    sa.Index("IX_CUST_ADDR_CUST", "CUST_NO"),
    mysql_charset="utf8mb4",
)

ContactType = Literal["EMAIL", "MOBILE", "PHONE"]
Row = dict[str, Any]


class CrmRecord(BaseModel):
    """One CUST_MAST row with its contact and address rows, columns under their legacy names."""

    customer: dict[str, Any]
    contacts: list[dict[str, Any]]
    addresses: list[dict[str, Any]]


@dataclass(slots=True)
class CrmRows:
    customers: list[Row] = field(default_factory=list)
    contacts: list[Row] = field(default_factory=list)
    addresses: list[Row] = field(default_factory=list)

    def extend(self, other: CrmRows) -> None:
        self.customers.extend(other.customers)
        self.contacts.extend(other.contacts)
        self.addresses.extend(other.addresses)


def _salutation(r: random.Random, p: Person) -> str:
    if p.segment == "business" and r.random() < 0.3:
        return "FIRMA"
    if r.random() < 0.04:
        return ""
    return "FRAU" if p.given_name in names.FEMALE_GIVEN_NAMES else "HERR"


def _record_rows(p: Person, cust_no: str, id_base: int, v: SystemView, duplicate: bool) -> CrmRows:
    r = random.Random(f"{p.seed}:{p.index}:crm-rows:{int(duplicate)}")
    rows = CrmRows()
    rows.customers.append(
        {
            "CUST_NO": cust_no,
            "SALUTATION": _salutation(r, p),
            "FIRST_NM": v.given_name,
            "LAST_NM": v.family_name,
            "BIRTH_DT": v.birth_date,
            "NATL_ID": None if duplicate else p.national_id,
            "CUST_TYPE": "B" if p.segment == "business" else "P",
            "CUST_STATUS": "I" if r.random() < 0.05 else "A",
            "DEL_FLG": "Y" if r.random() < 0.005 else "N",
            "CRT_TS": v.created,
            "UPD_TS": v.updated,
        }
    )
    contacts: list[tuple[str, str | None]] = [("EMAIL", v.email), ("MOBILE", v.mobile)]
    if r.random() < 0.6:
        contacts.append(("PHONE", v.landline))
    for k, (typ, val) in enumerate(contacts):
        if val:
            rows.contacts.append(
                {"CNTCT_ID": id_base + k, "CUST_NO": cust_no, "CNTCT_TYP": typ, "CNTCT_VAL": val,
                 "PRIM_FLG": "Y", "DEL_FLG": "N", "UPD_TS": v.updated}
            )
    addr = {"CUST_NO": cust_no, "STREET": v.street, "HOUSE_NO": v.house_no, "ZIP_CD": v.postcode,
            "CITY": v.city, "COUNTRY_CD": "DE", "DEL_FLG": "N", "UPD_TS": v.updated}
    rows.addresses.append({"ADDR_ID": id_base, "ADDR_TYP": "HOME", **addr})
    if r.random() < 0.1:
        rows.addresses.append({"ADDR_ID": id_base + 1, "ADDR_TYP": "BILL", **addr})
    return rows


def crm_rows(p: Person) -> CrmRows:
    """All CRM rows of a person: the main record and, for ~3%, a duplicate customer record."""
    rows = CrmRows()
    if not p.in_crm:
        return rows
    rows.extend(_record_rows(p, p.crm_key, (p.index + 1) * 10, p.view("crm"), duplicate=False))
    if p.crm_duplicate:
        dup_base = (50_000_000 + p.index + 1) * 10
        rows.extend(_record_rows(p, p.crm_duplicate_key, dup_base, p.view("crm_dup"), duplicate=True))
    return rows


class CrmStore(SqlStore):
    """Async access to the CRM database (SQLite by default, PostgreSQL or MariaDB by DSN)."""

    metadata = metadata

    async def load(self, persons: Iterable[Person]) -> int:
        """Bulk insert the CRM rows of ``persons`` in one transaction; returns CUST_MAST rows written."""
        rows = CrmRows()
        for p in persons:
            rows.extend(crm_rows(p))
        await self.load_rows(rows)
        return len(rows.customers)

    async def load_rows(self, rows: CrmRows) -> None:
        async with self.engine.begin() as conn:
            await _insert(conn, CUST_MAST, rows.customers)
            await _insert(conn, CUST_CNTCT, rows.contacts)
            await _insert(conn, CUST_ADDR, rows.addresses)

    # --- mutations (each stamps UPD_TS with the current second) ----------------------------
    async def update_customer(self, cust_no: str, **columns: Any) -> bool:
        values = {**columns, "UPD_TS": self._now()}
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.update(CUST_MAST).where(CUST_MAST.c["CUST_NO"] == cust_no).values(**values)
            )
        return bool(result.rowcount)

    async def add_customer(
        self,
        cust_no: str,
        *,
        first_nm: str,
        last_nm: str,
        salutation: str = "",
        birth_dt: date | None = None,
        natl_id: str | None = None,
        cust_type: str = "P",
        contacts: Sequence[tuple[ContactType, str]] = (),
        address: Row | None = None,
    ) -> str:
        """Insert a new customer with its contacts and HOME address (keys: STREET, HOUSE_NO, ...)."""
        now = self._now()
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.insert(CUST_MAST).values(
                    CUST_NO=cust_no, SALUTATION=salutation, FIRST_NM=first_nm, LAST_NM=last_nm,
                    BIRTH_DT=birth_dt, NATL_ID=natl_id, CUST_TYPE=cust_type, CUST_STATUS="A",
                    DEL_FLG="N", CRT_TS=now, UPD_TS=now,
                )
            )
            for typ, val in contacts:
                await self._insert_contact(conn, cust_no, typ, val, primary=True, now=now)
            if address is not None:
                await self._insert_address(conn, cust_no, "HOME", address, now)
        return cust_no

    async def add_person(self, p: Person) -> str:
        """Sign-up of a generated person: the same rows a bulk load would write, stamped now."""
        now = self._now()
        rows = crm_rows(p)
        for table in (rows.customers, rows.contacts, rows.addresses):
            for row in table:
                row["UPD_TS"] = now
                if "CRT_TS" in row:
                    row["CRT_TS"] = now
        async with self.engine.begin() as conn:
            # Live ids come from MAX+1 like every online insert, so they never collide.
            next_cntct = await self._next_id(conn, CUST_CNTCT.c.CNTCT_ID)
            next_addr = await self._next_id(conn, CUST_ADDR.c.ADDR_ID)
            for k, row in enumerate(rows.contacts):
                row["CNTCT_ID"] = next_cntct + k
            for k, row in enumerate(rows.addresses):
                row["ADDR_ID"] = next_addr + k
            await _insert(conn, CUST_MAST, rows.customers)
            await _insert(conn, CUST_CNTCT, rows.contacts)
            await _insert(conn, CUST_ADDR, rows.addresses)
        return p.crm_key

    async def soft_delete_customer(self, cust_no: str) -> bool:
        return await self.update_customer(cust_no, DEL_FLG="Y", CUST_STATUS="I")

    async def update_contact(self, cust_no: str, cntct_typ: ContactType, value: str) -> int:
        """Change the primary contact of a type (adding one if missing); returns its CNTCT_ID."""
        now = self._now()
        async with self.engine.begin() as conn:
            found = await conn.execute(
                sa.select(CUST_CNTCT.c.CNTCT_ID)
                .where(CUST_CNTCT.c["CUST_NO"] == cust_no, CUST_CNTCT.c["CNTCT_TYP"] == cntct_typ,
                       CUST_CNTCT.c.DEL_FLG == "N")
                .order_by(CUST_CNTCT.c.PRIM_FLG.desc(), CUST_CNTCT.c.CNTCT_ID)
                .limit(1)
            )
            cntct_id = found.scalar_one_or_none()
            if cntct_id is None:
                return await self._insert_contact(conn, cust_no, cntct_typ, value, primary=True, now=now)
            await conn.execute(
                sa.update(CUST_CNTCT).where(CUST_CNTCT.c["CNTCT_ID"] == cntct_id)
                .values(CNTCT_VAL=value, UPD_TS=now)
            )
            return int(cntct_id)

    async def add_contact(
        self, cust_no: str, cntct_typ: ContactType, value: str, *, primary: bool = False
    ) -> int:
        async with self.engine.begin() as conn:
            return await self._insert_contact(conn, cust_no, cntct_typ, value, primary, self._now())

    async def move_address(
        self, cust_no: str, *, street: str, house_no: str, zip_cd: str, city: str,
        country_cd: str = "DE", addr_typ: str = "HOME",
    ) -> int:
        """Legacy move: soft-delete the current address row and insert the new one; returns ADDR_ID."""
        now = self._now()
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(CUST_ADDR)
                .where(CUST_ADDR.c["CUST_NO"] == cust_no, CUST_ADDR.c["ADDR_TYP"] == addr_typ,
                       CUST_ADDR.c.DEL_FLG == "N")
                .values(DEL_FLG="Y", UPD_TS=now)
            )
            address = {"STREET": street, "HOUSE_NO": house_no, "ZIP_CD": zip_cd, "CITY": city,
                       "COUNTRY_CD": country_cd}
            return await self._insert_address(conn, cust_no, addr_typ, address, now)

    # --- reads ----------------------------------------------------------------------------------
    async def get_customer(self, cust_no: str) -> CrmRecord | None:
        async with self.engine.connect() as conn:
            cust = (await conn.execute(sa.select(CUST_MAST).where(CUST_MAST.c["CUST_NO"] == cust_no))).first()
            if cust is None:
                return None
            contacts = await conn.execute(
                sa.select(CUST_CNTCT)
                .where(CUST_CNTCT.c["CUST_NO"] == cust_no)
                .order_by(CUST_CNTCT.c.CNTCT_ID)
            )
            addresses = await conn.execute(
                sa.select(CUST_ADDR).where(CUST_ADDR.c["CUST_NO"] == cust_no).order_by(CUST_ADDR.c.ADDR_ID)
            )
            return CrmRecord(
                customer=dict(cust._mapping),
                contacts=[dict(r._mapping) for r in contacts],
                addresses=[dict(r._mapping) for r in addresses],
            )

    async def count(self, *, include_deleted: bool = True) -> int:
        query = sa.select(sa.func.count()).select_from(CUST_MAST)
        if not include_deleted:
            query = query.where(CUST_MAST.c.DEL_FLG == "N")
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    # --- helpers --------------------------------------------------------------------------------
    @staticmethod
    async def _next_id(conn: AsyncConnection, column: sa.Column[Any]) -> int:
        # Legacy style MAX+1 (no sequences), portable across SQLite, PostgreSQL and MariaDB.
        current = (await conn.execute(sa.select(sa.func.max(column)))).scalar_one_or_none()
        return int(current or 0) + 1

    async def _insert_contact(
        self, conn: AsyncConnection, cust_no: str, typ: str, value: str, primary: bool, now: datetime
    ) -> int:
        cntct_id = await self._next_id(conn, CUST_CNTCT.c.CNTCT_ID)
        await conn.execute(
            sa.insert(CUST_CNTCT).values(
                CNTCT_ID=cntct_id, CUST_NO=cust_no, CNTCT_TYP=typ, CNTCT_VAL=value,
                PRIM_FLG="Y" if primary else "N", DEL_FLG="N", UPD_TS=now,
            )
        )
        return cntct_id

    async def _insert_address(
        self, conn: AsyncConnection, cust_no: str, addr_typ: str, address: Row, now: datetime
    ) -> int:
        addr_id = await self._next_id(conn, CUST_ADDR.c.ADDR_ID)
        await conn.execute(
            sa.insert(CUST_ADDR).values(
                ADDR_ID=addr_id, CUST_NO=cust_no, ADDR_TYP=addr_typ, DEL_FLG="N", UPD_TS=now,
                **{"COUNTRY_CD": "DE", **address},
            )
        )
        return addr_id


async def _insert(conn: AsyncConnection, table: sa.Table, rows: list[Row]) -> None:
    await bulk_insert(conn, table, rows)
