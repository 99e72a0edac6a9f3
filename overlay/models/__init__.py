"""Canonical models: the one vocabulary every connector writes and every processor reads.

They are deliberately source-neutral and close to TM Forum SID / Open API terms, so mapping to the
TMF v4 APIs is a projection, not a translation.
"""

from overlay.models.catalog import (
    PriceType,
    ProductOffering,
    ProductOfferingPrice,
    ProductSpecification,
)
from overlay.models.common import Characteristic, SourceRef, ValidFor
from overlay.models.order import Order, OrderItem, OrderState, OrderStatus
from overlay.models.party import (
    Account,
    AccountType,
    Address,
    AddressRole,
    ContactMedium,
    MediumType,
    Party,
    PartyKind,
)
from overlay.models.product import ProductInstance, ProductStatus

__all__ = [
    "Account",
    "AccountType",
    "Address",
    "AddressRole",
    "Characteristic",
    "ContactMedium",
    "MediumType",
    "Order",
    "OrderItem",
    "OrderState",
    "OrderStatus",
    "Party",
    "PartyKind",
    "PriceType",
    "ProductInstance",
    "ProductOffering",
    "ProductOfferingPrice",
    "ProductSpecification",
    "ProductStatus",
    "SourceRef",
    "ValidFor",
]
