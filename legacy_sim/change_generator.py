"""Keeps the estate moving: sign-ups, moves, contact changes, plan changes, cancellations.

Mutations go straight through the stores (as the legacy systems' own front-ends would), paced at
``rate`` changes per second. Run ``k`` of an estate draws from ``Random(f"{seed}:changes:{k}")``,
so the same estate and seed replay the same changes. Sign-ups are generated persons with the
next free index, appended to the ground truth, so the truth stays complete.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel

from legacy_sim import names
from legacy_sim.catalogs import ACTIVE_TARIFF_CODES, FIXED_PRODUCTS
from legacy_sim.estate import EstateStores, load_manifest
from legacy_sim.ground_truth import TRUTH_FILE, count_persons, truth_lines
from legacy_sim.people import PHONE_STYLES, Person, ascii_fold, messy_email, person
from overlay.logging import get_logger

log = get_logger(__name__)

ChangeKind = Literal["signup", "move", "contact", "plan", "cancel"]
KINDS: Final[tuple[ChangeKind, ...]] = ("signup", "move", "contact", "plan", "cancel")
WEIGHTS: Final = (0.12, 0.13, 0.35, 0.28, 0.12)
STATE_FILE: Final = "changes.json"


class ChangeStats(BaseModel):
    total: int = 0
    by_kind: dict[str, int] = {}
    by_system: dict[str, int] = {}  # store mutations per system
    signups: list[str] = []  # person ids added
    elapsed_s: float = 0.0


class ChangeGenerator:
    """Applies deterministic random changes to an estate's stores."""

    def __init__(self, data_dir: Path, *, seed: int | None = None) -> None:
        self.data_dir = data_dir
        manifest = load_manifest(data_dir)
        self.seed = manifest.seed if seed is None else seed
        self.stores = EstateStores.open(data_dir, manifest)
        self.stats = ChangeStats()
        self._kinds: Counter[str] = Counter()
        self._systems: Counter[str] = Counter()
        self._next_index = 0
        self._run = 0
        self._rng = random.Random()
        self._n = 0

    async def _prepare(self) -> None:
        state_path = self.data_dir / STATE_FILE
        state = await asyncio.to_thread(_read_state, state_path)
        self._run = int(state.get("runs", 0))
        self._next_index = await asyncio.to_thread(count_persons, self.data_dir / TRUTH_FILE)
        self._rng = random.Random(f"{self.seed}:changes:{self._run}")
        await asyncio.to_thread(_write_state, state_path, {"runs": self._run + 1})

    async def run(self, rate: float, duration: float | None = None, count: int | None = None) -> ChangeStats:
        """Apply changes at ``rate``/s until ``count`` changes or ``duration`` seconds (else forever)."""
        if rate <= 0:
            raise ValueError("rate must be > 0")
        await self._prepare()
        loop = asyncio.get_running_loop()
        start = loop.time()
        done = 0
        try:
            while (count is None or done < count) and (duration is None or loop.time() - start < duration):
                await self.step()
                done += 1
                delay = start + done / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
        finally:
            self.stats.elapsed_s = round(loop.time() - start, 3)
            log.info("changes applied", total=self.stats.total, **self.stats.by_kind)
        return self.stats

    async def step(self) -> ChangeKind:
        """One change of a randomly chosen kind on a randomly chosen person."""
        kind = self._rng.choices(KINDS, weights=WEIGHTS)[0]
        self._n += 1
        if kind == "signup":
            await self._signup()
        else:
            target = person(self.seed, self._rng.randrange(max(1, self._next_index)))
            if kind == "move":
                await self._move(target)
            elif kind == "contact":
                await self._contact(target)
            elif kind == "plan":
                await self._plan(target)
            else:
                await self._cancel(target)
        self._kinds[kind] += 1
        self.stats.total += 1
        self.stats.by_kind = dict(self._kinds)
        self.stats.by_system = dict(self._systems)
        return kind

    async def close(self) -> None:
        await self.stores.close()

    # --- the change kinds ------------------------------------------------------------------------
    async def _signup(self) -> None:
        p = person(self.seed, self._next_index)
        self._next_index += 1
        if p.in_crm:
            await self.stores.crm.add_person(p)
            self._systems["crm"] += 1
        if p.in_mobile:
            await self.stores.mobile.add_person(p)
            self._systems["mobile"] += 1
        if p.in_fixed:
            await self.stores.fixed.add_person(p)
            self._systems["fixed"] += 1
        await asyncio.to_thread(_append, self.data_dir / TRUTH_FILE, truth_lines([p]))
        self.stats.signups.append(p.person_id)

    async def _move(self, p: Person) -> None:
        r = self._rng
        city, lo, hi, _ = r.choice(names.CITIES)
        street, house_no = r.choice(names.STREETS), str(r.randint(1, 180))
        zip_code = f"{r.randint(lo, hi):05d}"
        if p.in_crm:
            await self.stores.crm.move_address(p.crm_key, street=street, house_no=house_no, zip_cd=zip_code,
                                               city=city)
            self._systems["crm"] += 1
        if p.in_fixed:
            await self.stores.fixed.move(p.fixed_customer_id, street=street, house_no=house_no,
                                         zip_code=zip_code, city=city)
            self._systems["fixed"] += 1

    async def _contact(self, p: Person) -> None:
        r = self._rng
        if r.random() < 0.6:
            folded = ascii_fold(f"{p.given_name}.{p.family_name}").lower()
            local = "".join(c for c in folded if c.isalnum() or c == ".")
            email = f"{local}.r{self._run}n{self._n}@{r.choice(names.MAIL_PROVIDERS)}"
            if p.in_crm:
                await self.stores.crm.update_contact(p.crm_key, "EMAIL", messy_email(r, email))
                self._systems["crm"] += 1
            for sub_id in p.subscriber_ids()[:1]:  # customers often tell only some of the stacks
                if r.random() < 0.5:
                    await self.stores.mobile.update_subscriber(sub_id, email=messy_email(r, email))
                    self._systems["mobile"] += 1
            if p.in_fixed and r.random() < 0.5:
                await self.stores.fixed.update_customer(p.fixed_customer_id, email=messy_email(r, email))
                self._systems["fixed"] += 1
        elif p.in_crm:  # data clean-up: the same number, re-typed in another format
            await self.stores.crm.update_contact(p.crm_key, "MOBILE", p.mobile.format(r.choice(PHONE_STYLES)))
            self._systems["crm"] += 1

    async def _plan(self, p: Person) -> None:
        r = self._rng
        subs = p.subscriber_ids()
        if subs:
            await self.stores.mobile.change_tariff(r.choice(subs), r.choice(ACTIVE_TARIFF_CODES))
            self._systems["mobile"] += 1
        elif p.in_fixed:
            await self.stores.fixed.change_product(p.fixed_customer_id, r.choice(FIXED_PRODUCTS).code)
            self._systems["fixed"] += 1
        else:
            await self._contact(p)

    async def _cancel(self, p: Person) -> None:
        subs = p.subscriber_ids()
        if subs:
            await self.stores.mobile.set_status(self._rng.choice(subs), "TERMINATED")
            self._systems["mobile"] += 1
        elif p.in_fixed:
            await self.stores.fixed.cancel_all(p.fixed_customer_id)
            self._systems["fixed"] += 1
        elif p.in_crm:
            await self.stores.crm.soft_delete_customer(p.crm_key)
            self._systems["crm"] += 1


def _read_state(path: Path) -> dict[str, int]:
    if not path.exists():
        return {}
    data: dict[str, int] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _write_state(path: Path, state: dict[str, int]) -> None:
    path.write_text(json.dumps(state), encoding="utf-8")


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)


async def run_changes(
    data_dir: Path, rate: float, duration: float | None = None, count: int | None = None,
    seed: int | None = None,
) -> ChangeStats:
    """Open the estate, apply changes, close it: the one-call form for the CLI and benchmarks."""
    generator = ChangeGenerator(data_dir, seed=seed)
    try:
        return await generator.run(rate, duration=duration, count=count)
    finally:
        await generator.close()
