"""``overlay connectors …``: list, check, discover and run the configured connectors."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from connectors.offsets import OffsetStore
from connectors.protocol import Connector
from connectors.registry import configured_connectors
from connectors.runtime import run_connector
from overlay.kafka import EventPublisher
from overlay.lifecycle import run_until_stopped
from overlay.settings import get_settings

connectors_app = typer.Typer(no_args_is_help=True, help="Legacy-system connectors.")
console = Console()


@connectors_app.command("list")
def list_() -> None:
    """The configured connectors."""
    table = Table("name", "type", "source system")
    for c in configured_connectors(get_settings()):
        table.add_row(c.name, type(c).__name__, str(getattr(c.config, "source_system", "")))
    console.print(table)


def _pick(name: str) -> Connector:
    by_name = {c.name: c for c in configured_connectors(get_settings())}
    if name not in by_name:
        raise typer.BadParameter(f"no connector '{name}'; configured: {', '.join(sorted(by_name))}")
    return by_name[name]


@connectors_app.command("check")
def check(name: str) -> None:
    """Can the connector reach and read its source?"""
    connector = _pick(name)

    async def main() -> bool:
        try:
            result = await connector.check()
        finally:
            await connector.close()
        console.print(("[green]OK[/] " if result.ok else "[red]FAILED[/] ") + result.message,
                      dict(result.details) or "")
        return result.ok

    if not asyncio.run(main()):
        raise typer.Exit(1)


@connectors_app.command("discover")
def discover(name: str) -> None:
    """The streams the connector offers."""
    connector = _pick(name)

    async def main() -> None:
        try:
            streams = await connector.discover()
        finally:
            await connector.close()
        table = Table("stream", "entity", "cursor", "description")
        for s in streams:
            table.add_row(s.name, s.entity_type.value, ", ".join(s.cursor), s.description)
        console.print(table)

    asyncio.run(main())


@connectors_app.command("run")
def run(
    names: Annotated[list[str] | None, typer.Argument(help="Connectors to run (default: all).")] = None,
    once: Annotated[bool, typer.Option(help="Stop after one pass instead of polling for ever.")] = False,
) -> None:
    """Run connectors in one process until Ctrl-C (or one pass with --once)."""
    settings = get_settings()
    selected = [c for c in configured_connectors(settings, once=once) if not names or c.name in names]
    if not selected:
        raise typer.BadParameter("no connector selected")

    async def main() -> None:
        async with EventPublisher.create(settings) as publisher:
            offsets = OffsetStore(publisher, settings)
            try:
                await asyncio.gather(*(run_connector(c, publisher, offsets) for c in selected))
            finally:
                for c in selected:
                    await c.close()

    asyncio.run(run_until_stopped(main()))
