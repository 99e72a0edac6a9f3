"""Which access technologies reach an address: deterministic from the normalised address.

A stable hash (not Python's salted ``hash``) of zip + street + house number decides, so the same
address answers the same in every run and ``Lindenstr. 5`` equals ``Lindenstraße 5``.
"""

from __future__ import annotations

import hashlib
import re

from pydantic import BaseModel

from legacy_sim.catalogs import Technology
from legacy_sim.people import ascii_fold

_STREET_SUFFIX = re.compile(r"(strasse|str\.?)$")


class Availability(BaseModel):
    technology: Technology
    max_down_mbps: int


def normalise_address(zip_code: str, street: str, house_no: str) -> str:
    folded = ascii_fold(street).lower().replace(" ", "").replace("-", "")
    folded = _STREET_SUFFIX.sub("str", folded)
    return f"{zip_code.strip()}|{folded}|{house_no.strip().lower().replace(' ', '')}"


def serviceability(zip_code: str, street: str, house_no: str) -> list[Availability]:
    """Technologies available at the address with their maximum downstream speed."""
    digest = hashlib.sha256(normalise_address(zip_code, street, house_no).encode()).digest()
    offers: list[Availability] = []
    if digest[0] < 248:  # ~97% of addresses have some DSL
        offers.append(Availability(technology="dsl", max_down_mbps=(16, 50, 100, 250)[digest[1] % 4]))
    if digest[2] < 115:  # ~45% cable
        offers.append(Availability(technology="cable", max_down_mbps=(250, 500, 1000)[digest[3] % 3]))
    if digest[4] < 77:  # ~30% fiber
        offers.append(Availability(technology="fiber", max_down_mbps=(300, 500, 1000)[digest[5] % 3]))
    return offers
