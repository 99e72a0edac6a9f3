"""Conformance of the webhook adapter: a web shop pushing its customers as signed JSON to the
connectors process (``POST /webhooks/{connector}/{stream}``), retrying until it answers 202."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.conformance import ConformanceCase, ConnectorConformance, Expected
from legacy_sim.people import Person, person
from overlay.events import ChangeEvent, EntityType
from tests.integration.connectors.conformance._support import SEED, push_until_accepted

PERSONS = 80
PER_REQUEST = 8  # one checkpoint per request: the resume test's kill lands between requests
SECRET = "conformance-shop-secret"

CONFIG = f"""\
connectors:
  - name: shop-webhook
    type: webhook
    source_system: webshop
    verification: {{kind: hmac_sha256, secret: {SECRET}}}
    commit_timeout_s: 10
    streams:
      - name: customers
        outputs:
          - entity: party
            key: customerId
            modified_at: {{from: updatedAt, transform: [datetime]}}
            fields:
              kind: {{value: individual}}
              given_name: {{from: firstName, transform: [clean_name]}}
              family_name: {{from: lastName, transform: [clean_name]}}
              birth_date: {{from: birthDate, transform: [date]}}
              email: {{from: email, transform: [email], on_error: "null"}}
          - entity: contactMedium
            key: {{template: "{{customerId}}/email"}}
            skip_when: {{field: email, empty: true}}
            modified_at: {{from: updatedAt, transform: [datetime]}}
            fields:
              party: {{fields: {{key: customerId, kind: {{value: customer}}}}}}
              medium_type: {{value: email}}
              value: {{from: email, transform: [email]}}
"""


def _customer(p: Person, **changes: Any) -> dict[str, Any]:
    return {"customerId": f"WS-{p.index + 1:06d}", "firstName": p.given_name, "lastName": p.family_name,
            "birthDate": p.birth_date.isoformat(), "email": p.email,
            "updatedAt": datetime.now(UTC).isoformat(timespec="milliseconds"), **changes}


class WebhookCase(ConformanceCase):
    connector = "shop-webhook"
    source_system = "webshop"

    def __init__(self) -> None:
        self.persons = [person(SEED, i) for i in range(PERSONS)]

    async def start(self, workdir: Path) -> None:
        pass  # the data is pushed; nothing to prepare

    def config_yaml(self) -> str:
        return CONFIG

    async def _push(self, base_url: str, records: list[dict[str, Any]]) -> None:
        body = json.dumps(records).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        url = f"{base_url}/webhooks/{self.connector}/customers"
        async with httpx.AsyncClient(timeout=15) as client:
            await push_until_accepted(client, url, body, {"X-Signature-256": signature})

    async def push(self, base_url: str) -> None:
        for start in range(0, PERSONS, PER_REQUEST):
            await self._push(base_url, [_customer(p) for p in self.persons[start:start + PER_REQUEST]])

    async def snapshot(self) -> dict[EntityType, set[str]]:
        return {
            EntityType.PARTY: {f"WS-{p.index + 1:06d}" for p in self.persons},
            EntityType.CONTACT_MEDIUM: {f"WS-{p.index + 1:06d}/email" for p in self.persons if p.email},
        }

    async def change(self, base_url: str) -> Expected:
        p = self.persons[3]
        name = "Neumann" if p.family_name != "Neumann" else "Neubauer"
        await self._push(base_url, [_customer(p, lastName=name)])

        def renamed(event: ChangeEvent[Any]) -> bool:
            return event.payload is not None and event.payload.family_name == name

        return Expected(EntityType.PARTY, f"WS-{p.index + 1:06d}", renamed)

    async def bad_record(self, base_url: str) -> str:
        # The 31st of February cannot be a birth date; the request is still accepted (202).
        await self._push(base_url, [_customer(self.persons[5], birthDate="1970-02-31")])
        return "customers"


class TestWebhookPush(ConnectorConformance):
    @pytest.fixture
    def case(self) -> WebhookCase:
        return WebhookCase()
