"""Order back-end: idempotency keys, effect counting, progress, deterministic fault injection."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from legacy_sim.faults import FaultConfig, FaultInjector
from legacy_sim.order_backend import create_order_backend
from legacy_sim.order_book import IdempotencyConflict, OrderBook, OrderRequest


class Clock:
    def __init__(self):
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self):
        return self.now


def req(**kw):
    return OrderRequest.model_validate({"action": "add", "product": "FIB500", "customerRef": "FX1", **kw})


def test_same_key_same_order_one_effect():
    book = OrderBook("fixed")
    first, created = book.submit("k-1", req())
    again, created_again = book.submit("k-1", req())
    assert created and not created_again
    assert first.id == again.id
    assert book.effects == {"k-1": 1}
    other, _ = book.submit("k-2", req())
    assert other.id != first.id
    with pytest.raises(IdempotencyConflict):
        book.submit("k-1", req(product="FIB1000"))


def test_orders_progress_with_time_and_fail_products_fail():
    clock = Clock()
    book = OrderBook("tv", progress_seconds=9, clock=clock)
    ok, _ = book.submit("a", req(product="TVPLUS"))
    bad, _ = book.submit("b", req(product="TV-FAIL-1"))
    assert ok.state == "acknowledged"
    clock.now += timedelta(seconds=4)
    assert book.get(ok.id).state == "inProgress"
    since = clock.now
    clock.now += timedelta(seconds=6)
    assert book.get(ok.id).state == "completed"
    assert book.get(bad.id).state == "failed"
    assert {o.id for o in book.list(since)} == {ok.id, bad.id}
    assert book.list(clock.now + timedelta(seconds=1)) == []


def test_extra_fields_are_kept_and_bad_bodies_rejected():
    order, _ = OrderBook("partner").submit("x", req(partnerPlan="premium"))
    assert order.attributes == {"partnerPlan": "premium"}
    with pytest.raises(ValueError):
        OrderRequest.model_validate({"action": "explode", "product": "X", "customerRef": "C"})


def test_fault_injection_is_deterministic_for_a_seed():
    def run(seed):
        injector = FaultInjector()
        injector.configure(FaultConfig(error_rate=0.3, seed=seed, lost_response_rate=0.5))
        return [injector.decide() for _ in range(200)]

    a, b = run(11), run(11)
    assert a == b
    assert a != run(12)
    failures = [f for f in a if f is not None]
    assert 30 < len(failures) < 90
    assert {f.status for f in failures} == {500, 503}
    assert any(f.after_effect for f in failures) and not all(f.after_effect for f in failures)


def test_outage_window_answers_503_until_it_ends():
    now = [100.0]
    injector = FaultInjector(clock=lambda: now[0])
    injector.configure(FaultConfig(outage_seconds=5))
    fault = injector.decide()
    assert fault is not None and fault.status == 503 and fault.retry_after == 5
    now[0] += 5.5
    assert injector.decide() is None
    injector.configure(FaultConfig(error_rate=1.0))
    assert injector.decide() is not None
    injector.clear()
    assert injector.decide() is None


async def test_http_idempotency_and_lost_response_are_logged():
    app = create_order_backend("mobile", progress_seconds=60)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        body = {"action": "add", "product": "T-M20", "customerRef": "MC00000001"}
        assert (await client.post("/orders", json=body)).status_code == 400
        await client.post("/_admin/faults", json={"error_rate": 1.0, "lost_response_rate": 1.0, "seed": 3})
        lost = await client.post("/orders", json=body, headers={"Idempotency-Key": "abc"})
        assert lost.status_code in (500, 503)
        await client.delete("/_admin/faults")
        retry = await client.post("/orders", json=body, headers={"Idempotency-Key": "abc"})
        assert retry.status_code == 200  # acted before the response was lost: replayed, not repeated
        fresh = await client.post("/orders", json=body, headers={"Idempotency-Key": "def"})
        assert fresh.status_code == 201
        assert (await client.get(f"/orders/{retry.json()['id']}")).json()["state"] == "acknowledged"
        bad = await client.post("/orders", json={"action": "add"}, headers={"Idempotency-Key": "zzz"})
        assert bad.status_code == 422
        effects = (await client.get("/_admin/effects")).json()
        assert effects == {"total": 2, "byKey": {"abc": 1, "def": 1}}
        log = (await client.get("/_admin/requests")).json()["items"]
        assert [e["outcome"] for e in log] == [
            "missing-idempotency-key", "lost-response", "replayed", "created", "ok", "invalid",
        ]
        assert log[1]["idempotencyKey"] == "abc" and log[1]["orderId"] == retry.json()["id"]
