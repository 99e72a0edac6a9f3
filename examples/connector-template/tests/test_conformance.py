"""Overlay's conformance kit run against this package's ``jsonl_http`` source.

:class:`JsonLinesExport` is a tiny HTTP server publishing JSON Lines files the way a legacy
system's web server would (``Range``, ``ETag``, ``Last-Modified``, ``If-None-Match``,
``If-Modified-Since``); :class:`JsonLinesCase` tells the kit how to start it, how the connector is
configured, what a snapshot must contain and how to change the data. The kit itself
(:class:`connectors.conformance.ConnectorConformance`) brings the tests: spec valid, check,
discover, snapshot complete, incremental change, resume after a kill loses nothing, bad record to
the dead-letter topic. It needs a ``settings`` fixture with a real Kafka broker: see conftest.py.

The package must be installed (``pip install -e '.[test]'``): one test runs ``python -m overlay
connectors run`` in a subprocess, which finds ``type: jsonl_http`` through the entry point.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import time
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from connectors.conformance import ConformanceCase, ConnectorConformance, Expected
from fastapi import FastAPI, Request, Response
from overlay.events import EntityType
from overlay.infra.ports import free_port, wait_for_port
from overlay.lifecycle import HostedServer

CUSTOMERS = 120


def customer(n: int, **changes: Any) -> dict[str, Any]:
    """A record as the legacy system exports it: its own field names and code values."""
    row = {
        "id": f"C{n:05d}",
        "first_name": f"anna-{n}",
        "last_name": "SCHMIDT",
        "email": f"Anna.Schmidt{n}@Example.COM" if n % 3 else "",
        "status": "A" if n % 5 else "I",
        "updated_at": f"2024-05-01T12:{n // 60 % 60:02d}:{n % 60:02d}Z",
        "deleted": False,
    }
    return {**row, **changes}


class JsonLinesExport:
    """Serves ``/export/{name}`` from memory; ``append`` adds lines as the legacy system would."""

    def __init__(self) -> None:
        self.files: dict[str, bytearray] = {}
        self.modified: dict[str, float] = {}
        self.requests = 0

    def append(self, name: str, *lines: dict[str, Any] | str) -> None:
        data = self.files.setdefault(name, bytearray())
        for line in lines:
            data += (line if isinstance(line, str) else json.dumps(line)).encode() + b"\n"
        self.modified[name] = time.time()

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.api_route("/export/{name}", methods=["GET", "HEAD"])
        async def export(name: str, request: Request) -> Response:
            self.requests += 1
            if name not in self.files:
                return Response(status_code=404)
            data = bytes(self.files[name])
            modified = self.modified[name]
            headers = {
                "ETag": f'"{len(data)}-{int(modified * 1e6)}"',
                "Last-Modified": email.utils.formatdate(modified, usegmt=True),
                "Accept-Ranges": "bytes",
                "X-Record-Count": str(data.count(b"\n")),
            }
            if request.headers.get("If-None-Match") == headers["ETag"]:
                return Response(status_code=304, headers=headers)
            since = request.headers.get("If-Modified-Since")
            if since and int(modified) <= email.utils.parsedate_to_datetime(since).timestamp():
                return Response(status_code=304, headers=headers)  # second precision, like real servers
            status, body = 200, data
            ranged = request.headers.get("Range", "")
            if ranged.startswith("bytes="):
                first, _, last = ranged.removeprefix("bytes=").partition("-")
                start = int(first)
                if start >= len(data):
                    headers["Content-Range"] = f"bytes */{len(data)}"
                    return Response(status_code=416, headers=headers)
                end = min(int(last), len(data) - 1) if last else len(data) - 1
                status, body = 206, data[start:end + 1]
                headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            if request.method == "HEAD":
                return Response(status_code=status, headers={**headers, "Content-Length": str(len(data))})
            return Response(body, status_code=status, headers=headers, media_type="application/x-ndjson")

        return app


class JsonLinesCase(ConformanceCase):
    """A customer export of ``CUSTOMERS`` lines, read in small chunks (many checkpoints)."""

    connector = "acme-customers"
    source_system = "acme-crm"

    def __init__(self) -> None:
        self.export = JsonLinesExport()
        self.base_url = ""
        self._server: HostedServer | None = None
        self._serving: asyncio.Task[None] | None = None

    async def start(self, workdir: Path) -> None:
        self.export.append("customers.jsonl", *(customer(n) for n in range(1, CUSTOMERS + 1)))
        port = free_port()
        self._server = HostedServer(uvicorn.Config(self.export.app(), host="127.0.0.1", port=port,
                                                   log_config=None, access_log=False))
        self._serving = asyncio.create_task(self._server.serve())
        await wait_for_port("127.0.0.1", port, 10)
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._serving

    def config_yaml(self) -> str:
        return f"""
connectors:
  - name: {self.connector}
    type: jsonl_http
    source_system: {self.source_system}
    base_url: {self.base_url}
    poll_interval_s: 0.2
    retry: {{attempts: 3, initial_backoff_s: 0.1, max_backoff_s: 0.5}}
    streams:
      - name: customers
        path: /export/customers.jsonl
        chunk_bytes: 2048
        outputs:
          - entity: party
            key: id
            modified_at: {{from: updated_at, transform: [datetime]}}
            delete_when: {{field: deleted, equals: true}}
            fields:
              given_name: {{from: first_name, transform: [clean_name]}}
              family_name: {{from: last_name, transform: [clean_name]}}
              email: {{from: email, transform: [email], on_error: "null"}}
              status: {{from: status, map: {{A: active, I: inactive}}}}
          - entity: contactMedium
            key: {{template: "{{id}}/email"}}
            skip_when: {{field: email, empty: true}}
            modified_at: {{from: updated_at, transform: [datetime]}}
            fields:
              party: {{fields: {{key: id, kind: {{value: customer}}}}}}
              medium_type: {{value: email}}
              value: {{from: email, transform: [email]}}
"""

    async def snapshot(self) -> dict[EntityType, set[str]]:
        ids = {n: customer(n) for n in range(1, CUSTOMERS + 1)}
        return {
            EntityType.PARTY: {row["id"] for row in ids.values()},
            EntityType.CONTACT_MEDIUM: {f"{row['id']}/email" for row in ids.values() if row["email"]},
        }

    async def change(self, base_url: str) -> Expected:
        self.export.append("customers.jsonl",
                           customer(7, last_name="MÜLLER-LÜDENSCHEIDT", updated_at="2024-06-01T08:00:00Z"))
        return Expected(EntityType.PARTY, "C00007", check=lambda e: (
            e.payload is not None and e.payload.family_name == "Müller-Lüdenscheidt"))

    async def bad_record(self, base_url: str) -> str:
        self.export.append("customers.jsonl", customer(9, status="X"))  # no mapping for status X
        return "customers"


class TestJsonLinesConformance(ConnectorConformance):
    @pytest.fixture
    def case(self) -> ConformanceCase:
        return JsonLinesCase()
