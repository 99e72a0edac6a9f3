"""The SQL adapter's YAML configuration: what is accepted, defaulted and refused."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from connectors.sources.sql import SqlSource, SqlSourceConfig

CRM_YAML = """
name: crm
type: sql
source_system: crm
dsn: postgresql+asyncpg://overlay:s3cret@db.example:5432/crm
timezone: Europe/Berlin
streams:
  - name: customers
    table: CUST_MAST
    key: CUST_NO
    cursor: UPD_TS
    soft_delete: {column: DEL_FLG, deleted_values: ["Y"]}
    outputs: [{entity: party, key: CUST_NO}]
  - name: contacts
    table: CUST_CNTCT
    schema: legacy
    key: [CUST_NO, CNTCT_ID]
    cursor: UPD_TS
    columns: [CNTCT_TYP, CNTCT_VAL]
    where: "CNTCT_TYP <> 'FAX'"
    overlap_seconds: 30
    page_size: 200
    outputs: [{entity: contactMedium, key: CNTCT_ID}]
"""


def load(**changes: Any) -> SqlSourceConfig:
    raw = yaml.safe_load(CRM_YAML)
    raw.update(changes)
    return SqlSourceConfig.model_validate(raw)


def test_yaml_config_with_defaults() -> None:
    config = load()
    customers, contacts = config.streams
    assert customers.key == ["CUST_NO"] and customers.overlap_seconds == 10 and customers.columns is None
    assert customers.soft_delete is not None and customers.soft_delete.deleted_values == ["Y"]
    assert contacts.key == ["CUST_NO", "CNTCT_ID"] and contacts.schema_ == "legacy"
    assert config.page_size == 1000 and config.retries >= 1


def test_the_password_never_shows() -> None:
    config = load()
    assert "s3cret" not in repr(config) and "s3cret" not in str(config.model_dump())
    assert SqlSource(config).masked_dsn == "postgresql+asyncpg://overlay:***@db.example:5432/crm"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dsn": "postgresql://u:p@h/db"}, "async driver"),
        ({"dsn": "not a url"}, "not a SQLAlchemy URL"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"page_size": 0}, "greater than or equal"),
    ],
)
def test_bad_connector_settings_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        load(**changes)


def test_bad_stream_settings_are_refused() -> None:
    raw = yaml.safe_load(CRM_YAML)
    raw["streams"][1]["name"] = "customers"
    with pytest.raises(ValidationError, match="unique"):
        SqlSourceConfig.model_validate(raw)
    raw = yaml.safe_load(CRM_YAML)
    raw["streams"][0]["cursorr"] = "UPD_TS"
    with pytest.raises(ValidationError, match="cursorr"):
        SqlSourceConfig.model_validate(raw)
    raw = yaml.safe_load(CRM_YAML)
    raw["streams"][0]["key"] = []
    with pytest.raises(ValidationError, match="key"):
        SqlSourceConfig.model_validate(raw)
    raw = yaml.safe_load(CRM_YAML)
    raw["streams"][0]["soft_delete"] = {"column": "DEL_FLG", "deleted_values": []}
    with pytest.raises(ValidationError, match="deleted_values"):
        SqlSourceConfig.model_validate(raw)
