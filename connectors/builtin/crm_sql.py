"""The CRM connector: customers from the relational CRM (``CUST_MAST``) as canonical parties.

The first connector of the estate and the walking skeleton's source. The generic, YAML-configured
SQL adapter will take its mapping over; the incremental mechanics already live in
:mod:`connectors.sql`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from connectors.protocol import (
    CheckResult,
    Connector,
    DeadLetterMessage,
    Message,
    RecordMessage,
    StateMessage,
    StreamInfo,
)
from connectors.sql.cursor import SqlCursor
from connectors.sql.stream import SqlStreamConfig, SqlStreamReader, as_utc
from overlay import normalize
from overlay.events import ChangeEvent, EntityType, Operation, version_from_datetime
from overlay.models import Party, PartyKind

CUSTOMERS = SqlStreamConfig(
    name="customers",
    table="CUST_MAST",
    key_column="CUST_NO",
    cursor_column="UPD_TS",
    columns=[
        "CUST_NO", "SALUTATION", "FIRST_NM", "LAST_NM", "BIRTH_DT", "NATL_ID",
        "CUST_TYPE", "CUST_STATUS", "DEL_FLG", "UPD_TS",
    ],
)

_STATUS = {"A": "active", "I": "inactive"}
_SEGMENT = {"P": "residential", "B": "business"}


class CrmSqlConfig(BaseModel):
    name: str = "crm"
    source_system: str = Field("crm", pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    dsn: str = Field(description="SQLAlchemy async URL, e.g. sqlite+aiosqlite:///var/sim/crm.sqlite")
    poll_interval_s: float = Field(1.0, gt=0)
    page_size: int = Field(1000, ge=1)
    overlap_seconds: float = Field(10.0, ge=0)
    once: bool = Field(False, description="Stop after one pass (snapshot or catch-up) instead of polling.")


def party_from_row(row: Mapping[str, Any]) -> Party:
    birth = row.get("BIRTH_DT")
    if isinstance(birth, str):
        birth = date.fromisoformat(birth[:10])
    elif isinstance(birth, datetime):
        birth = birth.date()
    business = row.get("CUST_TYPE") == "B"
    given = normalize.clean_name(row.get("FIRST_NM"))
    family = normalize.clean_name(row.get("LAST_NM"))
    return Party(
        kind=PartyKind.ORGANIZATION if business and not given else PartyKind.INDIVIDUAL,
        title=normalize.clean_name(row.get("SALUTATION")),
        given_name=given,
        family_name=family,
        organization_name=family if business and not given else None,
        birth_date=birth,
        national_id=(row.get("NATL_ID") or None),
        status=_STATUS.get(str(row.get("CUST_STATUS")), "unknown"),
        segment=_SEGMENT.get(str(row.get("CUST_TYPE"))),
    )


class CrmSqlConnector(Connector):
    config: CrmSqlConfig

    def __init__(self, config: CrmSqlConfig, engine: AsyncEngine | None = None) -> None:
        self.config = config
        self.name = config.name
        self._engine = engine or create_async_engine(config.dsn, pool_pre_ping=True)
        stream_config = CUSTOMERS.model_copy(
            update={"page_size": config.page_size, "overlap_seconds": config.overlap_seconds}
        )
        self._customers = SqlStreamReader(self._engine, stream_config)

    @classmethod
    def spec(cls) -> type[BaseModel]:
        return CrmSqlConfig

    async def check(self) -> CheckResult:
        try:
            async with self._engine.connect() as conn:
                count = (await conn.execute(sa.text("SELECT COUNT(*) FROM CUST_MAST"))).scalar_one()
        except Exception as exc:
            return CheckResult(False, f"cannot read CUST_MAST: {type(exc).__name__}: {exc}")
        return CheckResult(True, "CUST_MAST readable", {"rows": count})

    async def discover(self) -> list[StreamInfo]:
        return [StreamInfo("customers", EntityType.PARTY, ("UPD_TS", "CUST_NO"), "CRM customer master")]

    async def read(self, state: Mapping[str, Mapping[str, Any]]) -> AsyncIterator[Message]:
        cursor = SqlCursor.model_validate(state.get("customers", {}))
        while True:
            async for page in self._customers.poll(cursor):
                for row in page:
                    yield self._to_message(row)
                yield StateMessage("customers", cursor.model_dump(mode="json"))
            if self.config.once:
                return
            await asyncio.sleep(self.config.poll_interval_s)

    def _to_message(self, row: Mapping[str, Any]) -> Message:
        key = str(row["CUST_NO"])
        modified = as_utc(row["UPD_TS"])
        try:
            deleted = row.get("DEL_FLG") == "Y"
            event: ChangeEvent[Party] = ChangeEvent[Party](
                source_system=self.config.source_system,
                entity_type=EntityType.PARTY,
                source_key=key,
                operation=Operation.DELETE if deleted else Operation.UPSERT,
                version=version_from_datetime(modified),
                modified_at=modified,
                payload=None if deleted else party_from_row(row),
            )
        except (ValidationError, ValueError) as exc:
            return DeadLetterMessage(
                "customers", str(exc), {"UPD_TS": modified.isoformat(), "CUST_NO": key},
                {k: str(v) for k, v in row.items()},
            )
        return RecordMessage(event)

    async def close(self) -> None:
        await self._engine.dispose()
