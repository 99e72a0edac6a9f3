"""Deterministic synthetic persons: the real people behind the legacy records.

Every person is a pure function of ``(seed, index)`` (``random.Random(f"{seed}:{index}")``), so any
index can be reproduced without generating the others and a 1M estate streams in constant memory.
Identifiers that must be unique (mobile numbers, landlines, national ids, personal email suffixes)
come from affine bijections of the index instead of random draws, so they never collide by chance.
Each system sees the person through :meth:`Person.view`, with its own formatting habits and noise.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Final, Literal

from legacy_sim import names

PhoneStyle = Literal["spaced", "international", "dashed", "parenthesized", "bare"]
PHONE_STYLES: Final[tuple[PhoneStyle, ...]] = ("spaced", "international", "dashed", "parenthesized", "bare")
SystemName = Literal["crm", "crm_dup", "mobile", "fixed"]
Segment = Literal["residential", "business"]

HOUSEHOLD_JOIN_RATE: Final = 0.055  # joiners + their heads ≈ 10% of persons share a household
BUSINESS_RATE: Final = 0.12
NATIONAL_ID_RATE: Final = 0.30
MOBILE_RATE: Final = 0.70
FIXED_RATE: Final = 0.50
CRM_RATE: Final = 0.985
CRM_DUPLICATE_RATE: Final = 0.03
SECOND_SIM_RATE: Final = 0.08

HISTORY_START: Final = datetime(2012, 1, 1)
HISTORY_END: Final = datetime(2025, 1, 1)  # initial data is always older than any live change
MIGRATION_TS: Final = datetime(2023, 11, 4, 2, 0, 0)  # bulk migration: many rows share a second

# Multipliers coprime with 2, 3 and 5, hence bijections modulo 9·10^k and 10^k; one per identifier
# kind so that the identifiers of one person do not visibly share digits.
_MULTIPLIERS: Final = {"landline": 7_654_321, "mobile": 998_244_353, "national_id": 1_000_000_007,
                       "email": 2_147_483_647}
_TRANSLIT: Final = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss", "ı": "i"}  # noqa: RUF001
)
_TRANSLIT_P: Final[dict[str, float]] = {"crm": 0.08, "crm_dup": 0.5, "mobile": 0.4, "fixed": 0.25}
_EMAIL_MISSING_P: Final[dict[str, float]] = {"crm": 0.04, "crm_dup": 0.3, "mobile": 0.12, "fixed": 0.2}


def _perm(n: int, modulus: int, seed: int, kind: str) -> int:
    """A seed-shifted bijection on ``range(modulus)``: unique outputs for unique inputs."""
    return (_MULTIPLIERS[kind] * n + seed * 1_000_003 + len(kind) * 7_919) % modulus


def ascii_fold(text: str) -> str:
    """German transliteration (ü→ue, ß→ss) then accent stripping, as legacy ASCII systems do."""
    folded = unicodedata.normalize("NFKD", text.translate(_TRANSLIT))
    return "".join(c for c in folded if not unicodedata.combining(c))


def _slug(text: str) -> str:
    return "".join(c for c in ascii_fold(text).lower() if c.isalnum() or c == "-")


@dataclass(frozen=True, slots=True)
class Phone:
    """A German number split into national destination code and subscriber number."""

    ndc: str
    subscriber: str

    @property
    def e164(self) -> str:
        return f"+49{self.ndc}{self.subscriber}"

    def format(self, style: PhoneStyle) -> str:
        """Render in one of the legacy formats found in the wild."""
        sub = self.subscriber
        if style == "spaced":
            return f"0{self.ndc} {sub[:4]} {sub[4:]}"
        if style == "international":
            return f"+49 {self.ndc} {sub}"
        if style == "dashed":
            return f"0049-{self.ndc}-{sub}"
        if style == "parenthesized":
            return f"(0{self.ndc}) {sub}"
        return f"49{self.ndc}{sub}"


@dataclass(frozen=True, slots=True)
class Address:
    street: str
    house_no: str
    postcode: str
    city: str
    country: str = "DE"


@dataclass(frozen=True, slots=True)
class Company:
    company_id: int
    name: str
    domain: str
    mailbox: str  # the shared generic mailbox, e.g. info@mueller-bau.de


@dataclass(frozen=True, slots=True)
class SystemView:
    """How one system recorded the person: same human, different spelling and formatting."""

    given_name: str
    family_name: str
    email: str | None
    mobile: str | None
    landline: str | None
    birth_date: date | None
    street: str
    house_no: str
    postcode: str
    city: str
    created: datetime
    updated: datetime


@dataclass(frozen=True, slots=True)
class Person:
    seed: int
    index: int
    person_id: str
    given_name: str
    family_name: str
    birth_date: date
    national_id: str | None
    email: str
    mobile: Phone
    second_mobile: Phone | None
    landline: Phone
    address: Address
    segment: Segment
    household_id: str  # person_id of the household head (itself when living alone)
    company: Company | None
    in_crm: bool
    in_mobile: bool
    in_fixed: bool
    crm_duplicate: bool
    created: datetime

    # --- identifiers in each legacy system (pure functions of the index) -------------------
    @property
    def crm_key(self) -> str:
        return crm_key(self.index)

    @property
    def crm_duplicate_key(self) -> str:
        return f"K{50_000_000 + self.index + 1:08d}"

    @property
    def mobile_customer_ref(self) -> str:
        return f"MC{self.index + 1:08d}"

    def subscriber_ids(self) -> list[str]:
        if not self.in_mobile:
            return []
        ids = [subscriber_id(self.index, 0)]
        if self.second_mobile is not None:
            ids.append(subscriber_id(self.index, 1))
        return ids

    @property
    def fixed_customer_id(self) -> str:
        return f"FX{self.index + 1:08d}"

    def view(self, system: SystemName) -> SystemView:
        """The person as ``system`` stores it: transliterations, typos, messy phone/email formats."""
        r = random.Random(f"{self.seed}:{self.index}:{system}")
        given, family = self.given_name, self.family_name
        if r.random() < _TRANSLIT_P[system]:
            given, family = ascii_fold(given), ascii_fold(family)
        if "-" in given and r.random() < 0.35:
            given = given.replace("-", " ")
        roll = r.random()
        if roll < 0.01:
            given, family = family, given
        elif roll < 0.03:
            given = initials(given)
        elif roll < 0.05:
            family = typo(r, family)
        elif roll < 0.06:
            given = typo(r, given)
        if system == "fixed" and r.random() < 0.1:
            family = family.upper()
        email = None if r.random() < _EMAIL_MISSING_P[system] else messy_email(r, self.email)
        mobile = self.mobile.format(r.choice(PHONE_STYLES))
        landline = self.landline.format(r.choice(PHONE_STYLES))
        birth = None if r.random() < (0.3 if system == "fixed" else 0.06) else self.birth_date
        street = self.address.street
        if street.endswith("straße") and r.random() < (0.35 if system == "fixed" else 0.15):
            street = street[: -len("straße")] + r.choice(("str.", "strasse", "str"))
        created = self.created + timedelta(seconds=r.randrange(0, 86_400 * 30))
        if r.random() < 0.5:
            offset = {"crm": 0, "crm_dup": 7, "mobile": 3_600, "fixed": 7_200}[system]
            updated = MIGRATION_TS + timedelta(seconds=offset + self.index // 25)
        else:
            span = int((HISTORY_END - created).total_seconds())
            updated = created + timedelta(seconds=r.randrange(0, max(1, span)))
        updated = max(updated, created)
        return SystemView(
            given, family, email, mobile, landline, birth, street, self.address.house_no,
            self.address.postcode, self.address.city, created, updated,
        )


def crm_key(index: int) -> str:
    return f"K{index + 1:08d}"


def subscriber_id(index: int, line: int) -> str:
    return f"SUB-{index + 1:08d}{line}"


# --- noise helpers ----------------------------------------------------------------------------
def initials(given: str) -> str:
    """'Hans-Peter' → 'H.-P.', 'Anna' → 'A.'."""
    return "-".join(f"{part[0]}." for part in given.split("-") if part)


def typo(r: random.Random, text: str) -> str:
    """One keyboard slip: swapped neighbours, a dropped letter or a doubled one."""
    if len(text) < 4:
        return text
    i = r.randrange(1, len(text) - 2)
    op = r.randrange(3)
    if op == 0:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if op == 1:
        return text[:i] + text[i + 1 :]
    return text[:i] + text[i] + text[i:]


def messy_email(r: random.Random, email: str) -> str:
    """Case and whitespace variants (``" Max.Mueller@Example.DE "``) and rare typos."""
    local, _, domain = email.partition("@")
    roll = r.random()
    if roll < 0.45:
        return email
    if roll < 0.70:
        return f"{'.'.join(p.capitalize() for p in local.split('.'))}@{domain.capitalize()}"
    if roll < 0.85:
        cased = f"{'.'.join(p.capitalize() for p in local.split('.'))}@{domain.upper()}"
        return r.choice((f" {cased} ", f"{cased} ", f" {email}"))
    if roll < 0.97:
        return email.upper()
    return f"{typo(r, local)}@{domain}"


# --- the generator -----------------------------------------------------------------------------
def household_head(seed: int, index: int) -> int:
    """Index of the household this person lives in; ~5% join an earlier neighbour's household."""
    while index > 0:
        r = random.Random(f"{seed}:hh:{index}")
        if r.random() >= HOUSEHOLD_JOIN_RATE:
            return index
        index = max(0, index - 1 - r.randrange(8))
    return 0


