"""Storage of the fixed/broadband + TV BSS: customers at service addresses and their products.

Any change to a customer or one of its products moves the customer's ``last_change``, which is
what the XML API filters on.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from legacy_sim.catalogs import FIXED_BY_CODE, TV_CODES, broadband_codes
from legacy_sim.db import SqlStore, bulk_insert
from legacy_sim.people import Person
from legacy_sim.serviceability import serviceability

Row = dict[str, Any]
ProductStatus = Literal["active", "pending", "cancelled"]

metadata = sa.MetaData()
fx_customer = sa.Table(
    "fx_customer",
    metadata,
    sa.Column("customer_id", sa.String(16), primary_key=True),
    sa.Column("first_name", sa.String(80)),
    sa.Column("last_name", sa.String(80)),
    sa.Column("email", sa.String(120)),
    sa.Column("phone", sa.String(32)),
    sa.Column("street", sa.String(120)),
    sa.Column("house_no", sa.String(16)),
    sa.Column("zip", sa.String(10)),
    sa.Column("city", sa.String(80)),
    sa.Column("account_no", sa.String(16), nullable=False),
    sa.Column("last_change", sa.DateTime, nullable=False),
    sa.Index("ix_fx_customer_change", "last_change", "customer_id"),
)
fx_product = sa.Table(
    "fx_product",
    metadata,
    sa.Column("product_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.String(16), nullable=False, index=True),
    sa.Column("code", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(12), nullable=False),
    sa.Column("technology", sa.String(8)),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("since", sa.Date, nullable=False),
)


def _product(product_id: int, customer_id: str, code: str, status: str, since: datetime) -> Row:
    spec = FIXED_BY_CODE[code]
    return {"product_id": product_id, "customer_id": customer_id, "code": code, "kind": spec.kind,
            "technology": spec.technology, "status": status, "since": since.date()}


def fixed_rows(p: Person) -> tuple[Row, list[Row]] | None:
    """The customer row and product rows of a person, broadband chosen from what the address gets."""
    if not p.in_fixed:
        return None
    v = p.view("fixed")
    r = random.Random(f"{p.seed}:{p.index}:fixed-rows")
    cid = p.fixed_customer_id
    customer = {
        "customer_id": cid, "first_name": v.given_name, "last_name": v.family_name, "email": v.email,
        "phone": v.landline if r.random() < 0.7 else v.mobile, "street": v.street,
        "house_no": v.house_no, "zip": v.postcode, "city": v.city, "account_no": f"FA{p.index + 1:08d}",
        "last_change": v.updated,
    }
    codes: list[str] = []
    offers = serviceability(p.address.postcode, p.address.street, p.address.house_no)
    if offers and r.random() < 0.95:
        offer = r.choice(offers)
        codes.append(r.choice(broadband_codes(offer.technology, offer.max_down_mbps)))
    if not codes or r.random() < 0.45:
        codes.append(r.choice(TV_CODES[:3]))
        if r.random() < 0.15:
            codes.append("TVSPORT")
    base = (p.index + 1) * 10
    status = "cancelled" if r.random() < 0.04 else "active"
    products = [_product(base + k, cid, code, status, v.created) for k, code in enumerate(codes)]
    return customer, products


class FixedTvStore(SqlStore):
    """Async access to the fixed/TV BSS database (a SQLite file by default)."""

    metadata = metadata

    async def load(self, persons: Iterable[Person]) -> int:
        customers: list[Row] = []
        products: list[Row] = []
        for p in persons:
            rows = fixed_rows(p)
            if rows is not None:
                customers.append(rows[0])
                products.extend(rows[1])
        await self.load_rows(customers, products)
        return len(customers)

    async def load_rows(self, customers: list[Row], products: list[Row]) -> None:
        async with self.engine.begin() as conn:
            await bulk_insert(conn, fx_customer, customers)
            await bulk_insert(conn, fx_product, products)

    async def add_person(self, p: Person) -> str | None:
        """Sign-up: the person's customer and products, stamped now, product ids from MAX+1."""
        rows = fixed_rows(p)
        if rows is None:
            return None
        customer, products = rows
        now = self._now()
        customer["last_change"] = now
        async with self.engine.begin() as conn:
            next_id = await _next_product_id(conn)
            for k, product in enumerate(products):
                product.update(product_id=next_id + k, status="active", since=now.date())
            await conn.execute(sa.insert(fx_customer), [customer])
            await conn.execute(sa.insert(fx_product), products)
        return str(customer["customer_id"])

    async def update_customer(self, customer_id: str, **fields: Any) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.update(fx_customer).where(fx_customer.c.customer_id == customer_id)
                .values(**fields, last_change=self._now())
            )
        return bool(result.rowcount)

    async def move(self, customer_id: str, *, street: str, house_no: str, zip_code: str, city: str) -> bool:
        return await self.update_customer(
            customer_id, street=street, house_no=house_no, zip=zip_code, city=city
        )

    async def change_product(self, customer_id: str, new_code: str) -> bool:
        """Replace the active product of the same kind (an up/downgrade), or add one."""
        kind = FIXED_BY_CODE[new_code].kind
        now = self._now()
        async with self.engine.begin() as conn:
            touched = await conn.execute(
                sa.update(fx_customer).where(fx_customer.c.customer_id == customer_id).values(last_change=now)
            )
            if not touched.rowcount:
                return False
            await conn.execute(
                sa.update(fx_product)
                .where(fx_product.c.customer_id == customer_id, fx_product.c.kind == kind,
                       fx_product.c.status == "active")
                .values(status="cancelled")
            )
            await conn.execute(
                sa.insert(fx_product),
                [_product(await _next_product_id(conn), customer_id, new_code, "active", now)],
            )
        return True

    async def cancel_all(self, customer_id: str) -> bool:
        now = self._now()
        async with self.engine.begin() as conn:
            touched = await conn.execute(
                sa.update(fx_customer).where(fx_customer.c.customer_id == customer_id).values(last_change=now)
            )
            await conn.execute(
                sa.update(fx_product)
                .where(fx_product.c.customer_id == customer_id)
                .values(status="cancelled")
            )
        return bool(touched.rowcount)

    async def list_customers(
        self, *, offset: int, limit: int, since: datetime | None = None
    ) -> tuple[int, list[tuple[Row, list[Row]]]]:
        """(total matching, page of (customer, products)) ordered by (last_change, customer_id)."""
        where = [] if since is None else [fx_customer.c.last_change >= since]
        async with self.engine.connect() as conn:
            total = (
                await conn.execute(sa.select(sa.func.count()).select_from(fx_customer).where(*where))
            ).scalar_one()
            customers = [
                dict(r._mapping)
                for r in await conn.execute(
                    sa.select(fx_customer).where(*where)
                    .order_by(fx_customer.c.last_change, fx_customer.c.customer_id)
                    .offset(offset).limit(limit)
                )
            ]
            products = await _products_of(conn, [c["customer_id"] for c in customers])
        return int(total), [(c, products.get(c["customer_id"], [])) for c in customers]

    async def get_customer(self, customer_id: str) -> tuple[Row, list[Row]] | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(sa.select(fx_customer).where(fx_customer.c.customer_id == customer_id))
            ).first()
            if row is None:
                return None
            products = await _products_of(conn, [customer_id])
        return dict(row._mapping), products.get(customer_id, [])

    async def count(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(sa.select(sa.func.count()).select_from(fx_customer))).scalar_one())



async def _next_product_id(conn: AsyncConnection) -> int:
    current = (await conn.execute(sa.select(sa.func.max(fx_product.c.product_id)))).scalar_one_or_none()
    return int(current or 0) + 1


async def _products_of(conn: AsyncConnection, customer_ids: list[str]) -> dict[str, list[Row]]:
    if not customer_ids:
        return {}
    result = await conn.execute(
        sa.select(fx_product).where(fx_product.c.customer_id.in_(customer_ids)).order_by(fx_product.c.product_id)
    )
    grouped: dict[str, list[Row]] = {}
    for r in result:
        grouped.setdefault(r.customer_id, []).append(dict(r._mapping))
    return grouped
