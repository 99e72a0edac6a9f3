"""What a connector's author provides to run the conformance kit against it."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overlay.events import ChangeEvent, EntityType


@dataclass(frozen=True)
class Expected:
    """An entity that must appear on its canonical topic (and, optionally, pass a check)."""

    entity_type: EntityType
    source_key: str
    check: Callable[[ChangeEvent[Any]], bool] | None = None


class ConformanceCase(abc.ABC):
    """One connector under test, with the source it reads.

    The kit calls :meth:`start` once per test with a fresh, existing folder (and :meth:`stop`
    afterwards, even when :meth:`start` failed half-way), then uses the YAML from
    :meth:`config_yaml`; everything else describes or changes the source. The YAML must be
    self-contained (no ``${VAR}`` the test process and the connectors process would not both have).
    """

    connector: str
    """The connector's name in the YAML."""

    source_system: str
    """The ``source_system`` its events carry."""

    @abc.abstractmethod
    async def start(self, workdir: Path) -> None:
        """Prepare the source: data, servers, folders."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Stop what :meth:`start` started."""

    @abc.abstractmethod
    def config_yaml(self) -> str:
        """The connectors YAML (a ``connectors:`` list holding this connector)."""

    @abc.abstractmethod
    async def snapshot(self) -> dict[EntityType, set[str]]:
        """The source keys, per entity type, that a complete snapshot publishes."""

    async def push(self, base_url: str) -> None:  # noqa: B027 - pull sources have nothing to push
        """Push sources: send the initial data to the running connectors process at ``base_url``
        (retrying until accepted). Pull sources: nothing.

        The resume test kills and restarts the process while this runs: retry on connection errors
        and 503 until every request was answered 202 (at-least-once, as a real sender would)."""

    @abc.abstractmethod
    async def change(self, base_url: str) -> Expected:
        """Change one record in the source; return what must then appear (with a ``check`` that only
        the changed version passes, so the snapshot's event of the same key does not count)."""

    @abc.abstractmethod
    async def bad_record(self, base_url: str) -> str:
        """Put one record that cannot be mapped into the source; return its stream's name."""
