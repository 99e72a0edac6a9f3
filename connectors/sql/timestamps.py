"""Legacy timestamps are naive, in some zone; the cursor and the records carry aware UTC.

The zone is configured per connector (default UTC). A naive local time in a zone with daylight
saving is ambiguous for one hour a year; the overlap window covers the resulting jitter.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, tzinfo
from typing import Any

# IANA names of zones that are UTC at every moment: their naive times just get the UTC zone.
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT", "Universal", "Zulu"})


class NaiveZone:
    """Converts between the database's timestamps and aware UTC."""

    def __init__(self, zone: tzinfo = UTC) -> None:
        self.zone = zone
        self._is_utc = zone is UTC
        # ZoneInfo("UTC") (the configured default) converts like UTC, only slower.
        self._utc_alias = not self._is_utc and getattr(zone, "key", None) in _UTC_NAMES

    def to_utc(self, value: Any) -> datetime:
        """A cursor value read from the database as aware UTC (dates count as midnight)."""
        if (
            type(value) is datetime
            and value.tzinfo is None
            and (self._is_utc or (self._utc_alias and not value.fold))  # (the general way drops fold)
        ):
            return value.replace(tzinfo=UTC)  # the common case, without the general conversion
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if isinstance(value, date) and not isinstance(value, datetime):
            value = datetime.combine(value, time())
        if not isinstance(value, datetime):
            raise TypeError(f"not a timestamp: {value!r}")
        moment: datetime = value if value.tzinfo is not None else value.replace(tzinfo=self.zone)
        return moment.astimezone(UTC)

    def to_db(self, moment: datetime, *, aware_column: bool = False, date_only: bool = False) -> date:
        """An aware moment as a parameter for a column with a zone, without one, or of dates."""
        if aware_column:
            return moment
        local = moment.astimezone(self.zone).replace(tzinfo=None)
        return local.date() if date_only else local

    def record_value(self, value: Any) -> Any:
        """Naive datetimes in a record become aware UTC; everything else is left as read."""
        if isinstance(value, datetime):
            return self.to_utc(value)
        return value
