"""HttpFetcher: retries, Retry-After, retry budget, auth kinds, error messages (httpx.MockTransport)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from connectors.sources.base import SourceUnavailable
from connectors.sources.http import (
    HttpFetcher,
    HttpSettings,
    HttpSourceError,
    TokenBucket,
    parse_retry_after,
    safe_url,
)

Handler = Callable[[httpx.Request], httpx.Response]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def fetcher(handler: Handler, clock: Clock | None = None, **settings: object) -> HttpFetcher:
    clock = clock or Clock()
    config = HttpSettings.model_validate({"base_url": "http://legacy.test", **settings})
    return HttpFetcher(config, transport=httpx.MockTransport(handler), sleep=clock.sleep, clock=clock)


def sequence(*responses: httpx.Response) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    todo = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return todo.pop(0) if len(todo) > 1 else todo[0]

    return handler, seen


async def test_retries_5xx_then_succeeds_with_jittered_backoff() -> None:
    clock = Clock()
    handler, seen = sequence(httpx.Response(502), httpx.Response(500), httpx.Response(200, json=[1]))
    f = fetcher(handler, clock, retry={"initial_backoff_s": 0.5, "max_backoff_s": 4})
    response = await f.get("/x")
    assert response.json() == [1] and len(seen) == 3
    assert len(clock.sleeps) == 2 and all(0 <= s <= 4 for s in clock.sleeps)


async def test_connection_errors_and_timeouts_are_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("connection refused", request=request)
        if calls == 2:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json={})

    assert (await fetcher(handler).get("/x")).status_code == 200 and calls == 3


@pytest.mark.parametrize("header", ["7", "date"])
async def test_retry_after_seconds_or_http_date_is_honoured(header: str) -> None:
    clock = Clock()
    in_8s = format_datetime(datetime.now(UTC) + timedelta(seconds=8), usegmt=True)
    value = header if header != "date" else in_8s
    handler, _ = sequence(httpx.Response(429, headers={"Retry-After": value}), httpx.Response(200, json=[]))
    await fetcher(handler, clock).get("/x")
    assert len(clock.sleeps) == 1
    assert clock.sleeps[0] == 7 if header == "7" else 6 <= clock.sleeps[0] <= 8


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Wed, 01 Jan 2025 00:00:30 GMT", now) == 30
    assert parse_retry_after("Tue, 31 Dec 2024 00:00:00 GMT", now) == 0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


async def test_exhausted_retries_raise_source_unavailable_without_credentials() -> None:
    handler, seen = sequence(httpx.Response(503))
    f = fetcher(handler, retry={"attempts": 3, "initial_backoff_s": 0.01})
    f.client.base_url = httpx.URL("http://user:pw@legacy.test")
    with pytest.raises(SourceUnavailable) as info:
        await f.get("/api/v1/subscribers", params={"page": 2, "api_key": "s3cret"})
    message = str(info.value)
    assert len(seen) == 3
    assert "HTTP 503" in message and "3 attempt" in message and "/api/v1/subscribers" in message
    assert "pw" not in message and "s3cret" not in message and "user" not in message


async def test_retry_budget_is_shared_across_requests() -> None:
    clock = Clock()
    handler, seen = sequence(httpx.Response(500))
    f = fetcher(handler, clock, retry={"attempts": 5, "initial_backoff_s": 0.01, "budget_per_minute": 6})
    for _ in range(2):  # 4 retries each would be 8 > 6
        with pytest.raises(SourceUnavailable):
            await f.get("/x")
    assert len(seen) == 2 + 6
    with pytest.raises(SourceUnavailable, match="retry budget exhausted"):
        await f.get("/x")
    assert len(seen) == 9  # no retry left this minute
    clock.now += 61
    with pytest.raises(SourceUnavailable):
        await f.get("/x")
    assert len(seen) == 9 + 5


@pytest.mark.parametrize(("status", "hint"), [(400, "HTTP 400"), (403, "permission"), (404, "base_url")])
async def test_other_4xx_are_not_retried(status: int, hint: str) -> None:
    handler, seen = sequence(httpx.Response(status, json={"email": "private@example.org"}))
    with pytest.raises(HttpSourceError) as info:
        await fetcher(handler).get("/x")
    assert len(seen) == 1 and hint in str(info.value) and info.value.status == status
    assert "private@" not in str(info.value)


async def test_basic_and_bearer_auth() -> None:
    handler, seen = sequence(httpx.Response(200, json=[]))
    await fetcher(handler, auth={"kind": "basic", "username": "u", "password": "p"}).get("/x")
    await fetcher(handler, auth={"kind": "bearer", "token": "tok"}).get("/x")
    assert seen[0].headers["authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    assert seen[1].headers["authorization"] == "Bearer tok"


async def test_bearer_401_is_a_clear_error() -> None:
    handler, _ = sequence(httpx.Response(401))
    with pytest.raises(HttpSourceError, match="check the credentials"):
        await fetcher(handler, auth={"kind": "bearer", "token": "wrong"}).get("/x")


def oauth_server(valid: set[str], expires_in: int = 300) -> tuple[Handler, list[httpx.Request], list[str]]:
    issued: list[str] = []
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/token":
            token = f"t{len(issued) + 1}"
            issued.append(token)
            valid.add(token)
            return httpx.Response(200, json={"access_token": token, "expires_in": expires_in})
        if request.headers.get("authorization", "").removeprefix("Bearer ") in valid:
            return httpx.Response(200, json={"ok": True})
        return httpx.Response(401)

    return handler, seen, issued


OAUTH = {"kind": "oauth2_client_credentials", "token_url": "http://idp.test/token", "client_id": "c",
         "client_secret": "s", "scope": "read", "refresh_margin_s": 30}


async def test_oauth2_token_is_cached_and_refreshed_before_expiry() -> None:
    clock = Clock()
    handler, seen, issued = oauth_server(set())
    f = fetcher(handler, clock, auth=OAUTH)
    for _ in range(3):
        await f.get("/x")
    assert issued == ["t1"]
    token_request = seen[0]
    assert token_request.headers["authorization"] == "Basic " + base64.b64encode(b"c:s").decode()
    assert b"grant_type=client_credentials" in token_request.content
    assert b"scope=read" in token_request.content
    clock.now += 300 - 29  # inside the refresh margin
    await f.get("/x")
    assert issued == ["t1", "t2"]


async def test_oauth2_refreshes_once_on_401() -> None:
    valid: set[str] = set()
    handler, _, issued = oauth_server(valid)
    f = fetcher(handler, auth=OAUTH)
    await f.get("/x")
    valid.clear()  # the server revoked t1
    assert (await f.get("/x")).status_code == 200
    assert issued == ["t1", "t2"]


async def test_oauth2_second_401_is_not_retried_again() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 60})
        return httpx.Response(401)

    f = fetcher(handler, auth=OAUTH)
    with pytest.raises(HttpSourceError, match="after one token refresh"):
        await f.get("/x")


async def test_oauth2_bad_client_secret_is_clear() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401 if request.url.path == "/token" else 200)

    with pytest.raises(HttpSourceError, match=r"POST http://idp.test/token: HTTP 401"):
        await fetcher(handler, auth=OAUTH).get("/x")


async def test_token_bucket_paces_requests() -> None:
    clock = Clock()
    bucket = TokenBucket(2.0, clock, clock.sleep)
    for _ in range(4):
        await bucket.acquire()
    assert clock.now - 1000.0 == pytest.approx(1.0)  # burst of 2, then 2 more at 2/s


def test_safe_url_masks_credentials() -> None:
    url = safe_url("http://u:p@h/x?page=1&access_token=abc&api_key=k")
    assert url == "http://h/x?page=1&access_token=redacted&api_key=redacted"
