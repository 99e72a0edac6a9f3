"""Conformance of the files adapter: a drop folder where a legacy export lands customers as CSV
(semicolon separated, German dates) and accounts as JSON arrays, with a mapping of its own."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.conformance import ConformanceCase, ConnectorConformance, Expected
from legacy_sim.people import Person, person
from overlay.events import ChangeEvent, EntityType
from tests.integration.connectors.conformance._support import SEED

PERSONS = 80
PER_FILE = 10  # a checkpoint per file: the resume test's kill lands between files
COLUMNS = ("KUNDEN_NR", "VORNAME", "NACHNAME", "GEBURTSDATUM", "EMAIL", "GEAENDERT_AM")

CONFIG = """\
connectors:
  - name: export-drop
    type: files
    source_system: export
    inbox: {inbox}
    settle_seconds: 0.2
    poll_interval_s: 0.5
    unhealthy_poll_interval_s: 2
    streams:
      - name: customers
        pattern: "kunden_*.csv"
        format: csv
        delimiter: ";"
        outputs:
          - entity: party
            key: KUNDEN_NR
            modified_at: {{from: GEAENDERT_AM, transform: [datetime]}}
            fields:
              kind: {{value: individual}}
              given_name: {{from: VORNAME, transform: [clean_name]}}
              family_name: {{from: NACHNAME, transform: [clean_name]}}
              birth_date: {{from: GEBURTSDATUM, transform: [date]}}
          - entity: contactMedium
            key: {{template: "{{KUNDEN_NR}}/email"}}
            skip_when: {{field: EMAIL, empty: true}}
            modified_at: {{from: GEAENDERT_AM, transform: [datetime]}}
            fields:
              party: {{fields: {{key: KUNDEN_NR, kind: {{value: customer}}}}}}
              medium_type: {{value: email}}
              value: {{from: EMAIL, transform: [email]}}
      - name: accounts
        pattern: "konten_*.json"
        format: json
        outputs:
          - entity: account
            key: accountNo
            fields:
              party: {{fields: {{key: customer, kind: {{value: customer}}}}}}
              account_number: accountNo
              account_type: {{from: type, map: {{RECHNUNG: billing, KUNDE: customer}}}}
              stack: {{value: export}}
"""


def _customer_id(p: Person) -> str:
    return f"EX{p.index + 1:06d}"


def _customer_row(p: Person, *, family_name: str | None = None, birth: str | None = None) -> dict[str, str]:
    return {"KUNDEN_NR": _customer_id(p), "VORNAME": p.given_name, "NACHNAME": family_name or p.family_name,
            "GEBURTSDATUM": birth or p.birth_date.strftime("%d.%m.%Y"), "EMAIL": p.email,
            "GEAENDERT_AM": datetime.now(UTC).strftime("%d.%m.%Y %H:%M:%S")}


class FilesCase(ConformanceCase):
    connector = "export-drop"
    source_system = "export"

    def __init__(self) -> None:
        self.inbox = Path()
        self.persons = [person(SEED, i) for i in range(PERSONS)]
        self._files = 0

    def _drop(self, name: str, text: str) -> None:
        """Write next to the inbox's pattern, then rename: a reader never sees half a file; mtimes
        a second apart keep the files' order (the adapter reads oldest first)."""
        self._files += 1
        tmp = self.inbox / f".{name}.part"
        tmp.write_text(text, encoding="utf-8")
        stamp = time.time() - 3600 + self._files
        os.utime(tmp, (stamp, stamp))
        os.replace(tmp, self.inbox / name)

    def _drop_customers(self, rows: list[dict[str, str]]) -> None:
        out = io.StringIO()
        writer = csv.DictWriter(out, COLUMNS, delimiter=";", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        self._drop(f"kunden_{self._files:04d}.csv", out.getvalue())

    def _drop_accounts(self, records: list[dict[str, Any]]) -> None:
        self._drop(f"konten_{self._files:04d}.json", json.dumps(records, indent=1))

    async def start(self, workdir: Path) -> None:
        self.inbox = workdir / "inbox"
        self.inbox.mkdir()
        for start in range(0, PERSONS, PER_FILE):
            chunk = self.persons[start:start + PER_FILE]
            self._drop_customers([_customer_row(p) for p in chunk])
            self._drop_accounts([{"accountNo": f"EK{p.index + 1:06d}", "customer": _customer_id(p),
                                  "type": "RECHNUNG" if p.index % 4 else "KUNDE"} for p in chunk])

    def config_yaml(self) -> str:
        return CONFIG.format(inbox=json.dumps(str(self.inbox)))

    async def snapshot(self) -> dict[EntityType, set[str]]:
        return {
            EntityType.PARTY: {_customer_id(p) for p in self.persons},
            EntityType.CONTACT_MEDIUM: {f"{_customer_id(p)}/email" for p in self.persons if p.email},
            EntityType.ACCOUNT: {f"EK{p.index + 1:06d}" for p in self.persons},
        }

    async def change(self, base_url: str) -> Expected:
        p = self.persons[3]
        name = "Neumann" if p.family_name != "Neumann" else "Neubauer"
        self._drop_customers([_customer_row(p, family_name=name)])

        def renamed(event: ChangeEvent[Any]) -> bool:
            return event.payload is not None and event.payload.family_name == name

        return Expected(EntityType.PARTY, _customer_id(p), renamed)

    async def bad_record(self, base_url: str) -> str:
        # The 31st of February: the demo's `date` transform rejects it, the other rows of the file pass.
        self._drop_customers([_customer_row(self.persons[6]),
                              _customer_row(self.persons[5], birth="31.02.1970")])
        return "customers"


class TestFilesDrop(ConnectorConformance):
    @pytest.fixture
    def case(self) -> FilesCase:
        return FilesCase()
