"""Webhook (push) source: legacy systems POST JSON to ``/{stream}``; 202 means "durably in Kafka".

The runtime mounts :meth:`WebhookSource.router` under ``/webhooks/{connector}``. A request's
records go into its stream's bounded queue; :meth:`WebhookSource.read` yields them followed by a
checkpoint whose ``on_commit`` releases the waiting request, so the sender gets 202 only once the
runtime has the records in Kafka. A full queue answers 503 with ``Retry-After`` (backpressure);
no commit within ``commit_timeout_s`` answers 503 too, and the sender retries (at-least-once:
duplicates are possible, downstream writes are idempotent).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.sources.base import (
    Checkpoint,
    CheckResult,
    Source,
    SourceConfig,
    SourceItem,
    SourceRecord,
    StreamConfig,
    StreamDescription,
)
from overlay.logging import get_logger

log = get_logger(__name__)


class SharedSecretVerification(BaseModel):
    """The sender puts a shared secret in a header."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["shared_secret"]
    header: str = "X-Webhook-Secret"
    secret: SecretStr


class HmacVerification(BaseModel):
    """The sender signs the raw body with HMAC-SHA256 (``sha256=<hex>`` or bare hex/base64)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["hmac_sha256"]
    header: str = "X-Signature-256"
    secret: SecretStr
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = Field("sha256=", description="Stripped from the header value if present.")


Verification = Annotated[SharedSecretVerification | HmacVerification, Field(discriminator="kind")]


class WebhookSourceConfig(SourceConfig):
    type: Literal["webhook"] = "webhook"
    verification: Verification | None = None
    queue_size: int = Field(100, ge=1, description="Requests waiting per stream before 503.")
    max_records: int = Field(1000, ge=1, description="Records per request (413 above).")
    max_body_bytes: int = Field(5_000_000, ge=1)
    commit_timeout_s: float = Field(30.0, gt=0, description="503 if not durable within this time.")
    retry_after_s: int = Field(1, ge=0, description="Retry-After of a 503.")


def _new_future() -> asyncio.Future[None]:
    return asyncio.get_running_loop().create_future()


@dataclass(eq=False)
class _Delivery:
    """One accepted request, waiting for its checkpoint to be committed."""

    id: int
    records: list[dict[str, Any]]
    committed: asyncio.Future[None] = field(default_factory=_new_future)
    abandoned: bool = False

    async def commit(self) -> None:
        if not self.committed.done():
            self.committed.set_result(None)


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status, headers=dict(headers or {}))


class WebhookSource(Source[WebhookSourceConfig]):
    """Receives records pushed over HTTP; ``read`` runs until cancelled."""

    type_name = "webhook"
    config_model = WebhookSourceConfig
    is_push = True

    def __init__(self, config: WebhookSourceConfig) -> None:
        super().__init__(config)
        self._queues: dict[str, asyncio.Queue[_Delivery]] = {
            s.name: asyncio.Queue(config.queue_size) for s in config.streams
        }
        self._ids = itertools.count(1)

    # --- HTTP side ---
    def router(self) -> APIRouter:
        router = APIRouter()

        @router.post("/{stream}", status_code=202)
        async def receive(stream: str, request: Request) -> JSONResponse:
            return await self.receive(stream, request)

        return router

    async def receive(self, stream: str, request: Request) -> JSONResponse:
        queue = self._queues.get(stream)
        if queue is None:
            return _error(404, f"unknown stream {stream!r}")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.config.max_body_bytes:
            return _error(413, f"body larger than {self.config.max_body_bytes} bytes")
        body = await request.body()
        if len(body) > self.config.max_body_bytes:
            return _error(413, f"body larger than {self.config.max_body_bytes} bytes")
        problem = self.verify(body, request.headers)
        if problem:
            log.warning("webhook rejected", stream=stream, reason=problem)
            return _error(401, problem)
        try:
            records = parse_body(body)
        except ValueError as exc:
            return _error(400, str(exc))
        if len(records) > self.config.max_records:
            return _error(413, f"more than {self.config.max_records} records in one request")
        if not records:
            return JSONResponse({"accepted": 0}, 202)
        delivery = _Delivery(next(self._ids), records)
        retry = {"Retry-After": str(self.config.retry_after_s)}
        try:
            queue.put_nowait(delivery)
        except asyncio.QueueFull:
            return _error(503, "too many pending requests, retry later", retry)
        try:
            await asyncio.wait_for(asyncio.shield(delivery.committed), self.config.commit_timeout_s)
        except TimeoutError:
            return _error(503, "records not durably stored in time, retry later", retry)
        finally:
            delivery.abandoned = not delivery.committed.done()
        return JSONResponse({"accepted": len(records)}, 202)

    def verify(self, body: bytes, headers: Mapping[str, str]) -> str | None:
        """None if the request is authentic, else why not (never echoing secrets)."""
        v = self.config.verification
        if v is None:
            return None
        given = headers.get(v.header)
        if not given:
            return f"missing {v.header} header"
        secret = v.secret.get_secret_value().encode()
        if isinstance(v, SharedSecretVerification):
            ok = hmac.compare_digest(given.encode(), secret)
            return None if ok else f"invalid {v.header} header"
        digest = hmac.new(secret, body, hashlib.sha256).digest()
        expected = digest.hex() if v.encoding == "hex" else base64.b64encode(digest).decode()
        value = given.strip().removeprefix(v.prefix) if v.prefix else given.strip()
        return None if hmac.compare_digest(value.encode(), expected.encode()) else "invalid signature"

    # --- Source ---
    async def read(self, stream: StreamConfig, state: Mapping[str, Any]) -> AsyncIterator[SourceItem]:
        queue = self._queues[stream.name]
        received = int(state.get("received", 0))
        while True:
            delivery = await queue.get()
            if delivery.abandoned:  # its sender got 503 already and will retry
                continue
            for index, record in enumerate(delivery.records):
                yield SourceRecord(stream.name, record, {"request": delivery.id, "index": index})
            received += len(delivery.records)
            yield Checkpoint(stream.name, {"received": received}, on_commit=delivery.commit)

    async def check(self) -> CheckResult:
        return CheckResult(True, "push source: receives POST /{stream}",
                           {"streams": [s.name for s in self.config.streams]})

    async def discover(self) -> list[StreamDescription]:
        return [StreamDescription(name=s.name, description=f"POST /{s.name}") for s in self.config.streams]

    def pending(self, stream: str) -> int:
        """Requests queued for ``stream`` and not yet read."""
        return self._queues[stream].qsize()


def parse_body(body: bytes) -> list[dict[str, Any]]:
    """A JSON object or array of objects as a list; ValueError with a clear message otherwise."""
    if not body.strip():
        raise ValueError("empty body: send a JSON object or an array of objects")
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"body is not valid JSON: {exc}") from exc
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        bad = next((i for i, item in enumerate(data) if not isinstance(item, dict)), None)
        if bad is not None:
            raise ValueError(f"element {bad} of the array is not a JSON object")
        return data
    raise ValueError(f"body must be a JSON object or an array of objects, not {type(data).__name__}")
