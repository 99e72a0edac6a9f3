"""Per-connector health and progress, for ``overlay connectors status`` and Prometheus.

``lag_s`` is how far the published view may be behind the source: the seconds since the last pass
that reached the end of the source (a snapshot in progress counts from its start).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import BaseModel


class ConnectorState(StrEnum):
    STARTING = "starting"
    SNAPSHOT = "snapshot"
    RUNNING = "running"
    UNHEALTHY = "unhealthy"
    STOPPED = "stopped"


class StreamStatusView(BaseModel):
    name: str
    read: int
    records: int
    dead_letters: int
    records_per_s: float
    estimate: int | None
    caught_up: bool


class ConnectorStatusView(BaseModel):
    """What ``/status`` answers per connector."""

    name: str
    type: str
    source_system: str
    state: ConnectorState
    records: int
    dead_letters: int
    records_per_s: float
    last_success: float | None
    last_error: str | None
    last_error_at: float | None
    lag_s: float | None
    streams: list[StreamStatusView]


class Metrics:
    """The Prometheus series of the connectors process (one registry per process)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ["connector", "stream"]
        self.records = Counter("overlay_connector_records", "Records published", labels,
                               registry=self.registry)
        self.dead_letters = Counter("overlay_connector_dead_letters", "Records sent to the dead-letter "
                                    "topic", labels, registry=self.registry)
        self.up = Gauge("overlay_connector_up", "1 while the source answers, 0 while unhealthy",
                        ["connector"], registry=self.registry)
        self.last_success = Gauge("overlay_connector_last_success_timestamp_seconds",
                                  "End of the last successful pass", ["connector"], registry=self.registry)
        self.lag = Gauge("overlay_connector_lag_seconds", "Seconds since the source was last read to its "
                         "end", ["connector"], registry=self.registry)


@dataclass
class _Rate:
    """Records per second over a sliding window of about ten seconds."""

    window_s: float = 10.0
    _marks: list[tuple[float, int]] = field(default_factory=list)

    def add(self, total: int) -> None:
        now = time.monotonic()
        self._marks.append((now, total))
        while self._marks and now - self._marks[0][0] > self.window_s:
            self._marks.pop(0)

    def value(self) -> float:
        if len(self._marks) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self._marks[0], self._marks[-1]
        return round((n1 - n0) / (t1 - t0), 1) if t1 > t0 else 0.0


@dataclass
class StreamStatus:
    name: str
    read: int = 0
    """Source records read."""
    records: int = 0
    """Canonical events published (a source record may give several, or none)."""
    dead_letters: int = 0
    estimate: int | None = None
    caught_up: bool = False
    rate: _Rate = field(default_factory=_Rate)
    """Source records read per second."""


class ConnectorStatus:
    def __init__(self, name: str, type_name: str, source_system: str, streams: list[str],
                 metrics: Metrics) -> None:
        self.name = name
        self.type_name = type_name
        self.source_system = source_system
        self.state = ConnectorState.STARTING
        self.streams = {s: StreamStatus(s) for s in streams}
        self.last_success: float | None = None
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.started = time.time()
        self._caught_up_at: float | None = None
        self._metrics = metrics
        metrics.up.labels(name).set(1)

    def published(self, stream: str, count: int = 1) -> None:
        self.streams[stream].records += count
        self._metrics.records.labels(self.name, stream).inc(count)

    def read(self, stream: str, count: int = 1) -> None:
        s = self.streams[stream]
        s.read += count
        if s.read % 100 == 0:  # the rate needs no finer grain, and this is the hot path
            s.rate.add(s.read)

    def dead_letter(self, stream: str) -> None:
        self.streams[stream].dead_letters += 1
        self._metrics.dead_letters.labels(self.name, stream).inc()

    def pass_completed(self, stream: str) -> None:
        now = time.time()
        self.streams[stream].caught_up = True
        self.last_success = now
        if all(s.caught_up for s in self.streams.values()):
            self._caught_up_at = now
        if self.state is not ConnectorState.STOPPED:
            self.state = ConnectorState.RUNNING
        self._metrics.up.labels(self.name).set(1)
        self._metrics.last_success.labels(self.name).set(now)

    def failed(self, error: BaseException) -> None:
        self.state = ConnectorState.UNHEALTHY
        self.last_error = f"{type(error).__name__}: {error}"[:500]
        self.last_error_at = time.time()
        self._metrics.up.labels(self.name).set(0)

    def lag_s(self) -> float | None:
        reference = self._caught_up_at or self.started
        lag = round(time.time() - reference, 1)
        self._metrics.lag.labels(self.name).set(lag)
        return lag

    def view(self) -> ConnectorStatusView:
        streams = [
            StreamStatusView(name=s.name, read=s.read, records=s.records, dead_letters=s.dead_letters,
                             records_per_s=s.rate.value(), estimate=s.estimate, caught_up=s.caught_up)
            for s in self.streams.values()
        ]
        return ConnectorStatusView(
            name=self.name, type=self.type_name, source_system=self.source_system, state=self.state,
            records=sum(s.records for s in streams), dead_letters=sum(s.dead_letters for s in streams),
            records_per_s=round(sum(s.records_per_s for s in streams), 1),
            last_success=self.last_success, last_error=self.last_error, last_error_at=self.last_error_at,
            lag_s=self.lag_s(), streams=streams,
        )
