"""From the Customer360 document to the TM Forum v4 resources (pure functions, no I/O).

* TMF629 ``Customer``: the customer itself; ``engagedParty`` the individual or organisation behind it,
  ``contactMedium`` emails, numbers and postal addresses, ``account`` refs to TMF666, ``characteristic``
  the linked source records, segment and kind.
* TMF637 ``Product``: each product across stacks; id ``system/key`` of its source record.
* TMF666 ``BillingAccount`` / ``PartyAccount``: each account; id ``system/key`` of its source record.

Ids that hold a slash appear URL-encoded in hrefs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from customer_cache.view.model import AccountView, AddressView, Customer360, ProductView
from overlay.models import AccountType, Characteristic, MediumType, PartyKind

CUSTOMER_BASE = "/tmf-api/customerManagement/v4"
PRODUCT_BASE = "/tmf-api/productInventory/v4"
ACCOUNT_BASE = "/tmf-api/accountManagement/v4"
PARTY_BASE = "/tmf-api/partyManagement/v4"
CATALOG_BASE = "/tmf-api/productCatalogManagement/v4"

_PHONE_CONTACT_TYPE = {MediumType.MOBILE: "mobile", MediumType.PHONE: "fixed", MediumType.FAX: "fax"}


def ref_id(system: str, key: str) -> str:
    return f"{system}/{key}"


def href(base: str, resource: str, resource_id: str) -> str:
    return f"{base}/{resource}/{quote(resource_id, safe='')}"


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _referred_type(doc: Customer360) -> str:
    return "Organization" if doc.golden.kind is PartyKind.ORGANIZATION else "Individual"


def customer_ref(doc: Customer360, role: str) -> dict[str, Any]:
    """A RelatedParty pointing at the TMF629 customer."""
    return {
        "id": doc.id,
        "href": href(CUSTOMER_BASE, "customer", doc.id),
        "name": doc.golden.display_name,
        "role": role,
        "@referredType": "Customer",
    }


# --- TMF629 Customer ------------------------------------------------------------------------------


def _contact_media(doc: Customer360) -> list[dict[str, Any]]:
    media: list[dict[str, Any]] = []
    for c in doc.contact_media:
        if c.medium_type is MediumType.EMAIL:
            characteristic: dict[str, Any] = {"contactType": "email", "emailAddress": c.value}
            medium = "email"
        elif c.medium_type is MediumType.FAX:
            characteristic = {"contactType": "fax", "faxNumber": c.value}
            medium = "fax"
        else:
            characteristic = {"contactType": _PHONE_CONTACT_TYPE[c.medium_type], "phoneNumber": c.value}
            medium = "telephone"
        media.append({"mediumType": medium, "preferred": c.preferred, "characteristic": characteristic})
    for a in doc.addresses:
        media.append({"mediumType": "postalAddress", "preferred": False, "characteristic": _postal(a)})
    return media


def _postal(a: AddressView) -> dict[str, Any]:
    street = " ".join(p for p in (a.street, a.house_number) if p) or None
    values = {"contactType": a.role.value, "street1": street, "postCode": a.postcode, "city": a.city,
              "country": a.country}
    return {k: v for k, v in values.items() if v is not None}


def _characteristic(name: str, value: Any) -> dict[str, Any]:
    kinds = {bool: "boolean", int: "integer", float: "number"}
    return {"name": name, "valueType": kinds.get(type(value), "string"), "value": value}


def customer(doc: Customer360) -> dict[str, Any]:
    """The TMF629 v4 ``Customer`` of a 360 document."""
    g = doc.golden
    referred = _referred_type(doc)
    characteristic = [_characteristic("sourceRecord", ref_id(s.system, s.key)) for s in doc.sources]
    if g.segment:
        characteristic.append(_characteristic("segment", g.segment))
    characteristic.append(_characteristic("partyKind", g.kind.value))
    body: dict[str, Any] = {
        "id": doc.id,
        "href": href(CUSTOMER_BASE, "customer", doc.id),
        "name": g.display_name,
        "status": g.status,
        "engagedParty": {
            "id": doc.id,
            "href": href(PARTY_BASE, referred.lower(), doc.id),
            "name": g.display_name,
            "@referredType": referred,
        },
        "contactMedium": _contact_media(doc),
        "account": [
            {
                "id": ref_id(a.system, a.key),
                "href": href(ACCOUNT_BASE, _account_resource(a), ref_id(a.system, a.key)),
                "name": a.name or a.account_number,
                "description": f"{a.stack or a.system} {a.account_type.value} account {a.account_number}",
                "@referredType": _account_type(a),
            }
            for a in doc.accounts
        ],
        "characteristic": characteristic,
        "@type": "Customer",
    }
    starts = [p.start_date for p in doc.products if p.start_date]
    if starts:
        body["validFor"] = {"startDateTime": _time(min(starts))}
    return body


# --- TMF637 Product -------------------------------------------------------------------------------


def _product_characteristics(p: ProductView) -> list[dict[str, Any]]:
    out = [_characteristic("stack", p.stack)]
    out.extend(_characteristic(name, value) for name, value in sorted(p.identifiers.items()))
    out.extend(_value_characteristic(c) for c in p.characteristics)
    return out


def _value_characteristic(c: Characteristic) -> dict[str, Any]:
    body = _characteristic(c.name, c.value)
    if c.unit:
        body["unitOfMeasure"] = c.unit  # not in the v4 Characteristic; harmless extension
    return body


def product(doc: Customer360, p: ProductView) -> dict[str, Any]:
    """The TMF637 v4 ``Product`` of one product of the customer."""
    pid = ref_id(p.system, p.key)
    body: dict[str, Any] = {
        "id": pid,
        "href": href(PRODUCT_BASE, "product", pid),
        "name": p.name or p.offering_code or pid,
        "status": p.status.value,
        "isBundle": False,
        "isCustomerVisible": True,
        "productCharacteristic": _product_characteristics(p),
        "relatedParty": [customer_ref(doc, "customer")],
        "@type": "Product",
    }
    if p.start_date:
        body["startDate"] = _time(p.start_date)
    if p.termination_date:
        body["terminationDate"] = _time(p.termination_date)
    if "iccid" in p.identifiers:
        body["productSerialNumber"] = p.identifiers["iccid"]
    if p.offering_code:
        body["productOffering"] = {
            "id": p.offering_code,
            "href": href(CATALOG_BASE, "productOffering", p.offering_code),
            "@referredType": "ProductOffering",
        }
    if p.account:
        body["billingAccount"] = {
            "id": p.account,
            "href": href(ACCOUNT_BASE, "billingAccount", p.account),
            "@referredType": "BillingAccount",
        }
    if p.service_address:
        a = p.service_address
        place = {"role": "installationAddress", "@type": "GeographicAddress", "streetName": a.street,
                 "streetNr": a.house_number, "postcode": a.postcode, "city": a.city, "country": a.country}
        body["place"] = [{k: v for k, v in place.items() if v is not None}]
    return body


def products(doc: Customer360) -> list[dict[str, Any]]:
    return [product(doc, p) for p in doc.products]


# --- TMF666 accounts --------------------------------------------------------------------------------


def _account_type(a: AccountView) -> str:
    return "BillingAccount" if a.account_type is AccountType.BILLING else "PartyAccount"


def _account_resource(a: AccountView) -> str:
    return "billingAccount" if a.account_type is AccountType.BILLING else "partyAccount"


def account(doc: Customer360, a: AccountView) -> dict[str, Any]:
    """The TMF666 v4 ``BillingAccount`` (or ``PartyAccount`` for a customer account) of one account."""
    aid = ref_id(a.system, a.key)
    return {
        "id": aid,
        "href": href(ACCOUNT_BASE, _account_resource(a), aid),
        "name": a.name or a.account_number,
        "description": f"{a.stack or a.system} {a.account_type.value} account {a.account_number}",
        "accountType": a.account_type.value,
        "state": a.status,
        "relatedParty": [customer_ref(doc, "owner")],
        "@type": _account_type(a),
    }


def accounts(doc: Customer360, account_type: AccountType) -> list[dict[str, Any]]:
    return [account(doc, a) for a in doc.accounts if a.account_type is account_type]


# --- the compact 360 -------------------------------------------------------------------------------

_RENAMES = {"contact_media": "contactMedium", "email": "emailAddress", "phone": "phoneNumber"}


def _camel(name: str) -> str:
    if name in _RENAMES:
        return _RENAMES[name]
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def _camel_keys(node: Any, rename: bool) -> Any:
    if isinstance(node, dict):
        return {
            (_camel(k) if rename else k): _camel_keys(v, rename and k not in _OPAQUE) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_camel_keys(v, rename) for v in node]
    return node


_OPAQUE = frozenset({"identifiers", "serviceability"})
"""Maps whose keys are data (identifier names, technologies), not attributes: kept as they are."""


def compact_360(doc: Customer360) -> dict[str, Any]:
    """The 360 document as JSON with camelCase attributes (personal attributes carry the names the
    auth seam masks: ``birthDate``, ``nationalId``, ``emailAddress``, ``phoneNumber``,
    ``contactMedium``)."""
    body: dict[str, Any] = _camel_keys(doc.model_dump(mode="json"), rename=True)
    return body
