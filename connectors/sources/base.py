"""The contract between a source adapter and the connector runtime.

An adapter reads **raw records** (plain dicts, as the legacy system gave them) of the streams it
is configured with, and interleaves **checkpoints**: a checkpoint's ``state`` is the position from
which reading resumes, and the runtime commits it only after Kafka acknowledged every record the
adapter yielded before it. Mapping raw records to canonical events is the runtime's job, driven by
each stream's ``outputs`` (see :mod:`connectors.mapping`).

``read`` makes **one pass**: from ``state`` to whatever the source has now, then it returns. The
runtime calls it again after the poll interval (or a longer one while the source is unhealthy).
Push adapters (webhooks) instead keep yielding until cancelled.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from connectors.mapping.spec import OutputSpec


class StreamConfig(BaseModel):
    """One stream of a source: what to read (adapter-specific fields) and what it becomes."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    outputs: list[OutputSpec] = Field(
        min_length=1, description="The canonical entities each raw record of this stream becomes."
    )
    reconcile_every_s: float | None = Field(
        None, gt=0, description="Find rows deleted for good (no soft-delete flag) this often, by comparing "
        "the source's keys with the published ones; sources that can list their keys only (sql).",
    )


class SourceConfig(BaseModel):
    """What every connector's configuration has; adapters subclass it with their own fields."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$", description="Unique connector name.")
    type: str = Field(description="The source adapter: sql, rest, xml, files, tmf620, webhook, …")
    source_system: str = Field(
        min_length=1, pattern=r"^[a-z0-9][a-z0-9_.-]*$",
        description="Source system name in canonical events (SourceRef.system).",
    )
    poll_interval_s: float = Field(1.0, gt=0, description="Pause between passes while healthy.")
    unhealthy_poll_interval_s: float = Field(30.0, gt=0, description="Pause between passes while down.")
    streams: list[StreamConfig] = Field(min_length=1)


@dataclass(frozen=True)
class SourceRecord:
    """One raw record of one stream."""

    stream: str
    data: Mapping[str, Any]
    position: Mapping[str, Any] = field(default_factory=dict)
    """Where it was read (cursor value, page, file, offset): goes with a dead letter."""


@dataclass(frozen=True)
class Checkpoint:
    """Resume from ``state`` once everything yielded before this is safely in Kafka.

    ``on_commit``, if given, is awaited by the runtime after the state is committed: push sources
    use it to answer their caller only once the data is durable.
    """

    stream: str
    state: Mapping[str, Any]
    on_commit: Callable[[], Awaitable[None]] | None = None


SourceItem = SourceRecord | Checkpoint


@dataclass(frozen=True)
class StreamDescription:
    """What ``discover`` tells about a stream the source offers."""

    name: str
    fields: tuple[str, ...] = ()
    key: tuple[str, ...] = ()
    cursor: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class CheckResult:
    """The answer of ``check``: ok, a message for people, and details (counts, versions)."""

    ok: bool
    message: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


C = TypeVar("C", bound=SourceConfig)


class Source(abc.ABC, Generic[C]):
    """A source adapter. Subclasses set ``type_name`` and ``config_model`` and implement the rest."""

    type_name: ClassVar[str]
    config_model: ClassVar[type[SourceConfig]]
    is_push: ClassVar[bool] = False

    def __init__(self, config: C) -> None:
        self.config = config

    @abc.abstractmethod
    async def check(self) -> CheckResult:
        """Can the source be reached and read with this configuration?"""

    @abc.abstractmethod
    async def discover(self) -> list[StreamDescription]:
        """The streams (tables, resources, folders) the source offers."""

    @abc.abstractmethod
    def read(self, stream: StreamConfig, state: Mapping[str, Any]) -> AsyncIterator[SourceItem]:
        """One pass over ``stream`` from ``state`` (empty: a snapshot from the start)."""

    async def estimate(self, stream: StreamConfig) -> int | None:
        """How many records a snapshot of ``stream`` has, if the source can tell cheaply."""
        return None

    async def close(self) -> None:
        """Release connections and clients."""


class SourceUnavailable(Exception):
    """The source cannot be reached now (after retries): the runtime marks it unhealthy."""


class TransientSourceError(Exception):
    """A fault worth retrying (timeout, reset, 5xx, 429)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
