"""Storage of the mobile BSS: subscribers keyed by MSISDN/subscriber id, and its tariff plans.

The REST app (:mod:`legacy_sim.mobile_bss`) reads it; the estate builder and the change generator
write it. Timestamps are naive UTC at second precision, as in the CRM.

The listing the connectors page through is served by :meth:`MobileStore.subscriber_page`: SQLite
renders each item's JSON itself (one query per page, no per-row Python objects), and the page's
``total`` comes from a per-connection count cache that is valid for one version of the database and
is moved from a nearby ``modified_since`` by counting only the rows in between. Without it, every
page of a pass re-counted every row still ahead of it: on a million subscriptions that count was
slower than rendering the page.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from legacy_sim.catalogs import ACTIVE_TARIFF_CODES, MOBILE_TARIFFS
from legacy_sim.db import SqlStore, bulk_insert
from legacy_sim.people import PHONE_STYLES, Person, subscriber_id

SubscriberStatus = Literal["ACTIVE", "SUSPENDED", "TERMINATED"]
Row = dict[str, Any]

metadata = sa.MetaData()
subscriber = sa.Table(
    "subscriber",
    metadata,
    sa.Column("subscriber_id", sa.String(20), primary_key=True),
    sa.Column("msisdn", sa.String(32), nullable=False),
    sa.Column("first_name", sa.String(80)),
    sa.Column("last_name", sa.String(80)),
    sa.Column("email", sa.String(120)),
    sa.Column("birth_date", sa.Date),
    sa.Column("customer_ref", sa.String(16), nullable=False),
    sa.Column("billing_account_no", sa.String(16), nullable=False),
    sa.Column("tariff_code", sa.String(16), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("sim_iccid", sa.String(22), nullable=False),
    sa.Column("imsi", sa.String(16), nullable=False),
    sa.Column("contract_start", sa.Date, nullable=False),
    sa.Column("last_modified", sa.DateTime, nullable=False),
    sa.Index("ix_subscriber_modified", "last_modified", "subscriber_id"),
)
tariff = sa.Table(
    "tariff",
    metadata,
    sa.Column("code", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("monthly_fee", sa.Float, nullable=False),
    sa.Column("data_gb", sa.Integer),
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_to", sa.Date),
    sa.Column("last_modified", sa.DateTime, nullable=False),
)

_TARIFF_WEIGHTS: Final = (30, 25, 15, 5, 8, 0, 12)  # over ACTIVE_TARIFF_CODES (business handled apart)


def _pick_tariff(r: random.Random, business: bool) -> str:
    if business and r.random() < 0.6:
        return "T-BIZPRO"
    if r.random() < 0.08:
        return r.choice(("ALLIN16", "ALLIN18"))
    return r.choices(ACTIVE_TARIFF_CODES, weights=_TARIFF_WEIGHTS)[0]


def mobile_rows(p: Person) -> list[Row]:
    """The subscriber rows of a person: one per SIM, ~8% of mobile customers have two."""
    if not p.in_mobile:
        return []
    v = p.view("mobile")
    r = random.Random(f"{p.seed}:{p.index}:mobile-rows")
    phones = [p.mobile] if p.second_mobile is None else [p.mobile, p.second_mobile]
    rows: list[Row] = []
    for line, phone in enumerate(phones):
        serial = 2 * p.index + line
        roll = r.random()
        status = "ACTIVE" if roll < 0.9 else ("SUSPENDED" if roll < 0.94 else "TERMINATED")
        rows.append(
            {
                "subscriber_id": subscriber_id(p.index, line),
                "msisdn": v.mobile if line == 0 else phone.format(r.choice(PHONE_STYLES)),
                "first_name": v.given_name,
                "last_name": v.family_name,
                "email": v.email,
                "birth_date": v.birth_date,
                "customer_ref": p.mobile_customer_ref,
                "billing_account_no": f"BA{p.index + 1:09d}",
                "tariff_code": _pick_tariff(r, p.segment == "business"),
                "status": status,
                "sim_iccid": f"8949020{serial:012d}",
                "imsi": f"26202{serial:010d}",
                "contract_start": (v.created + timedelta(days=400 * line)).date(),
                "last_modified": v.updated + timedelta(seconds=line),
            }
        )
    return rows


# --- the subscriber listing as the API serves it ---------------------------------------------------
# (JSON field, column) in the order of legacy_sim.mobile_bss.Subscriber; ``lastModified`` is the
# timestamp as ``%Y-%m-%dT%H:%M:%SZ``, dates are ISO, absent values null.
API_FIELDS: Final = (
    ("subscriberId", "subscriber_id"), ("msisdn", "msisdn"), ("firstName", "first_name"),
    ("lastName", "last_name"), ("email", "email"), ("birthDate", "birth_date"),
    ("customerRef", "customer_ref"), ("billingAccountNo", "billing_account_no"),
    ("tariffCode", "tariff_code"), ("status", "status"), ("simIccid", "sim_iccid"), ("imsi", "imsi"),
    ("contractStart", "contract_start"), ("lastModified", "last_modified"),
)
_ITEM_SQL = "CAST(json_object({}) AS BLOB)".format(", ".join(
    f"'{name}', " + ("strftime('%Y-%m-%dT%H:%M:%SZ', last_modified)" if column == "last_modified" else column)
    for name, column in API_FIELDS
))
_ORDER = "ORDER BY last_modified, subscriber_id LIMIT ? OFFSET ?"
_PAGE_SQL = f"SELECT {_ITEM_SQL} FROM subscriber {_ORDER}"
_PAGE_SINCE_SQL = f"SELECT {_ITEM_SQL} FROM subscriber WHERE last_modified >= ? {_ORDER}"
# One state of the database as this connection sees it: commits by other connections (data_version),
# its own writes (total_changes) and schema changes (schema_version). Read in the same statement as
# the count it validates, so both come from the same snapshot.
_VERSION = (
    "(SELECT data_version FROM pragma_data_version()), total_changes(),"
    " (SELECT schema_version FROM pragma_schema_version())"
)
_COUNT_ALL_SQL = f"SELECT {_VERSION}, (SELECT count(*) FROM subscriber)"
_COUNT_SINCE_SQL = f"SELECT {_VERSION}, (SELECT count(*) FROM subscriber WHERE last_modified >= ?)"
_COUNT_BETWEEN_SQL = (
    f"SELECT {_VERSION}, (SELECT count(*) FROM subscriber WHERE last_modified >= ? AND last_modified < ?)"
)
_VERSION_SQL = f"SELECT {_VERSION}, 0"
_TOTALS_KEPT: Final = 64  # cached bounds per connection


def api_item(row: Row) -> bytes:
    """One subscriber row as the API's JSON item (what SQLite renders in :data:`_ITEM_SQL`)."""
    return orjson.dumps({
        name: row[column].strftime("%Y-%m-%dT%H:%M:%SZ") if column == "last_modified" else row[column]
        for name, column in API_FIELDS
    })


