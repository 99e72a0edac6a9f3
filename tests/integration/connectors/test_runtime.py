"""The connector runtime against the real broker: hard-delete reconciliation, an unhealthy source
next to a healthy one, and the status and metrics endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import sqlalchemy as sa

from connectors.config import load_config
from connectors.conformance.watch import TopicWatch
from connectors.registry import source_types
from connectors.runtime.host import ConnectorHost
from legacy_sim.crm_db import CrmStore
from legacy_sim.people import person
from overlay.events import EntityType, Operation
from overlay.infra.ports import free_port, wait_for_port
from overlay.settings import Settings

CONFIG = """
connectors:
  - name: crm
    type: sql
    source_system: crm
    dsn: {dsn}
    poll_interval_s: 0.2
    streams:
      - name: customers
        table: CUST_MAST
        key: CUST_NO
        cursor: UPD_TS
        reconcile_every_s: 0.5
        outputs:
          - entity: party
            key: CUST_NO
            fields:
              family_name: {{from: LAST_NM, transform: [clean_name]}}
  - name: dead
    type: rest
    source_system: dead
    base_url: http://127.0.0.1:{dead_port}
    unhealthy_poll_interval_s: 0.5
    retry: {{attempts: 1, initial_backoff_s: 0.05, max_backoff_s: 0.1}}
    streams:
      - name: things
        path: /things
        key: id
        outputs:
          - entity: party
            key: id
            fields:
              family_name: name
"""


@contextlib.asynccontextmanager
async def running(config: Path, settings: Settings) -> AsyncIterator[tuple[ConnectorHost, str]]:
    host = ConnectorHost(load_config(config, source_types()), settings)
    task = asyncio.create_task(host.run())
    try:
        await wait_for_port(settings.connectors_host, settings.connectors_port, 30)
        yield host, f"http://{settings.connectors_host}:{settings.connectors_port}"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_reconciliation_and_an_unhealthy_neighbour(settings: Settings, tmp_path: Path) -> None:
    dsn = f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite'}"
    crm = CrmStore(dsn)
    await crm.create_schema()
    await crm.load(person(5, i) for i in range(20))
    config = tmp_path / "connectors.yaml"
    config.write_text(CONFIG.format(dsn=dsn, dead_port=free_port()))
    s = settings.model_copy(update={"connectors_port": free_port()})
    live = await crm.count(include_deleted=True)
    try:
        async with TopicWatch(s) as watch, running(config, s) as (_, url):
            await watch.until(lambda: len(watch.keys("crm").get(EntityType.PARTY, ())) == live, 30,
                              "the snapshot")
            # A row deleted for good, with no soft-delete flag: only reconciliation can notice.
            victim = person(5, 3).crm_key
            async with crm.engine.begin() as conn:
                await conn.execute(sa.text('DELETE FROM "CUST_MAST" WHERE "CUST_NO" = :k'), {"k": victim})

            def deleted() -> bool:
                events = watch.events.get((EntityType.PARTY, "crm", victim), [])
                return bool(events) and events[-1].operation is Operation.DELETE

            await watch.until(deleted, 30, "the reconciliation's delete")
            others = [k for k in watch.keys("crm")[EntityType.PARTY] if k != victim]
            assert all(watch.events[(EntityType.PARTY, "crm", k)][-1].operation is Operation.UPSERT
                       for k in others)

            # The dead source is unhealthy and retried, the CRM kept going; status and metrics say so.
            async with httpx.AsyncClient(base_url=url) as client:
                status = {c["name"]: c for c in (await client.get("/status")).json()}
                metrics = (await client.get("/metrics")).text
            assert status["dead"]["state"] == "unhealthy"
            assert "failed after" in status["dead"]["last_error"] or status["dead"]["last_error"]
            assert status["crm"]["state"] == "running" and status["crm"]["records"] >= live
            assert status["crm"]["lag_s"] is not None and status["crm"]["last_success"]
            assert 'overlay_connector_up{connector="dead"} 0.0' in metrics
            assert 'overlay_connector_up{connector="crm"} 1.0' in metrics
            assert 'overlay_connector_records_total{connector="crm",stream="customers"}' in metrics

            # `overlay connectors status` shows the same to an operator.
            code, output = await overlay_cli("connectors", "status", "--url", url)
            assert code == 0, output
            assert "crm" in output and "running" in output and "unhealthy" in output
    finally:
        await crm.dispose()


async def test_config_error_names_file_field_and_expectation(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(json.dumps({"connectors": [{
        "name": "crm", "type": "sql", "source_system": "crm", "dsn": "sqlite+aiosqlite:///x.db",
        "streams": [{"name": "c", "table": "T", "key": "K", "cursor": "U",
                     "outputs": [{"entity": "party", "key": "K", "fields": {"familyname": "X"}}]}]}]}))
    code, output = await overlay_cli("connectors", "list", "--config", str(config))
    assert code == 2
    assert "bad.yaml" in output and "familyname" in output and "family_name" in output


async def overlay_cli(*args: str) -> tuple[int, str]:
    """Run an ``overlay`` command as an operator would, with a wide terminal."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "overlay", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"},
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()
