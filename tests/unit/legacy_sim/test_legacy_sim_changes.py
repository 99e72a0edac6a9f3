"""Change generator: paced, deterministic, and the ground truth stays complete for sign-ups."""

import sqlite3

import pytest

from legacy_sim.change_generator import ChangeGenerator, run_changes
from legacy_sim.estate import CRM_FILE, FIXED_FILE, MOBILE_FILE, build_estate
from legacy_sim.ground_truth import TRUTH_FILE, iter_truth


@pytest.fixture
async def estate(tmp_path):
    await build_estate(tmp_path, 9, 80)
    return tmp_path


async def test_changes_keep_ground_truth_complete(estate):
    stats = await run_changes(estate, rate=10_000, count=120)
    assert stats.total == 120
    assert set(stats.by_kind) == {"signup", "move", "contact", "plan", "cancel"}
    lines = list(iter_truth(estate / TRUTH_FILE))
    assert len(lines) == 80 + len(stats.signups)
    assert [line.person_id for line in lines[80:]] == stats.signups
    stores = {"crm": (CRM_FILE, 'SELECT "CUST_NO" FROM "CUST_MAST"'),
              "mobile": (MOBILE_FILE, "SELECT subscriber_id FROM subscriber"),
              "fixed": (FIXED_FILE, "SELECT customer_id FROM fx_customer")}
    for system, (name, sql) in stores.items():
        with sqlite3.connect(estate / name) as db:
            keys = {r[0] for r in db.execute(sql)}
        truth = {r.key for line in lines for r in line.records if r.system == system}
        assert truth == keys, system


async def test_changes_are_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    results = []
    for d in (a, b):
        await build_estate(d, 5, 60)
        await run_changes(d, rate=10_000, count=50)
        with sqlite3.connect(d / MOBILE_FILE) as db:
            sql = "SELECT subscriber_id, tariff_code, status FROM subscriber ORDER BY 1"
            tariffs = db.execute(sql).fetchall()
        results.append(((d / TRUTH_FILE).read_text(), tariffs))
    assert results[0] == results[1]


async def test_rate_is_respected(estate):
    generator = ChangeGenerator(estate)
    try:
        stats = await generator.run(rate=100, duration=0.3)
    finally:
        await generator.close()
    assert 15 <= stats.total <= 35
