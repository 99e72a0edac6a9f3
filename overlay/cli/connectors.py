"""``overlay connectors …``: list, check, discover, run and watch the configured connectors."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from connectors.config import LoadedConnector, load_config
from connectors.mapping.errors import ConfigError
from connectors.registry import create_source, source_types
from connectors.runtime.host import ConnectorHost
from connectors.runtime.runner import RunOptions
from connectors.runtime.status import ConnectorStatus
from overlay.lifecycle import run_until_stopped
from overlay.settings import get_settings

connectors_app = typer.Typer(no_args_is_help=True, help="Legacy-system connectors.")
console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Connectors YAML (default: OVERLAY_CONNECTORS_CONFIG).")
]


def _load(config: Path | None) -> list[LoadedConnector]:
    path = config or get_settings().connectors_config
    try:
        return load_config(path, source_types())
    except ConfigError as exc:
        console.print(f"[red]configuration error[/] {exc}")
        raise typer.Exit(2) from None
    except FileNotFoundError:
        console.print(f"[red]configuration error[/] {path}: no such file")
        raise typer.Exit(2) from None


def _pick(name: str, config: Path | None) -> LoadedConnector:
    loaded = {c.config.name: c for c in _load(config)}
    if name not in loaded:
        console.print(f"[red]no connector '{name}'[/]; configured: {', '.join(sorted(loaded))}")
        raise typer.Exit(2)
    return loaded[name]


@connectors_app.command("list")
def list_(config: ConfigOption = None) -> None:
    """The configured connectors and their streams."""
    table = Table("name", "type", "source system", "streams → entities")
    for c in _load(config):
        streams = "; ".join(
            f"{s.name} → {', '.join(o.entity.value for o in s.outputs)}" for s in c.config.streams
        )
        table.add_row(c.config.name, c.config.type, c.config.source_system, streams)
    Console().print(table)


@connectors_app.command("check")
def check(name: str, config: ConfigOption = None) -> None:
    """Can the connector reach and read its source?"""
    source = create_source(_pick(name, config).config)

    async def main() -> bool:
        try:
            result = await source.check()
        finally:
            await source.close()
        mark = "[green]OK[/]" if result.ok else "[red]FAILED[/]"
        Console().print(f"{mark} {name}: {result.message}", dict(result.details) or "")
        return result.ok

    if not asyncio.run(main()):
        raise typer.Exit(1)


@connectors_app.command("discover")
def discover(name: str, config: ConfigOption = None) -> None:
    """The streams (tables, resources, folders) the connector's source offers."""
    source = create_source(_pick(name, config).config)

    async def main() -> None:
        try:
            streams = await source.discover()
        finally:
            await source.close()
        table = Table("stream", "key", "cursor", "fields", "description")
        for s in streams:
            table.add_row(s.name, ", ".join(s.key), ", ".join(s.cursor), ", ".join(s.fields)[:80],
                          s.description)
        Console().print(table)

    asyncio.run(main())


@connectors_app.command("run")
def run(
    names: Annotated[list[str] | None, typer.Argument(help="Connectors to run (default: all).")] = None,
    snapshot: Annotated[bool, typer.Option(help="Read every stream from the start.")] = False,
    once: Annotated[bool, typer.Option(help="One pass per stream, then stop.")] = False,
    progress: Annotated[bool | None, typer.Option(help="Progress bars (default: on a terminal).")] = None,
    config: ConfigOption = None,
) -> None:
    """Run connectors in one process until Ctrl-C/SIGTERM (or one pass each with --once)."""
    loaded = _load(config)
    if names:
        unknown = sorted(set(names) - {c.config.name for c in loaded})
        if unknown:
            console.print(f"[red]no connector {', '.join(unknown)}[/]")
            raise typer.Exit(2)
        loaded = [c for c in loaded if c.config.name in names]
    host = ConnectorHost(loaded, get_settings(), RunOptions(once=once, snapshot=snapshot))
    show = console.is_terminal if progress is None else progress

    async def main() -> None:
        watcher = asyncio.create_task(_show_progress(host.statuses)) if show else None
        try:
            await host.run()
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    asyncio.run(run_until_stopped(main()))


async def _show_progress(statuses: list[ConnectorStatus]) -> None:
    """Progress bars with rate and ETA per stream, while snapshots run."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]} rec/s"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bars:
        tasks: dict[tuple[str, str], Any] = {}

        def refresh() -> None:
            for status in statuses:
                for stream in status.streams.values():
                    key = (status.name, stream.name)
                    if key not in tasks:
                        tasks[key] = bars.add_task(f"{status.name}/{stream.name}", total=None, rate=0)
                    total = stream.estimate if stream.estimate is not None else None
                    if stream.caught_up and total is None:
                        total = stream.read
                    bars.update(tasks[key], completed=stream.read, total=total,
                                rate=f"{stream.rate.value():,.0f}")

        try:
            while True:
                refresh()
                await asyncio.sleep(0.5)
        finally:
            refresh()


@connectors_app.command("status")
def status(
    url: Annotated[str | None, typer.Option(help="The connectors process (default: its configured port).")]
    = None,
) -> None:
    """State, records/s, last success, last error and lag of every running connector."""
    s = get_settings()
    base = url or f"http://{s.connectors_host}:{s.connectors_port}"
    try:
        rows = httpx.get(f"{base}/status", timeout=5).json()
    except httpx.HTTPError as exc:
        console.print(f"[red]no connectors process answers at {base}[/] ({type(exc).__name__})")
        raise typer.Exit(1) from None
    table = Table("connector", "state", "records", "rec/s", "dead letters", "last success", "lag (s)",
                  "last error")
    now = time.time()
    for r in rows:
        ago = f"{now - r['last_success']:.0f} s ago" if r["last_success"] else "never"
        style = {"running": "green", "unhealthy": "red"}.get(r["state"], "yellow")
        table.add_row(r["name"], f"[{style}]{r['state']}[/]", f"{r['records']:,}",
                      f"{r['records_per_s']:,.0f}", str(r["dead_letters"]), ago, str(r["lag_s"]),
                      (r["last_error"] or "")[:60])
    Console().print(table)
