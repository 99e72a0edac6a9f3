"""Estate build: determinism (same seed + size → identical data) and ground-truth consistency."""

import sqlite3
from pathlib import Path

import pytest

from legacy_sim.estate import CRM_FILE, FIXED_FILE, MOBILE_FILE, build_estate, load_manifest
from legacy_sim.ground_truth import TRUTH_FILE, iter_truth, key_index, summarize


def dump(path: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: db.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall() for t in tables}


@pytest.fixture(scope="module")
async def estates(tmp_path_factory):
    a, b, c = (tmp_path_factory.mktemp(n) for n in ("a", "b", "c"))
    progress: list[tuple[int, int]] = []
    await build_estate(a, 7, 150, batch_size=40, progress=lambda d, t: progress.append((d, t)))
    await build_estate(b, 7, 150, batch_size=64)
    await build_estate(c, 8, 150)
    return a, b, c, progress


async def test_same_seed_and_size_give_identical_data(estates):
    a, b, c, _ = estates
    assert (a / TRUTH_FILE).read_bytes() == (b / TRUTH_FILE).read_bytes()
    for name in (CRM_FILE, MOBILE_FILE, FIXED_FILE):
        assert dump(a / name) == dump(b / name), name
    assert dump(a / CRM_FILE) != dump(c / CRM_FILE)


async def test_progress_is_reported(estates):
    *_, progress = estates
    assert progress[-1] == (150, 150)
    assert len(progress) == 4


async def test_ground_truth_matches_the_stores(estates):
    a, *_ = estates
    index = key_index(a / TRUTH_FILE)
    with sqlite3.connect(a / CRM_FILE) as db:
        crm = {r[0] for r in db.execute('SELECT "CUST_NO" FROM "CUST_MAST"')}
    with sqlite3.connect(a / MOBILE_FILE) as db:
        mobile = {r[0] for r in db.execute("SELECT subscriber_id FROM subscriber")}
    with sqlite3.connect(a / FIXED_FILE) as db:
        fixed = {r[0] for r in db.execute("SELECT customer_id FROM fx_customer")}
    assert {k for s, k in index if s == "crm"} == crm
    assert {k for s, k in index if s == "mobile"} == mobile
    assert {k for s, k in index if s == "fixed"} == fixed
    lines = list(iter_truth(a / TRUTH_FILE))
    assert [line.person_id for line in lines] == [f"P{i:06d}" for i in range(1, 151)]
    assert all(line.records for line in lines)
    summary = summarize(a / TRUTH_FILE)
    manifest = load_manifest(a)
    assert summary.persons == manifest.counts.persons == 150
    assert summary.records_by_system["crm"] == manifest.counts.crm_customers
    assert summary.records_by_system["mobile"] == manifest.counts.mobile_subscribers
    assert summary.records_by_system["fixed"] == manifest.counts.fixed_customers


async def test_crm_rows_are_legacy_shaped(estates):
    a, *_ = estates
    with sqlite3.connect(a / CRM_FILE) as db:
        ts = [r[0] for r in db.execute('SELECT "UPD_TS" FROM "CUST_MAST"')]
        flags = {r[0] for r in db.execute('SELECT DISTINCT "DEL_FLG" FROM "CUST_CNTCT"')}
        types = {r[0] for r in db.execute('SELECT DISTINCT "CNTCT_TYP" FROM "CUST_CNTCT"')}
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert all(t.endswith(".000000") for t in ts), "second precision"
    assert len(set(ts)) < len(ts), "several rows share a timestamp"
    assert flags == {"N"} and types == {"EMAIL", "MOBILE", "PHONE"}
    assert {"IX_CUST_MAST_UPD", "IX_CUST_CNTCT_UPD", "IX_CUST_ADDR_UPD"} <= indexes
