"""The webhook source: validation, verification, backpressure and answering only after commit."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from connectors.sources.base import Checkpoint, SourceRecord
from connectors.sources.webhook import WebhookSource, WebhookSourceConfig

OUT = [{"entity": "party", "key": "id"}]


def webhook(**config: Any) -> WebhookSource:
    return WebhookSource(WebhookSourceConfig.model_validate({
        "name": "crm-hooks", "type": "webhook", "source_system": "crm",
        "streams": [{"name": "customers", "outputs": OUT}, {"name": "orders", "outputs": OUT}], **config,
    }))


async def client_for(source: WebhookSource) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(source.router(), prefix="/webhooks/crm-hooks")
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://overlay.test")


class Runtime:
    """Plays the connector runtime: reads, 'publishes', then commits each checkpoint."""

    def __init__(self, source: WebhookSource, stream: str = "customers", commit: bool = True) -> None:
        self.records: list[dict[str, Any]] = []
        self.checkpoints: list[Checkpoint] = []
        self.commit = commit
        self.task = asyncio.create_task(self._run(source, stream))

    async def _run(self, source: WebhookSource, stream: str) -> None:
        async for item in source.read(source.config.streams[0].model_copy(update={"name": stream}), {}):
            if isinstance(item, SourceRecord):
                self.records.append(dict(item.data))
            else:
                self.checkpoints.append(item)
                if self.commit and item.on_commit:
                    await item.on_commit()

    async def stop(self) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


@pytest.fixture
async def running() -> AsyncIterator[tuple[WebhookSource, httpx.AsyncClient, Runtime]]:
    source = webhook()
    runtime = Runtime(source)
    async with await client_for(source) as client:
        yield source, client, runtime
    await runtime.stop()


async def test_object_and_array_are_accepted_after_commit(running: Any) -> None:
    _, client, runtime = running
    r1 = await client.post("/webhooks/crm-hooks/customers", json={"id": "C1"})
    r2 = await client.post("/webhooks/crm-hooks/customers", json=[{"id": "C2"}, {"id": "C3"}])
    assert (r1.status_code, r1.json()) == (202, {"accepted": 1})
    assert (r2.status_code, r2.json()) == (202, {"accepted": 2})
    assert [r["id"] for r in runtime.records] == ["C1", "C2", "C3"]
    assert [c.state for c in runtime.checkpoints] == [{"received": 1}, {"received": 3}]


@pytest.mark.parametrize(("body", "message"), [
    (b"{nope", "not valid JSON"), (b"42", "not int"), (b'[{"a":1}, 3]', "element 1"), (b"", "empty body"),
])
async def test_bad_bodies_are_400_with_a_clear_error(running: Any, body: bytes, message: str) -> None:
    _, client, runtime = running
    r = await client.post("/webhooks/crm-hooks/customers", content=body)
    assert r.status_code == 400 and message in r.json()["error"]
    assert runtime.records == []


async def test_unknown_stream_is_404(running: Any) -> None:
    _, client, _ = running
    r = await client.post("/webhooks/crm-hooks/nope", json={})
    assert r.status_code == 404 and "nope" in r.json()["error"]


async def test_no_commit_in_time_is_503() -> None:
    source = webhook(commit_timeout_s=0.2)
    runtime = Runtime(source, commit=False)
    async with await client_for(source) as client:
        r = await client.post("/webhooks/crm-hooks/customers", json={"id": "C1"})
    await runtime.stop()
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    assert runtime.records == [{"id": "C1"}]


async def test_full_queue_is_503_backpressure_and_abandoned_requests_are_skipped() -> None:
    source = webhook(queue_size=1, commit_timeout_s=0.2, retry_after_s=3)
    async with await client_for(source) as client:
        first = asyncio.create_task(client.post("/webhooks/crm-hooks/customers", json={"id": "C1"}))
        await eventually(lambda: source.pending("customers") == 1)
        second = await client.post("/webhooks/crm-hooks/customers", json={"id": "C2"})
        assert second.status_code == 503 and second.headers["Retry-After"] == "3"
        assert (await first).status_code == 503  # nobody read it in time
        runtime = Runtime(source)
        await eventually(lambda: source.pending("customers") == 0)  # the runtime drops the abandoned one
        third = await client.post("/webhooks/crm-hooks/customers", json={"id": "C3"})
        await runtime.stop()
    assert third.status_code == 202
    assert runtime.records == [{"id": "C3"}]  # C1's sender was told to retry: not published


async def eventually(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met within 5 s")


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def test_hmac_signature_verification() -> None:
    source = webhook(verification={"kind": "hmac_sha256", "secret": "k3y", "header": "X-Hub-Signature-256"})
    runtime = Runtime(source)
    body = json.dumps({"id": "C9"}).encode()
    async with await client_for(source) as client:
        url = "/webhooks/crm-hooks/customers"
        missing = await client.post(url, content=body)
        wrong = await client.post(url, content=body, headers={"X-Hub-Signature-256": sign("other", body)})
        signed = {"X-Hub-Signature-256": sign("k3y", body)}
        tampered = await client.post(url, content=body + b" ", headers=signed)
        ok = await client.post(url, content=body, headers={"X-Hub-Signature-256": sign("k3y", body)})
    await runtime.stop()
    assert [r.status_code for r in (missing, wrong, tampered, ok)] == [401, 401, 401, 202]
    assert "k3y" not in wrong.text
    assert runtime.records == [{"id": "C9"}]


async def test_shared_secret_header() -> None:
    source = webhook(verification={"kind": "shared_secret", "secret": "s3cret"})
    runtime = Runtime(source)
    async with await client_for(source) as client:
        url = "/webhooks/crm-hooks/customers"
        bad = await client.post(url, json={}, headers={"X-Webhook-Secret": "x"})
        good = await client.post(url, json={}, headers={"X-Webhook-Secret": "s3cret"})
    await runtime.stop()
    assert (bad.status_code, good.status_code) == (401, 202)


async def test_too_many_records_is_413_and_empty_array_is_accepted(running: Any) -> None:
    source = webhook(max_records=2)
    async with await client_for(source) as client:
        r = await client.post("/webhooks/crm-hooks/customers", json=[{}, {}, {}])
        empty = await client.post("/webhooks/crm-hooks/customers", json=[])
    assert r.status_code == 413 and (empty.status_code, empty.json()) == (202, {"accepted": 0})