def _bound(ts: datetime) -> str:
    """A timestamp as SQLAlchemy stores SQLite DATETIMEs, so text comparison orders it right."""
    return ts.strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass
class _Totals:
    """Counts of subscribers modified at or after a bound, for one database version of a connection."""

    version: tuple[Any, ...] | None = None
    everything: int | None = None
    bounds: list[str] = field(default_factory=list)  # sorted
    counts: dict[str, int] = field(default_factory=dict)

    def reset(self, version: tuple[Any, ...]) -> None:
        self.version, self.everything = version, None
        self.bounds.clear()
        self.counts.clear()

    def nearest(self, bound: str) -> str | None:
        """The nearest cached bound below ``bound`` (else above): for a reader walking forward, the
        previous page's, so only about a page of rows is counted."""
        i = bisect.bisect_right(self.bounds, bound)
        return self.bounds[i - 1] if i else (self.bounds[0] if self.bounds else None)

    def remember(self, bound: str, count: int) -> None:
        if bound not in self.counts:
            if len(self.bounds) >= _TOTALS_KEPT:
                del self.counts[self.bounds.pop(0)]
            bisect.insort(self.bounds, bound)
        self.counts[bound] = count


async def _versioned(conn: AsyncConnection, sql: str, params: tuple[str, ...]) -> tuple[tuple[Any, ...], int]:
    """(database version, count) of one of the ``_COUNT_*``/``_VERSION`` statements."""
    row = (await conn.exec_driver_sql(sql, params)).one()
    return tuple(row[:-1]), int(row[-1])


