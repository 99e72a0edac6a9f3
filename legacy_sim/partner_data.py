"""Deterministic partner catalogs as TMF620 v4 resources, generated lazily per offering.

Only ``(lastUpdate, id)`` keys are held in memory, the JSON bodies are built per page, so a
catalog of tens of thousands of offerings costs a few MB. ``publish`` and ``reprice`` change the
catalog at run time so that catalog synchronisation has something to pick up.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

ResourceKind = Literal["productOffering", "productSpecification", "productOfferingPrice"]
API_PREFIX: Final = "/tmf-api/productCatalogManagement/v4"
CATALOG_START: Final = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    monthly: float
    characteristics: tuple[tuple[str, str, object], ...]  # (name, valueType, value)


@dataclass(frozen=True, slots=True)
class PartnerSpec:
    slug: str
    brand: str
    category: str
    tiers: tuple[Tier, ...]
    variants: tuple[str, ...]
    activation_fee: float


STREAMFLIX: Final = PartnerSpec(
    "streamflix", "StreamFlix", "Streaming",
    (
        Tier("Basic with Ads", 4.99, (("maxStreams", "integer", 1), ("resolution", "string", "HD"))),
        Tier("Standard", 9.99, (("maxStreams", "integer", 2), ("resolution", "string", "Full HD"))),
        Tier("Premium", 14.99, (("maxStreams", "integer", 4), ("resolution", "string", "4K UHD"))),
        Tier("Family", 17.99, (("maxStreams", "integer", 6), ("resolution", "string", "4K UHD"))),
    ),
    ("", "Annual", "Student", "Promo 3M", "Bundle Edition", "Sport Pass", "Kids"),
    0.0,
)
SHIELDSEC: Final = PartnerSpec(
    "shieldsec", "ShieldSec", "Security",
    (
        Tier("Antivirus", 2.99, (("devices", "integer", 1), ("vpn", "boolean", False))),
        Tier("Internet Security", 4.99, (("devices", "integer", 3), ("vpn", "boolean", False))),
        Tier("Total Security", 7.99, (("devices", "integer", 5), ("vpn", "boolean", True))),
        Tier("Family Protect", 9.99, (("devices", "integer", 10), ("vpn", "boolean", True))),
    ),
    ("", "Annual", "Business", "Mobile Only", "Promo 6M"),
    4.99,
)
PARTNERS: Final = {p.slug: p for p in (STREAMFLIX, SHIELDSEC)}


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class PartnerCatalog:
    """One partner's catalog of ``size`` offerings; each has a specification and 1-2 prices."""

    spec: PartnerSpec
    size: int = 30
    seed: int = 42
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC).replace(microsecond=0))
    _updated: list[datetime] = field(init=False)
    _revision: dict[int, int] = field(init=False, default_factory=dict)
    _sorted: list[tuple[datetime, int]] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._updated = [self._initial_update(i) for i in range(self.size)]

    def _initial_update(self, i: int) -> datetime:
        return CATALOG_START + timedelta(minutes=37 * i, seconds=(i * 7919) % 60)

    # --- identifiers ------------------------------------------------------------------------
    def offering_id(self, i: int) -> str:
        return f"{self.spec.slug}-po-{i:06d}"

    def spec_id(self, i: int) -> str:
        return f"{self.spec.slug}-ps-{i:06d}"

    def price_ids(self, i: int) -> list[str]:
        ids = [f"{self.spec.slug}-pop-{i:06d}-rc"]
        if self._has_activation_fee(i):
            ids.append(f"{self.spec.slug}-pop-{i:06d}-ot")
        return ids

    def index_of(self, resource_id: str) -> int | None:
        try:
            i = int(resource_id.split("-")[2])
        except (IndexError, ValueError):
            return None
        return i if 0 <= i < self.size else None

    # --- run-time changes ----------------------------------------------------------------------
    def publish(self, count: int) -> list[str]:
        """Add ``count`` new offerings stamped now (a partner launching products)."""
        now = self.clock()
        start = self.size
        self._updated.extend([now] * count)
        self.size += count
        self._sorted = None
        return [self.offering_id(i) for i in range(start, self.size)]

    def reprice(self, count: int) -> list[str]:
        """Change the price of ``count`` deterministic offerings (bumps version and lastUpdate)."""
        r = random.Random(f"{self.seed}:{self.spec.slug}:reprice:{sum(self._revision.values())}")
        chosen = r.sample(range(self.size), min(count, self.size))
        now = self.clock()
        for i in chosen:
            self._revision[i] = self._revision.get(i, 0) + 1
            self._updated[i] = now
        self._sorted = None
        return [self.offering_id(i) for i in chosen]

    # --- listing -------------------------------------------------------------------------------
    def page(self, *, offset: int, limit: int, updated_after: datetime | None) -> tuple[int, list[int]]:
        """(total matching, offering indexes of the page) ordered by (lastUpdate, id)."""
        if self._sorted is None:
            self._sorted = sorted((ts, i) for i, ts in enumerate(self._updated))
        start = 0 if updated_after is None else bisect.bisect_right(self._sorted, (updated_after, self.size))
        total = len(self._sorted) - start
        return total, [i for _, i in self._sorted[start + offset : start + offset + limit]]

    # --- resource bodies -----------------------------------------------------------------------
    def _rng(self, i: int) -> random.Random:
        return random.Random(f"{self.seed}:{self.spec.slug}:{i}")

    def _has_activation_fee(self, i: int) -> bool:
        return self.spec.activation_fee > 0 and i % 3 == 0

    def _tier_variant(self, i: int) -> tuple[Tier, str]:
        tiers, variants = self.spec.tiers, self.spec.variants
        if i < len(tiers) * len(variants):
            return tiers[i % len(tiers)], variants[i // len(tiers)]
        r = self._rng(i)
        return r.choice(tiers), f"{r.choice(variants[1:])} {i}"

    def _name(self, i: int) -> str:
        tier, variant = self._tier_variant(i)
        return " ".join(x for x in (self.spec.brand, tier.name, variant) if x)

    def _monthly(self, i: int) -> float:
        tier, variant = self._tier_variant(i)
        factor = 0.8 if "Promo" in variant or "Student" in variant else 1.0
        return round(tier.monthly * factor + 0.5 * self._revision.get(i, 0), 2)

    def _common(self, kind: ResourceKind, rid: str, i: int, base: str) -> dict[str, Any]:
        retired = self._rng(i).random() < 0.05
        return {
            "id": rid,
            "href": f"{base}{API_PREFIX}/{kind}/{rid}",
            "lastUpdate": _iso(self._updated[i]),
            "lifecycleStatus": "Retired" if retired else "Active",
            "version": f"1.{self._revision.get(i, 0)}",
            "validFor": {"startDateTime": _iso(self._initial_update(i))},
            "@type": kind[0].upper() + kind[1:],
        }

    def offering(self, i: int, base: str = "") -> dict[str, Any]:
        oid = self.offering_id(i)
        name = self._name(i)
        body = self._common("productOffering", oid, i, base)
        body.update(
            name=name,
            description=f"{name} - partner offering by {self.spec.brand}",
            isBundle=False,
            isSellable=body["lifecycleStatus"] == "Active",
            category=[{"id": f"{self.spec.slug}-cat", "name": self.spec.category}],
            channel=[{"id": "web", "name": "Web"}, {"id": "shop", "name": "Retail"}],
            marketSegment=[{"id": "residential", "name": "Residential"}],
            productSpecification={
                "id": self.spec_id(i), "href": f"{base}{API_PREFIX}/productSpecification/{self.spec_id(i)}",
                "name": name, "@referredType": "ProductSpecification",
            },
            productOfferingPrice=[
                {"id": pid, "href": f"{base}{API_PREFIX}/productOfferingPrice/{pid}", "name": pid,
                 "@referredType": "ProductOfferingPrice"}
                for pid in self.price_ids(i)
            ],
        )
        return body

    def specification(self, i: int, base: str = "") -> dict[str, Any]:
        tier, _ = self._tier_variant(i)
        body = self._common("productSpecification", self.spec_id(i), i, base)
        body.update(
            name=self._name(i),
            brand=self.spec.brand,
            description=f"{self.spec.brand} {tier.name} service",
            isBundle=False,
            productNumber=f"{self.spec.slug.upper()}-{i:06d}",
            productSpecCharacteristic=[
                {
                    "name": cname, "valueType": vtype, "configurable": False,
                    "productSpecCharacteristicValue": [
                        {"value": value, "valueType": vtype, "isDefault": True}
                    ],
                }
                for cname, vtype, value in tier.characteristics
            ],
        )
        return body

    def prices(self, i: int, base: str = "") -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = []
        for pid in self.price_ids(i):
            body = self._common("productOfferingPrice", pid, i, base)
            recurring = pid.endswith("-rc")
            body.update(
                name=f"{self._name(i)} {'monthly fee' if recurring else 'activation fee'}",
                isBundle=False,
                priceType="recurring" if recurring else "oneTime",
                price={"unit": "EUR", "value": self._monthly(i) if recurring else self.spec.activation_fee},
            )
            if recurring:
                body.update(recurringChargePeriodType="month", recurringChargePeriodLength=1)
            result.append(body)
        return result

    def price_page(
        self, *, offset: int, limit: int, updated_after: datetime | None
    ) -> tuple[int, list[tuple[int, str]]]:
        """(total matching prices, page of (offering index, price id)); prices follow their offering."""
        _, indexes = self.page(offset=0, limit=self.size, updated_after=updated_after)
        flat = [(i, pid) for i in indexes for pid in self.price_ids(i)]
        return len(flat), flat[offset : offset + limit]

    def price(self, price_id: str, base: str = "") -> dict[str, Any] | None:
        i = self.index_of(price_id)
        if i is None:
            return None
        return next((p for p in self.prices(i, base) if p["id"] == price_id), None)
