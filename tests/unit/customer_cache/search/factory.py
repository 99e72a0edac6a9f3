"""Customer360 documents for the search and API tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from customer_cache.view.model import (
    AccountView,
    AddressView,
    ContactPoint,
    Customer360,
    Golden,
    OrderItemView,
    OrderView,
    ProductView,
    SourceLink,
)
from overlay.models import (
    AccountType,
    AddressRole,
    Characteristic,
    MediumType,
    OrderState,
    PartyKind,
    ProductStatus,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def person(
    cid: str,
    given: str | None,
    family: str | None,
    *,
    n: int = 1,
    birth: date | None = None,
    postcode: str | None = "10115",
    city: str | None = "Berlin",
    email: str | None = None,
    phone: str | None = None,
    mobile: str | None = None,
    status: str = "active",
    segment: str | None = "residential",
    national_id: str | None = None,
    products: bool = True,
    kind: PartyKind = PartyKind.INDIVIDUAL,
    organization: str | None = None,
    **extra: Any,
) -> Customer360:
    """A customer with a CRM party, a mobile party, a billing account, a mobile product and an open
    order, all keyed by ``n``."""
    crm, mob = f"K{n:08d}", f"MC{n:08d}"
    golden = Golden(
        kind=kind,
        given_name=given,
        family_name=family,
        organization_name=organization,
        birth_date=birth,
        national_id=national_id,
        status=status,
        segment=segment,
        email=email,
        phone=mobile,
    )
    contacts = []
    if email:
        contacts.append(
            ContactPoint(
                medium_type=MediumType.EMAIL, value=email, preferred=True, sources=[f"contactMedium|crm/C{n}"]
            )
        )
    if phone:
        contacts.append(
            ContactPoint(medium_type=MediumType.PHONE, value=phone, sources=[f"contactMedium|crm/C{n}b"])
        )
    addresses = []
    if postcode:
        addresses.append(
            AddressView(
                role=AddressRole.HOME,
                street="Hauptstraße",
                house_number=str(n),
                postcode=postcode,
                city=city,
                sources=[f"address|crm/A{n}"],
            )
        )
    accounts = [
        AccountView(system="mobile", key=f"BA{n:09d}", account_number=f"BA{n:09d}", stack="mobile"),
        AccountView(
            system="crm",
            key=f"CA{n}",
            account_number=f"CA-{n}",
            account_type=AccountType.CUSTOMER,
            name="Kundenkonto",
        ),
    ]
    product_list = []
    orders = []
    if products:
        product_list = [
            ProductView(
                system="mobile",
                key=f"S{n:07d}",
                stack="mobile",
                offering_code="MOB-L",
                name="Mobile L",
                status=ProductStatus.ACTIVE,
                start_date=T0,
                identifiers={
                    "msisdn": mobile or f"+49151{n:08d}",
                    "iccid": f"894902{n:013d}",
                    "imsi": f"26202{n:010d}",
                },
                account=f"mobile/BA{n:09d}",
                characteristics=[Characteristic(name="dataVolume", value=40, unit="GB")],
            ),
            ProductView(
                system="fixed",
                key=f"FX{n:08d}/INET500",
                stack="fixed",
                offering_code="INET500",
                name="Internet 500",
                status=ProductStatus.SUSPENDED,
                service_address=AddressView(
                    role=AddressRole.SERVICE,
                    street="Ringweg",
                    house_number="2",
                    postcode="20095",
                    city="Hamburg",
                ),
            ),
        ]
        orders = [
            OrderView(
                system="backend-mobile",
                key=f"O{n}",
                state=OrderState.IN_PROGRESS,
                external_id=f"WEB-{n}",
                items=[
                    OrderItemView(
                        item_id="1", action="add", offering_code="MOB-L", state=OrderState.IN_PROGRESS
                    )
                ],
            )
        ]
    return Customer360(
        id=cid,
        golden=golden,
        sources=[
            SourceLink(system="crm", key=crm, version=3, modified_at=T0),
            SourceLink(system="mobile", key=mob, version=2, modified_at=T0),
        ],
        contact_media=contacts,
        addresses=addresses,
        accounts=accounts,
        products=product_list,
        orders=orders,
        version=3,
        updated_at=T0,
        event_id=f"evt-{n}",
        **extra,
    )
