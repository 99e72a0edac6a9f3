"""Static product catalogs of the legacy stacks: mobile tariffs and fixed/TV products.

Each stack has its own codes and its own notion of a product; mapping them onto one commercial
catalog is the overlay's job, not the simulator's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, Literal

CATALOG_TS: Final = datetime(2024, 6, 1, 2, 0, 0)


@dataclass(frozen=True, slots=True)
class Tariff:
    code: str
    name: str
    monthly_fee: float
    data_gb: int | None  # None: unlimited
    valid_from: date
    valid_to: date | None
    last_modified: datetime = CATALOG_TS


MOBILE_TARIFFS: Final[tuple[Tariff, ...]] = (
    Tariff("T-S5", "Smart S 5GB", 9.99, 5, date(2021, 1, 1), None),
    Tariff("T-M20", "Smart M 20GB", 19.99, 20, date(2021, 1, 1), None),
    Tariff("T-L40", "Smart L 40GB 5G", 29.99, 40, date(2022, 3, 1), None),
    Tariff("T-XLUNL", "Unlimited 5G", 49.99, None, date(2022, 3, 1), None),
    Tariff("T-YNG15", "Young 15GB", 14.99, 15, date(2023, 1, 1), None),
    Tariff("T-BIZPRO", "Business Pro 60GB", 39.99, 60, date(2021, 6, 1), None),
    Tariff("PP-BASIC", "Prepaid Basic", 0.0, 1, date(2018, 1, 1), None),
    Tariff("ALLIN16", "All-In 2016 (legacy)", 24.95, 3, date(2016, 1, 1), date(2020, 12, 31)),
    Tariff("ALLIN18", "All-In 2018 (legacy)", 29.95, 8, date(2018, 1, 1), date(2021, 12, 31)),
)
ACTIVE_TARIFF_CODES: Final = tuple(t.code for t in MOBILE_TARIFFS if t.valid_to is None)

ProductKind = Literal["broadband", "tv"]
Technology = Literal["dsl", "cable", "fiber"]


@dataclass(frozen=True, slots=True)
class FixedProduct:
    code: str
    name: str
    kind: ProductKind
    technology: Technology | None
    down_mbps: int | None
    up_mbps: int | None
    monthly_price: float
    setup_fee: float
    channels: int | None = None


FIXED_PRODUCTS: Final[tuple[FixedProduct, ...]] = (
    FixedProduct("DSL16", "DSL 16", "broadband", "dsl", 16, 2, 24.99, 49.99),
    FixedProduct("DSL50", "DSL 50", "broadband", "dsl", 50, 10, 29.99, 49.99),
    FixedProduct("DSL100", "DSL 100 Vectoring", "broadband", "dsl", 100, 40, 34.99, 49.99),
    FixedProduct("DSL250", "DSL 250 Supervectoring", "broadband", "dsl", 250, 40, 39.99, 49.99),
    FixedProduct("CAB250", "Cable 250", "broadband", "cable", 250, 25, 34.99, 19.99),
    FixedProduct("CAB500", "Cable 500", "broadband", "cable", 500, 50, 39.99, 19.99),
    FixedProduct("CAB1000", "Cable 1000", "broadband", "cable", 1000, 50, 49.99, 19.99),
    FixedProduct("FIB300", "Fiber 300", "broadband", "fiber", 300, 150, 39.99, 69.99),
    FixedProduct("FIB500", "Fiber 500", "broadband", "fiber", 500, 250, 44.99, 69.99),
    FixedProduct("FIB1000", "Fiber 1000", "broadband", "fiber", 1000, 500, 59.99, 69.99),
    FixedProduct("TVBASIC", "TV Basic", "tv", None, None, None, 9.99, 0.0, 60),
    FixedProduct("TVPLUS", "TV Plus HD", "tv", None, None, None, 14.99, 0.0, 110),
    FixedProduct("TVPREMIUM", "TV Premium", "tv", None, None, None, 24.99, 0.0, 180),
    FixedProduct("TVSPORT", "TV Sport Add-on", "tv", None, None, None, 19.99, 0.0, 25),
)
FIXED_BY_CODE: Final = {p.code: p for p in FIXED_PRODUCTS}
TV_CODES: Final = tuple(p.code for p in FIXED_PRODUCTS if p.kind == "tv")


def broadband_codes(technology: Technology, max_down: int) -> tuple[str, ...]:
    """Broadband products of a technology that fit under the address' maximum speed."""
    return tuple(
        p.code for p in FIXED_PRODUCTS
        if p.technology == technology and p.down_mbps is not None and p.down_mbps <= max_down
    )
