"""The connector contract: what every connector implements and what ``read`` yields."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from overlay.events import ChangeEvent, EntityType


@dataclass(frozen=True)
class RecordMessage:
    """One canonical change to publish."""

    event: ChangeEvent[Any]


@dataclass(frozen=True)
class StateMessage:
    """The stream's position once every record yielded before it is safely in Kafka."""

    stream: str
    state: Mapping[str, Any]


@dataclass(frozen=True)
class DeadLetterMessage:
    """A source record that could not be mapped or validated; it goes to the dead-letter topic."""

    stream: str
    reason: str
    position: Mapping[str, Any]
    original: Mapping[str, Any]


Message = RecordMessage | StateMessage | DeadLetterMessage


@dataclass(frozen=True)
class StreamInfo:
    """What ``discover`` reports for one stream."""

    name: str
    entity_type: EntityType
    cursor: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    message: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


class Connector(abc.ABC):
    """A source of canonical change events. ``name`` is unique in a deployment."""

    name: str
    config: BaseModel

    @classmethod
    @abc.abstractmethod
    def spec(cls) -> type[BaseModel]:
        """The pydantic model of this connector's configuration."""

    @abc.abstractmethod
    async def check(self) -> CheckResult: ...

    @abc.abstractmethod
    async def discover(self) -> list[StreamInfo]: ...

    @abc.abstractmethod
    def read(self, state: Mapping[str, Mapping[str, Any]]) -> AsyncIterator[Message]:
        """Yield records and state messages, resuming from ``state`` (stream name → state).

        A snapshot is a read from empty state. With ``once`` configured the iterator ends when the
        source has nothing more; otherwise it polls for ever.
        """

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
