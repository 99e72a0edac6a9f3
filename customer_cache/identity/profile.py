"""A source party's identity profile from its records. (Stub: strong identifiers only; to be replaced.)"""

from __future__ import annotations

from collections.abc import Sequence

from customer_cache.identity.model import IdentityRules, IdType, Profile
from overlay.models import Account, Address, ContactMedium, Party, ProductInstance

Child = ContactMedium | Address | Account | ProductInstance


def build_profile(ref: str, party: Party | None, children: Sequence[Child], rules: IdentityRules) -> Profile:
    """The profile of source party ``ref`` (``system/key``); ``party`` None when deleted or not seen yet."""
    system = ref.partition("/")[0]
    ids: set[str] = set()
    if party is not None:
        if party.email:
            ids.add(f"{IdType.EMAIL}:{party.email}")
        if party.phone:
            ids.add(f"{IdType.MOBILE}:{party.phone}")
        if party.national_id:
            ids.add(f"{IdType.NATIONAL_ID}:{party.national_id.upper()}")
    return Profile(
        ref=ref, system=system, identifiers=tuple(sorted(ids)), deleted=party is None,
        given_name=party.given_name if party else None, family_name=party.family_name if party else None,
        birth_date=party.birth_date if party else None,
    )