@dataclass(frozen=True, slots=True)
class _Home:
    family_name: str
    address: Address
    landline: Phone


@lru_cache(maxsize=8192)
def _home(seed: int, head: int) -> _Home:
    r = random.Random(f"{seed}:home:{head}")
    city, lo, hi, area = r.choice(names.CITIES)
    house_no = str(r.randint(1, 180)) + (r.choice("abc") if r.random() < 0.1 else "")
    address = Address(r.choice(names.STREETS), house_no, f"{r.randint(lo, hi):05d}", city)
    digits = 10 - len(area)
    landline = Phone(area, str(10 ** (digits - 1) + _perm(head, 9 * 10 ** (digits - 1), seed, "landline")))
    return _Home(r.choice(names.FAMILY_NAMES), address, landline)


@lru_cache(maxsize=4096)
def company(seed: int, company_id: int) -> Company:
    """Employer of business persons; colleagues share it, and sometimes its generic mailbox."""
    r = random.Random(f"{seed}:co:{company_id}")
    owner = r.choice(names.FAMILY_NAMES)
    trade = r.choice(names.COMPANY_TRADES)
    domain = f"{_slug(owner)}-{_slug(trade)}.de"
    mailbox = f"{r.choice(names.SHARED_MAILBOXES)}@{domain}"
    return Company(company_id, f"{owner} {trade} {r.choice(names.COMPANY_FORMS)}", domain, mailbox)


