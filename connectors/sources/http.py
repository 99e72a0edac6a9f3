"""HTTP plumbing shared by every HTTP source adapter: config, auth, rate limit, retries.

One :class:`HttpFetcher` per source wraps one ``httpx.AsyncClient``. Transient faults (timeouts,
resets, 5xx, 429) are retried with jittered exponential back-off, honouring ``Retry-After``, and
a per-client retry budget keeps a dead source from being hammered; once retries are exhausted the
fetcher raises :class:`~connectors.sources.base.SourceUnavailable`, which the runtime turns into
"unhealthy, poll slower". Other 4xx are configuration or contract errors and are not retried.
URLs in messages and logs never carry credentials; response bodies are never logged.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    retry_if_exception_type,
    wait_random_exponential,
)

from connectors.sources.base import SourceConfig, SourceUnavailable, TransientSourceError
from overlay.logging import get_logger

log = get_logger(__name__)

_SECRET_PARAMS = ("token", "key", "secret", "password", "signature", "sig", "auth")


# --- configuration ---------------------------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BasicAuthConfig(_Model):
    kind: Literal["basic"]
    username: str
    password: SecretStr


class BearerAuthConfig(_Model):
    kind: Literal["bearer"]
    token: SecretStr


class OAuth2ClientCredentialsConfig(_Model):
    kind: Literal["oauth2_client_credentials"]
    token_url: str
    client_id: str
    client_secret: SecretStr
    scope: str | None = None
    client_auth: Literal["basic", "body"] = Field(
        "basic", description="Send the client credentials as HTTP Basic (RFC 6749 default) or in the form."
    )
    refresh_margin_s: float = Field(30.0, ge=0, description="Fetch a new token this long before expiry.")


AuthConfig = Annotated[
    BasicAuthConfig | BearerAuthConfig | OAuth2ClientCredentialsConfig, Field(discriminator="kind")
]


class RetryConfig(_Model):
    attempts: int = Field(5, ge=1, description="Attempts per request, the first included.")
    initial_backoff_s: float = Field(0.5, gt=0)
    max_backoff_s: float = Field(30.0, gt=0)
    max_retry_after_s: float = Field(120.0, gt=0, description="Longest Retry-After honoured.")
    budget_per_minute: int = Field(60, ge=0, description="Retries per minute across the whole client.")


class HttpSettings(_Model):
    """Connection settings of an HTTP source (flat fields of the connector's YAML)."""

    base_url: str = Field(min_length=1, description="e.g. http://mobile-bss:8080")
    timeout_s: float = Field(30.0, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)
    auth: AuthConfig | None = None
    rate_limit_per_s: float | None = Field(None, gt=0, description="Client-side request rate limit.")
    retry: RetryConfig = Field(default_factory=RetryConfig)


class HttpSourceConfig(SourceConfig, HttpSettings):
    """A source configuration with HTTP connection settings; HTTP adapters subclass it."""


# --- errors ------------------------------------------------------------------------------------------
class HttpSourceError(Exception):
    """A request failed in a way retrying cannot fix (4xx, bad body): configuration or contract."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def safe_url(url: httpx.URL | str) -> str:
    """The URL for messages and logs: no user-info, secret-looking query values masked."""
    url = httpx.URL(url)
    params = [
        (k, "redacted" if any(s in k.lower() for s in _SECRET_PARAMS) else v)
        for k, v in url.params.multi_items()
    ]
    return str(url.copy_with(username=None, password=None, params=params or None))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds (RFC 9110: delta-seconds or an HTTP date), None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def lookup(obj: Any, path: str) -> Any:
    """The value at a dotted path (``a.b.c``, ``/`` also separates); empty path is the object."""
    for part in path.replace("/", ".").split("."):
        if not part:
            continue
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def getter(path: str) -> Callable[[Any], Any]:
    """``lookup`` of one path as a function, the path split once (for per-record use)."""
    parts = tuple(p for p in path.replace("/", ".").split(".") if p)
    if len(parts) == 1:
        (part,) = parts

        def one(obj: Any) -> Any:
            if type(obj) is dict:
                return obj.get(part)
            return obj.get(part) if isinstance(obj, Mapping) else None

        return one
    return lambda obj: lookup(obj, path)


# --- rate limit and auth -------------------------------------------------------------------------------
class TokenBucket:
    """Async token bucket: ``rate`` requests per second with a burst of ``max(1, rate)``."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.rate, self.capacity = rate, max(1.0, rate)
        self._tokens, self._clock, self._sleep = self.capacity, clock, sleep
        self._last = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:  # FIFO among waiters
            while True:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await self._sleep((1.0 - self._tokens) / self.rate)


class _BearerAuth(httpx.Auth):
    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request


@dataclass
class _Token:
    value: str
    refresh_at: float


class OAuth2ClientCredentials(httpx.Auth):
    """OAuth2 client-credentials grant: token cached until shortly before expiry; one refresh on 401.

    The token request goes through ``fetch`` (the owning fetcher's retrying POST, without auth).
    """

    def __init__(
        self, config: OAuth2ClientCredentialsConfig,
        fetch: Callable[..., Awaitable[httpx.Response]], clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config, self._fetch, self._clock = config, fetch, clock
        self._token: _Token | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def token(self, *, stale: str | None = None) -> str:
        """A valid access token; ``stale`` is one the server rejected (refetched unless already new)."""
        async with self._lock:
            tok = self._token
            if tok is not None and tok.value != stale and self._clock() < tok.refresh_at:
                return tok.value
            self._token = await self._request_token()
            return self._token.value

    async def _request_token(self) -> _Token:
        cfg = self.config
        form = {"grant_type": "client_credentials"}
        if cfg.scope:
            form["scope"] = cfg.scope
        auth: httpx.Auth | None = None
        if cfg.client_auth == "basic":
            auth = httpx.BasicAuth(cfg.client_id, cfg.client_secret.get_secret_value())
        else:
            form.update(client_id=cfg.client_id, client_secret=cfg.client_secret.get_secret_value())
        response = await self._fetch("POST", cfg.token_url, data=form, auth=auth)
        self.fetches += 1
        try:
            body = response.json()
            value = str(body["access_token"])
        except (ValueError, KeyError, TypeError) as exc:
            where = safe_url(cfg.token_url)
            raise HttpSourceError(f"token response from {where} has no access_token") from exc
        expires_in = float(body.get("expires_in") or 3600)
        margin = min(cfg.refresh_margin_s, expires_in / 2)
        return _Token(value, self._clock() + expires_in - margin)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {await self.token(stale=token)}"
            yield request

    def sync_auth_flow(self, request: httpx.Request) -> Any:
        raise RuntimeError("OAuth2ClientCredentials works with httpx.AsyncClient only")


# --- the fetcher --------------------------------------------------------------------------------------
class RetryBudget:
    """At most ``per_minute`` retries in any sliding minute, shared by every request of a client."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute, self._clock = per_minute, clock
        self._spent: deque[float] = deque()

    def take(self) -> bool:
        now = self._clock()
        while self._spent and now - self._spent[0] >= 60.0:
            self._spent.popleft()
        if len(self._spent) >= self.per_minute:
            return False
        self._spent.append(now)
        return True


_TRANSIENT_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class _Target:
    """A request's URL as messages and logs show it (:func:`safe_url`), built on first use: a
    request that succeeds at once never needs it, and building it costs as much as the request's own."""

    __slots__ = ("_build", "_text")

    def __init__(self, build: Callable[[], str]) -> None:
        self._build, self._text = build, ""

    def __str__(self) -> str:
        if not self._text:
            self._text = self._build()
        return self._text


class HttpFetcher:
    """GET/POST against one source with auth, client-side rate limit, retries and clear errors."""

    def __init__(
        self,
        settings: HttpSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._limiter = (
            TokenBucket(settings.rate_limit_per_s, clock, sleep) if settings.rate_limit_per_s else None
        )
        self.budget = RetryBudget(settings.retry.budget_per_minute, clock)
        self.client = httpx.AsyncClient(
            base_url=settings.base_url, timeout=settings.timeout_s, headers=settings.headers,
            transport=transport, auth=self._auth(settings.auth, clock),
        )

    def _auth(self, auth: BasicAuthConfig | BearerAuthConfig | OAuth2ClientCredentialsConfig | None,
              clock: Callable[[], float]) -> httpx.Auth | None:
        if isinstance(auth, BasicAuthConfig):
            return httpx.BasicAuth(auth.username, auth.password.get_secret_value())
        if isinstance(auth, BearerAuthConfig):
            return _BearerAuth(auth.token)
        if isinstance(auth, OAuth2ClientCredentialsConfig):
            return OAuth2ClientCredentials(auth, self.request, clock)
        return None

    async def get(self, url: str, *, params: Mapping[str, Any] | None = None,
                  headers: Mapping[str, str] | None = None) -> httpx.Response:
        return await self.request("GET", url, params=params, headers=headers)

    async def post(self, url: str, *, json: Any = None, data: Mapping[str, Any] | None = None,
                   headers: Mapping[str, str] | None = None) -> httpx.Response:
        """POST with retries: only for idempotent requests (searches, token requests)."""
        return await self.request("POST", url, json=json, data=data, headers=headers)

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One logical request: a 2xx/3xx response, or HttpSourceError / SourceUnavailable."""
        retry = self.settings.retry
        params = kwargs.get("params")
        target = _Target(lambda: safe_url(self.client.build_request(method, url, params=params).url))
        backoff = wait_random_exponential(multiplier=retry.initial_backoff_s, max=retry.max_backoff_s)

        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning("http retry", method=method, url=str(target), attempt=state.attempt_number,
                        wait_s=round(state.upcoming_sleep, 2), error=str(error))

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientSourceError), stop=self._stop,
            wait=self._wait(backoff), sleep=self._sleep, before_sleep=before_sleep,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._once(method, url, target, **kwargs)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            budget = " (retry budget exhausted)" if exc.last_attempt.attempt_number < retry.attempts else ""
            raise SourceUnavailable(
                f"{method} {target} failed after {exc.last_attempt.attempt_number} attempt(s){budget}: {last}"
            ) from last
        raise AssertionError("unreachable")  # pragma: no cover

    def _stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self.settings.retry.attempts:
            return True
        return not self.budget.take()

    def _wait(self, backoff: Callable[[RetryCallState], float]) -> Callable[[RetryCallState], float]:
        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, TransientSourceError) and exc.retry_after is not None:
                return min(exc.retry_after, self.settings.retry.max_retry_after_s)
            return backoff(state)

        return wait

    async def _once(self, method: str, url: str, target: _Target, **kwargs: Any) -> httpx.Response:
        if self._limiter is not None:
            await self._limiter.acquire()
        try:
            response = await self.client.request(method, url, **kwargs)
        except _TRANSIENT_TRANSPORT as exc:
            raise TransientSourceError(f"{type(exc).__name__} ({exc or 'no detail'})") from exc
        except httpx.HTTPError as exc:
            raise HttpSourceError(f"{method} {target}: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise TransientSourceError(f"HTTP {status} {response.reason_phrase}", retry_after)
        if status >= 400:
            hint = {401: " (check the credentials)", 403: " (the credentials lack permission)",
                    404: " (check base_url and path)"}.get(status, "")
            oauth = "auth" not in kwargs and isinstance(self.client.auth, OAuth2ClientCredentials)
            if status == 401 and oauth:
                hint = " (after one token refresh)"
            raise HttpSourceError(f"{method} {target}: HTTP {status} {response.reason_phrase}{hint}", status)
        return response

    async def aclose(self) -> None:
        await self.client.aclose()


# Digits as "0", minus signs kept, everything else a space: what _may_lose_integers scans.
_DIGITS = bytes(48 if 48 <= b <= 57 else 45 if b == 45 else 32 for b in range(256))


def _may_lose_integers(content: bytes) -> bool:
    """Might ``content`` hold an integer outside 64 bits, which orjson would turn into a float?
    (Beyond u64 takes 20 digits, below i64 a minus and 19; digits inside strings count too.)"""
    digits = content.translate(_DIGITS)
    return b"00000000000000000000" in digits or b"-0000000000000000000" in digits


def json_body(response: httpx.Response) -> Any:
    """The response's JSON, or an HttpSourceError naming the URL (never the body).

    Parsed by orjson; what orjson refuses or could not represent exactly (integers beyond 64 bits,
    NaN, lone surrogates, UTF-16 bodies…) goes to the standard library, as ``response.json()`` did.
    """
    content = response.content
    if not _may_lose_integers(content):
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(content)
    except ValueError as exc:
        raise HttpSourceError(
            f"{response.request.method} {safe_url(response.request.url)}: response is not JSON "
            f"(content-type {response.headers.get('content-type', 'unknown')})"
        ) from exc
