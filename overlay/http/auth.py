"""The one auth seam every endpoint goes through.

Channels will get their own credentials, scopes and personal-data masking. Until then the policy
admits every caller as the anonymous channel with every scope, but endpoints already declare the
scope they need (``Depends(require("customer:read"))``) and pass what they return through
:func:`mask`, so tightening the policy later changes this module only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from pydantic import BaseModel, Field


class Principal(BaseModel):
    """Who is calling: a channel (web, app, shop, care, partner …) and what it may do."""

    channel: str = "anonymous"
    scopes: frozenset[str] = Field(default_factory=lambda: frozenset({"*"}))
    sees_personal_data: bool = True

    def allows(self, scope: str) -> bool:
        return "*" in self.scopes or scope in self.scopes


async def _allow_all(request: Request) -> Principal:
    channel = request.headers.get("X-Channel", "anonymous")
    return Principal(channel=channel)


Authenticator = Callable[[Request], Awaitable[Principal]]
_authenticator: Authenticator = _allow_all


def set_authenticator(authenticator: Authenticator) -> None:
    """Install a real policy (API keys, OAuth2 client credentials …)."""
    global _authenticator
    _authenticator = authenticator


class Forbidden(Exception):
    def __init__(self, scope: str, channel: str) -> None:
        super().__init__(f"channel '{channel}' lacks scope '{scope}'")
        self.scope = scope
        self.channel = channel


def require(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency: authenticate the caller and check ``scope``."""

    async def dependency(request: Request) -> Principal:
        principal = await _authenticator(request)
        if not principal.allows(scope):
            raise Forbidden(scope, principal.channel)
        return principal

    return dependency


# Response attributes holding personal data, wherever they appear: party data, contact and address
# data, and identifiers that point at one person (numbers, SIMs).
_PERSONAL_FIELDS = frozenset({
    "birthDate", "nationalId", "contactMedium", "emailAddress", "phoneNumber", "email", "phone",
    "address", "addresses", "serviceAddress", "street", "houseNumber", "identifiers", "msisdn", "iccid",
    "imsi",
})


def mask(principal: Principal, body: Any) -> Any:
    """Remove personal data from a response body for principals not cleared to see it."""
    if principal.sees_personal_data:
        return body
    if isinstance(body, dict):
        return {k: ("***" if k in _PERSONAL_FIELDS else mask(principal, v)) for k, v in body.items()}
    if isinstance(body, list):
        return [mask(principal, item) for item in body]
    return body