def _mobile(seed: int, index: int, line: int, r: random.Random) -> Phone:
    ndc = r.choice(names.MOBILE_NDCS)
    return Phone(ndc, str(10**7 + _perm(2 * index + line, 9 * 10**7, seed, "mobile")))


def _personal_email(seed: int, index: int, given: str, family: str, r: random.Random) -> str:
    g, f = _slug(given), _slug(family)
    suffix = _perm(index, 10**7, seed, "email")
    local = r.choice((f"{g}.{f}{suffix}", f"{g}{f}{suffix}", f"{g[:1]}.{f}{suffix}", f"{f}.{g}{suffix}"))
    return f"{local}@{r.choice(names.MAIL_PROVIDERS)}"


def person(seed: int, index: int) -> Person:
    """The person number ``index`` (0-based) of the estate grown from ``seed``."""
    if index < 0:
        raise ValueError("index must be >= 0")
    r = random.Random(f"{seed}:{index}")
    head = household_head(seed, index)
    home = _home(seed, head)
    given = r.choice(names.GIVEN_NAMES)
    own_family = r.choice(names.FAMILY_NAMES)
    family = home.family_name if head == index or r.random() < 0.65 else own_family
    birth = date(1940, 1, 1) + timedelta(days=r.randrange(0, 24_100))
    national_id = (
        str(10**10 + _perm(index, 9 * 10**10, seed, "national_id")) if r.random() < NATIONAL_ID_RATE else None
    )
    segment: Segment = "business" if r.random() < BUSINESS_RATE else "residential"
    employer: Company | None = None
    if segment == "business":
        employer = company(seed, (index // 150) * 5 + r.randrange(5))
        if r.random() < 0.35:
            email = employer.mailbox
        else:
            email = f"{_slug(given)[:1]}.{_slug(family)}@{employer.domain}"
    else:
        email = _personal_email(seed, index, given, family, r)
    mobile = _mobile(seed, index, 0, r)
    in_mobile = r.random() < MOBILE_RATE
    second = _mobile(seed, index, 1, r) if in_mobile and r.random() < SECOND_SIM_RATE else None
    in_fixed = r.random() < FIXED_RATE
    in_crm = r.random() < CRM_RATE or not (in_mobile or in_fixed)
    duplicate = in_crm and r.random() < CRM_DUPLICATE_RATE
    created = HISTORY_START + timedelta(seconds=r.randrange(0, 86_400 * 365 * 11))
    return Person(
        seed=seed, index=index, person_id=f"P{index + 1:06d}", given_name=given, family_name=family,
        birth_date=birth, national_id=national_id, email=email, mobile=mobile, second_mobile=second,
        landline=home.landline, address=home.address, segment=segment,
        household_id=f"P{head + 1:06d}", company=employer, in_crm=in_crm, in_mobile=in_mobile,
        in_fixed=in_fixed, crm_duplicate=duplicate, created=created,
    )
