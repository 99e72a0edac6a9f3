"""Which connectors a deployment runs, built from settings and the estate's endpoints file."""

from __future__ import annotations

import json
import os

from connectors.builtin.crm_sql import CrmSqlConfig, CrmSqlConnector
from connectors.protocol import Connector
from overlay.settings import Settings


class ConfigurationError(Exception):
    """The connector configuration is missing or wrong; the message names what and where."""


def crm_dsn(settings: Settings) -> str:
    explicit = os.environ.get("OVERLAY_CRM_DSN")
    if explicit:
        return explicit
    endpoints = settings.sim_dir / "endpoints.json"
    if endpoints.exists():
        dsn = json.loads(endpoints.read_text()).get("crm_dsn")
        if dsn:
            return str(dsn)
    crm_file = settings.sim_dir / "crm.sqlite"
    if crm_file.exists():
        return f"sqlite+aiosqlite:///{crm_file.resolve()}"
    raise ConfigurationError(
        f"no CRM database: set OVERLAY_CRM_DSN, or build the estate into {settings.sim_dir} "
        "(overlay sim build)"
    )


def configured_connectors(settings: Settings, *, once: bool = False) -> list[Connector]:
    return [CrmSqlConnector(CrmSqlConfig(dsn=crm_dsn(settings), once=once))]
