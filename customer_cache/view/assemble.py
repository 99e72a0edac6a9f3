"""Stage 3: the :class:`Customer360` document of one customer from its source parties' records.

A pure function of the records (no clock, no arrival order, every list sorted): the same stored
records always give the same document, byte for byte, which is what a rebuild and ``overlay cache
verify`` rely on.

* **golden**: per field, the value of the surviving party record (:mod:`.survivorship`: system
  priority, then recency, then ref), with the winner in ``provenance``. ``email`` and ``phone`` also
  consider contact media (CRM files them as separate records), a preferred one before the others.
* **contact media**: deduplicated by (type, value) over the contact media records and the parties'
  own ``email``/``phone`` (the mobile and fixed stacks publish them only on the party), each with the
  records holding it.
* **addresses**: deduplicated by role and normalised value; the surviving record's spelling is shown.
* **accounts** and **products**: every one, products with their status.
* **orders**: those not in a final state (completed, cancelled, rejected, failed), their state and
  item states updated by the order's status events in version order.
* ``version`` the largest among the contributing records, ``updated_at`` the latest observation,
  ``event_id`` the event of the newest record (by observation, then version, then ref).

A child record that no longer names the member party (it moved to another one) or was deleted does
not contribute; neither does a deleted party.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

import phonenumbers

from customer_cache.identity import IdentityRules
from customer_cache.store import PartyRecords, StoredRecord
from customer_cache.view.model import (
    AccountView,
    AddressView,
    ContactPoint,
    Customer360,
    FieldSource,
    Golden,
    OrderItemView,
    OrderView,
    ProductView,
    SourceLink,
)
from customer_cache.view.survivorship import Candidate, choose, ranked
from overlay.models import (
    Account,
    Address,
    AddressRole,
    ContactMedium,
    MediumType,
    Order,
    OrderState,
    OrderStatus,
    Party,
    ProductInstance,
)
from overlay.models.common import SourceRef

FINAL_ORDER_STATES = frozenset(
    {OrderState.COMPLETED, OrderState.CANCELLED, OrderState.REJECTED, OrderState.FAILED}
)

GOLDEN_FIELDS: tuple[str, ...] = (
    "kind", "title", "given_name", "family_name", "organization_name", "birth_date", "national_id",
    "status", "segment",
)
"""Golden fields taken from party records only (email and phone also from contact media)."""

_MOBILE_PREFIXES = ("+4915", "+4916", "+4917")
_ROLE_ORDER = {AddressRole.HOME: 0, AddressRole.BILLING: 1, AddressRole.SERVICE: 2, AddressRole.SHIPPING: 3}
_MEDIUM_ORDER = {MediumType.EMAIL: 0, MediumType.MOBILE: 1, MediumType.PHONE: 2, MediumType.FAX: 3}


@lru_cache(maxsize=16_384)
def phone_medium(e164: str) -> MediumType:
    """MOBILE or PHONE for a number given on a party without its type."""
    if e164.startswith(_MOBILE_PREFIXES):
        return MediumType.MOBILE
    try:
        kind = phonenumbers.number_type(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return MediumType.MOBILE
    if kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.VOIP):
        return MediumType.PHONE
    return MediumType.MOBILE


def _norm_value(medium: MediumType, value: str) -> str:
    value = value.strip()
    if medium is MediumType.EMAIL:
        return value.casefold()
    return "".join(value.split())


def _fold(text: str | None) -> str:
    return " ".join(text.casefold().split()) if text else ""


def _ref(ref: SourceRef | None) -> str | None:
    return None if ref is None else f"{ref.system}/{ref.key}"


@dataclass
class _Contributions:
    """The records that make up the document, for version / updated_at / event_id."""

    records: list[StoredRecord] = field(default_factory=list)

    def add(self, record: StoredRecord) -> None:
        self.records.append(record)

    def version(self) -> int:
        return max((r.version for r in self.records), default=0)

    def updated_at(self) -> datetime | None:
        seen = [r.observed_at for r in self.records if r.observed_at is not None]
        return max(seen) if seen else None

    def event_id(self) -> str | None:
        newest = max(
            (r for r in self.records if r.event_id),
            key=lambda r: (r.observed_at is not None, r.observed_at or datetime.min, r.version, r.record_ref),
            default=None,
        )
        return None if newest is None else newest.event_id


def _live_parties(members: Iterable[PartyRecords]) -> list[tuple[PartyRecords, StoredRecord, Party]]:
    out = []
    for member in sorted(members, key=lambda m: m.ref):
        record = member.party
        model = member.party_model()
        if record is not None and model is not None:
            out.append((member, record, model))
    return out


def assemble(customer_id: str, members: Iterable[PartyRecords], rules: IdentityRules) -> Customer360 | None:
    """The 360 document of ``customer_id`` from the records of its member source parties; None when
    no member is live."""
    parties = _live_parties(members)
    if not parties:
        return None
    priority_rules = rules
    used = _Contributions()
    children: list[tuple[PartyRecords, StoredRecord]] = []
    for member, record, _ in parties:
        used.add(record)
        children.extend((member, c) for c in member.current_children())

    contacts = [c for _, c in children if isinstance(c.model, ContactMedium)]
    addresses = [c for _, c in children if isinstance(c.model, Address)]
    accounts = [c for _, c in children if isinstance(c.model, Account)]
    products = [c for _, c in children if isinstance(c.model, ProductInstance)]
    for record in (*contacts, *addresses, *accounts, *products):
        used.add(record)

    golden, provenance = _golden(parties, contacts, priority_rules)
    orders = _orders([(m, c) for m, c in children if isinstance(c.model, Order)], used)

    return Customer360(
        id=customer_id,
        golden=golden,
        provenance=provenance,
        sources=[
            SourceLink(system=r.system, key=r.key, version=r.version, modified_at=r.modified_at,
                       observed_at=r.observed_at)
            for _, r, _ in parties
        ],
        contact_media=_contact_points(parties, contacts),
        addresses=_addresses(addresses, priority_rules),
        accounts=_accounts(accounts),
        products=_products(products),
        orders=orders,
        version=used.version(),
        updated_at=used.updated_at(),
        event_id=used.event_id(),
    )


# --- golden record -------------------------------------------------------------------------------------


def _golden(
    parties: list[tuple[PartyRecords, StoredRecord, Party]], contacts: list[StoredRecord],
    rules: IdentityRules,
) -> tuple[Golden, dict[str, FieldSource]]:
    values: dict[str, object] = {}
    provenance: dict[str, FieldSource] = {}
    for name in GOLDEN_FIELDS:
        winner = choose(
            (
                Candidate(value=v, system=r.system, key=r.key, modified_at=r.modified_at)
                for _, r, p in parties
                if (v := getattr(p, name)) is not None and v != ""
            ),
            rules,
        )
        if winner is not None:
            values[name] = winner.value
            provenance[name] = winner.source()

    emails: list[Candidate[str]] = []
    phones: list[Candidate[str]] = []
    for _, r, p in parties:
        if p.email:
            emails.append(Candidate(p.email, r.system, r.key, r.modified_at, 0, r.record_ref))
        if p.phone:
            phones.append(Candidate(p.phone, r.system, r.key, r.modified_at, 0, r.record_ref))
    for c in contacts:
        medium: ContactMedium = c.model
        preference = 0 if medium.preferred else 2
        if medium.medium_type is MediumType.EMAIL:
            emails.append(Candidate(medium.value, c.system, c.key, c.modified_at, preference, c.record_ref))
        elif medium.medium_type in (MediumType.MOBILE, MediumType.PHONE):
            # a mobile number before a landline of the same standing
            preference += 0 if medium.medium_type is MediumType.MOBILE else 1
            phones.append(Candidate(medium.value, c.system, c.key, c.modified_at, preference, c.record_ref))
    for name, candidates in (("email", emails), ("phone", phones)):
        winner = choose(candidates, rules)
        if winner is not None:
            values[name] = winner.value
            provenance[name] = winner.source()
    return Golden.model_validate(values), provenance


# --- contact media and addresses -----------------------------------------------------------------------


def _contact_points(
    parties: list[tuple[PartyRecords, StoredRecord, Party]], contacts: list[StoredRecord]
) -> list[ContactPoint]:
    points: dict[tuple[MediumType, str], tuple[bool, set[str], str]] = {}

    def add(medium: MediumType, value: str, preferred: bool, source: str) -> None:
        key = (medium, _norm_value(medium, value))
        if not key[1]:
            return
        was = points.get(key)
        if was is None:
            points[key] = (preferred, {source}, key[1])
        else:
            was[1].add(source)
            points[key] = (was[0] or preferred, was[1], was[2])

    for _, r, p in parties:
        if p.email:
            add(MediumType.EMAIL, p.email, False, r.record_ref)
        if p.phone:
            add(phone_medium(_norm_value(MediumType.PHONE, p.phone)), p.phone, False, r.record_ref)
    for c in contacts:
        medium: ContactMedium = c.model
        add(medium.medium_type, medium.value, medium.preferred, c.record_ref)
    return [
        ContactPoint(medium_type=medium, value=value, preferred=preferred, sources=sorted(sources))
        for (medium, _), (preferred, sources, value) in sorted(
            points.items(), key=lambda kv: (_MEDIUM_ORDER.get(kv[0][0], 9), kv[0][1])
        )
    ]


def _address_key(a: Address) -> tuple[str, ...]:
    postcode = "".join((a.postcode or "").split()).upper()
    return (a.role.value, _fold(a.street), _fold(a.house_number), postcode, _fold(a.city), a.country.upper())


def _address_view(a: Address, sources: list[str]) -> AddressView:
    return AddressView(role=a.role, street=a.street, house_number=a.house_number, postcode=a.postcode,
                       city=a.city, country=a.country, sources=sources)


def _addresses(records: list[StoredRecord], rules: IdentityRules) -> list[AddressView]:
    groups: dict[tuple[str, ...], list[StoredRecord]] = {}
    for r in records:
        groups.setdefault(_address_key(r.model), []).append(r)
    views: list[tuple[tuple[object, ...], AddressView]] = []
    for key, group in groups.items():
        best = ranked(
            (Candidate(r, r.system, r.key, r.modified_at, 0, r.record_ref) for r in group), rules
        )[0].value
        model: Address = best.model
        order = (_ROLE_ORDER.get(model.role, 9), key[3], key[1], key[2], key[4], key[5])
        views.append((order, _address_view(model, sorted(r.record_ref for r in group))))
    return [v for _, v in sorted(views, key=lambda kv: kv[0])]


# --- accounts, products, orders ----------------------------------------------------------------------


def _accounts(records: list[StoredRecord]) -> list[AccountView]:
    out = []
    for r in sorted(records, key=lambda r: r.ref):
        a: Account = r.model
        out.append(AccountView(system=r.system, key=r.key, account_number=a.account_number,
                               account_type=a.account_type, name=a.name, status=a.status, stack=a.stack))
    return out


def _products(records: list[StoredRecord]) -> list[ProductView]:
    out = []
    for r in sorted(records, key=lambda r: r.ref):
        p: ProductInstance = r.model
        out.append(ProductView(
            system=r.system, key=r.key, stack=p.stack, offering_code=p.offering_code, name=p.name,
            status=p.status, start_date=p.start_date, termination_date=p.termination_date,
            identifiers=dict(sorted(p.identifiers.items())), account=_ref(p.account),
            characteristics=list(p.characteristics),
            service_address=None if p.service_address is None else _address_view(p.service_address, []),
        ))
    return out


def _orders(records: list[tuple[PartyRecords, StoredRecord]], used: _Contributions) -> list[OrderView]:
    out = []
    for member, r in sorted(records, key=lambda mr: mr[1].ref):
        order: Order = r.model
        state = order.state
        item_states = {item.item_id: item.state for item in order.items}
        statuses = sorted(
            (s for s in member.statuses.get(r.ref, ()) if not s.deleted and s.link == r.ref),
            key=lambda s: (s.version, s.observed_at is not None, s.observed_at or datetime.min, s.ref),
        )
        for s in statuses:
            status: OrderStatus = s.model
            state = status.state
            for item_id, item_state in status.item_states.items():
                if item_id in item_states:
                    item_states[item_id] = item_state
        if state in FINAL_ORDER_STATES:
            continue
        used.add(r)
        for s in statuses:
            used.add(s)
        out.append(OrderView(
            system=r.system, key=r.key, state=state, channel=order.channel, order_date=order.order_date,
            external_id=order.external_id,
            items=[OrderItemView(item_id=i.item_id, action=i.action, offering_code=i.offering_code,
                                 state=item_states[i.item_id]) for i in order.items],
        ))
    return out