class MobileStore(SqlStore):
    """Async access to the mobile BSS database (a SQLite file by default)."""

    metadata = metadata

    async def create_schema(self, *, drop_existing: bool = False) -> None:
        await super().create_schema(drop_existing=drop_existing)
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(tariff))
            await conn.execute(
                sa.insert(tariff),
                [
                    {"code": t.code, "name": t.name, "monthly_fee": t.monthly_fee, "data_gb": t.data_gb,
                     "valid_from": t.valid_from, "valid_to": t.valid_to, "last_modified": t.last_modified}
                    for t in MOBILE_TARIFFS
                ],
            )

    async def load(self, persons: Iterable[Person]) -> int:
        rows = [row for p in persons for row in mobile_rows(p)]
        await self.load_rows(rows)
        return len(rows)

    async def load_rows(self, rows: list[Row]) -> None:
        if rows:
            async with self.engine.begin() as conn:
                await bulk_insert(conn, subscriber, rows)

    async def add_person(self, p: Person) -> list[str]:
        """Sign-up: insert the person's subscriber rows stamped with the current second."""
        rows = mobile_rows(p)
        now = self._now()
        for row in rows:
            row.update(last_modified=now, status="ACTIVE", contract_start=now.date())
        await self.load_rows(rows)
        return [row["subscriber_id"] for row in rows]

    async def update_subscriber(self, sub_id: str, **fields: Any) -> bool:
        values = {**fields, "last_modified": self._now()}
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.update(subscriber).where(subscriber.c.subscriber_id == sub_id).values(**values)
            )
        return bool(result.rowcount)

    async def change_tariff(self, sub_id: str, tariff_code: str) -> bool:
        return await self.update_subscriber(sub_id, tariff_code=tariff_code)

    async def set_status(self, sub_id: str, status: SubscriberStatus) -> bool:
        return await self.update_subscriber(sub_id, status=status)

    async def list_subscribers(
        self, *, offset: int, limit: int, modified_since: datetime | None = None
    ) -> tuple[int, list[Row]]:
        """(total matching, one page) ordered by (last_modified, subscriber_id)."""
        where = [] if modified_since is None else [subscriber.c.last_modified >= modified_since]
        async with self.engine.connect() as conn:
            total = (
                await conn.execute(sa.select(sa.func.count()).select_from(subscriber).where(*where))
            ).scalar_one()
            result = await conn.execute(
                sa.select(subscriber).where(*where)
                .order_by(subscriber.c.last_modified, subscriber.c.subscriber_id)
                .offset(offset).limit(limit)
            )
            return int(total), [dict(r._mapping) for r in result]

    async def subscriber_page(
        self, *, offset: int, limit: int, modified_since: datetime | None = None
    ) -> tuple[int, list[bytes]]:
        """(total matching, one page as the API's JSON items): :meth:`list_subscribers`, rendered.

        The same rows in the same order; on SQLite the items come out of the query as JSON text.
        As there, the total and the page are two statements (a write may land in between).
        """
        if self.engine.dialect.name != "sqlite":
            total, rows = await self.list_subscribers(
                offset=offset, limit=limit, modified_since=modified_since)
            return total, [api_item(r) for r in rows]
        bound = None if modified_since is None else _bound(modified_since)
        async with self.engine.connect() as conn:
            total = await self._total(conn, bound)
            if bound is None:
                result = await conn.exec_driver_sql(_PAGE_SQL, (limit, offset))
            else:
                result = await conn.exec_driver_sql(_PAGE_SINCE_SQL, (bound, limit, offset))
            return total, list(result.scalars())

    async def _total(self, conn: AsyncConnection, bound: str | None) -> int:
        """Rows with ``last_modified >= bound`` (all rows for None). From the connection's cache while
        the database is unchanged (a new bound is moved from the nearest cached one by counting only
        the rows in between), else counted from scratch. SQLite only."""
        totals: _Totals = conn.info.setdefault("legacy_sim.mobile_totals", _Totals())
        cached = totals.everything if bound is None else totals.counts.get(bound)
        near = None if bound is None or cached is not None else totals.nearest(bound)
        if cached is not None or near is not None:
            if near is None or bound is None:
                version, delta = await _versioned(conn, _VERSION_SQL, ())
            else:
                version, delta = await _versioned(
                    conn, _COUNT_BETWEEN_SQL, (near, bound) if near < bound else (bound, near))
            if version == totals.version:
                if cached is not None:
                    return cached
                assert near is not None and bound is not None
                count = totals.counts[near] + (-delta if near < bound else delta)
                totals.remember(bound, count)
                return count
        if bound is None:
            version, count = await _versioned(conn, _COUNT_ALL_SQL, ())
        else:
            version, count = await _versioned(conn, _COUNT_SINCE_SQL, (bound,))
        if version != totals.version:
            totals.reset(version)
        if bound is None:
            totals.everything = count
        else:
            totals.remember(bound, count)
        return count

    async def get_subscriber(self, sub_id: str) -> Row | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(sa.select(subscriber).where(subscriber.c.subscriber_id == sub_id))
            ).first()
        return None if row is None else dict(row._mapping)

    async def list_tariffs(self) -> list[Row]:
        async with self.engine.connect() as conn:
            return [dict(r._mapping) for r in await conn.execute(sa.select(tariff).order_by(tariff.c.code))]

    async def count(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(sa.select(sa.func.count()).select_from(subscriber))).scalar_one())

