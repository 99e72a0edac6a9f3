"""``overlay cache …``: rebuild the customer 360 read model from Kafka, verify it, drop a rebuilt one.

Each command prints a table on stderr and, as its last line on stdout, one JSON object with the
figures (for scripts). ``verify`` (and ``rebuild --verify``) exit with 0 when the models are
identical, 1 when they differ; 2 means the command could not run.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import redis.asyncio as aioredis
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from customer_cache.keys import DEFAULT_PREFIX, Keys
from customer_cache.rebuild import (
    RebuildError,
    RebuildReport,
    VerifyReport,
    check_prefix,
    default_prefix,
    drop,
    holds_keys,
    rebuild,
    verify,
    with_client,
)
from overlay.settings import get_settings

cache_app = typer.Typer(no_args_is_help=True, help="The customer 360 read model in Redis.")
console = Console(stderr=True)

LiveOption = Annotated[str, typer.Option("--live", help="Prefix of the live model.")]
ExamplesOption = Annotated[int, typer.Option(help="Differences listed at most.")]
ProgressOption = Annotated[bool | None, typer.Option(help="Progress bars (default: on a terminal).")]

_PHASES = {"read": "events read (offsets)", "resolve": "parties resolved", "customers": "customers compared",
           "keys": "keys compared"}


class _Bars:
    """A rich progress bar per phase, fed by the rebuild's and verify's progress callback."""

    def __init__(self, enabled: bool) -> None:
        columns = (TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn())
        self._bars = Progress(*columns, console=console, transient=False, disable=not enabled)
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> _Bars:
        self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.stop()

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        task = self._tasks.get(phase)
        if task is None:
            task = self._tasks[phase] = self._bars.add_task(_PHASES.get(phase, phase), total=total)
        self._bars.update(task, completed=done, total=total)


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]{message}[/]")
    return typer.Exit(2)


def _prefix(value: str) -> str:
    try:
        return check_prefix(value)
    except RebuildError as exc:
        raise _fail(str(exc)) from None


def _emit(payload: dict[str, Any]) -> None:
    typer.echo(json.dumps(payload, sort_keys=True))


def _rebuild_table(report: RebuildReport) -> Table:
    table = Table("rebuild", "", title=f"customer 360 rebuilt under [bold]{report.prefix}[/]")
    rows = [
        ("topics / partitions", f"{len(report.topics)} / {report.partitions}"),
        ("offsets to read", f"{report.offsets:,}"),
        ("events read", f"{report.events_read:,}"),
        ("  applied", f"{report.events_applied:,}"),
        ("  older (ignored)", f"{report.events_ignored:,}"),
        ("  invalid (skipped)", f"{report.events_invalid:,}"),
        ("keys deleted first", f"{report.keys_deleted:,}"),
        ("source parties resolved", f"{report.parties_resolved:,}"),
        ("unresolved", f"{report.unresolved:,}" if report.complete else f"[red]{report.unresolved:,}[/]"),
        ("customers", f"{report.customers:,}"),
        ("read + apply", f"{report.read_seconds:.1f} s"),
        ("resolve", f"{report.resolve_seconds:.1f} s"),
        ("total", f"{report.seconds:.1f} s ({report.events_per_second:,.0f} events/s)"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _verify_tables(report: VerifyReport) -> list[Table]:
    verdict = "[green]identical[/]" if report.identical else "[red]DIFFERENT[/]"
    summary = Table("family", "compared", "identical", "differing", "only in live", "only in rebuilt",
                    title=f"{report.live} vs {report.rebuilt}: {verdict} ({report.seconds:.1f} s)",
                    caption="* on one side only: merge history (ids merged away), not a difference")
    for t in report.tallies:
        style = "" if t.ok else "red"
        summary.add_row(t.family + ("*" if t.one_sided_ok else ""), f"{t.compared:,}", f"{t.identical:,}",
                        f"{t.differing:,}", f"{t.only_live:,}", f"{t.only_rebuilt:,}", style=style)
    tables = [summary]
    examples = [(t.family, e) for t in report.tallies if not t.ok for e in t.examples]
    if examples:
        detail = Table("family", "id / key", "difference", title="first differences")
        for family, e in examples:
            detail.add_row(family, e.id, "; ".join(e.detail))
        tables.append(detail)
    return tables


async def _verify(live: str, against: str, examples: int, show: bool) -> VerifyReport:
    async def work(client: aioredis.Redis) -> VerifyReport:
        with _Bars(show) as bars:
            return await verify(client, Keys(live), Keys(against), examples=examples, progress=bars)

    report: VerifyReport = await with_client(get_settings(), work)
    return report


@cache_app.command("rebuild")
def rebuild_cmd(
    prefix: Annotated[str | None, typer.Option(
        help="Prefix to build under (default: c360-rebuild-<UTC time>).")] = None,
    replace: Annotated[bool, typer.Option(
        help="Delete the prefix's keys first (with --prefix c360: recover the live model; stop the "
             "workers first).")] = False,
    verify_after: Annotated[bool, typer.Option(
        "--verify", help="Compare the rebuilt model with the live one afterwards (exit code 1 if "
                         "they differ).")] = False,
    live: LiveOption = DEFAULT_PREFIX,
    resolver_batch: Annotated[int | None, typer.Option(
        help="Source parties per resolver batch (default: OVERLAY_RESOLVER_BATCH_SIZE).")] = None,
    examples: ExamplesOption = 20,
    progress: ProgressOption = None,
) -> None:
    """Recompute the whole customer 360 from the canonical topics into a fresh prefix."""
    target = _prefix(prefix or default_prefix())
    live = _prefix(live)
    if verify_after and target == live:
        raise _fail("--verify compares with the live model: rebuild under another prefix")
    show = console.is_terminal if progress is None else progress
    settings = get_settings()

    async def main() -> tuple[RebuildReport, VerifyReport | None]:
        with _Bars(show) as bars:
            report = await rebuild(settings, Keys(target), progress=bars, replace=replace,
                                   resolver_batch=resolver_batch)
        checked = await _verify(live, target, examples, show) if verify_after else None
        return report, checked

    try:
        report, checked = asyncio.run(main())
    except RebuildError as exc:
        raise _fail(str(exc)) from None
    console.print(_rebuild_table(report))
    payload: dict[str, Any] = {"rebuild": report.as_dict()}
    code = 0 if report.complete else 1
    if not report.complete:
        console.print(f"[red]{report.unresolved} source parties could not be resolved[/] (their data "
                      "breaks resolution: see the log)")
    if checked is not None:
        for table in _verify_tables(checked):
            console.print(table)
        payload["verify"] = checked.as_dict()
        code = max(code, checked.exit_code)
    if target != live:
        console.print(f"drop it with: overlay cache drop --prefix {target}")
    _emit(payload)
    raise typer.Exit(code)


@cache_app.command("verify")
def verify_cmd(
    against: Annotated[str, typer.Option(help="Prefix of the model to compare (a rebuild).")],
    live: LiveOption = DEFAULT_PREFIX,
    examples: ExamplesOption = 20,
    progress: ProgressOption = None,
) -> None:
    """Compare a rebuilt model with the live one: exit code 0 if identical, 1 if not."""
    against, live = _prefix(against), _prefix(live)
    if against == live:
        raise _fail("--against and --live name the same model")
    show = console.is_terminal if progress is None else progress

    async def exists(client: aioredis.Redis) -> bool:
        return await holds_keys(client, Keys(against))

    if not asyncio.run(with_client(get_settings(), exists)):
        raise _fail(f"no model under prefix {against!r}")
    report = asyncio.run(_verify(live, against, examples, show))
    for table in _verify_tables(report):
        console.print(table)
    _emit(report.as_dict())
    raise typer.Exit(report.exit_code)


@cache_app.command("drop")
def drop_cmd(
    prefix: Annotated[str, typer.Option(help="Prefix of the model to delete.")],
    force: Annotated[bool, typer.Option(
        help="Needed to drop the live model (c360) or a model whose resolver lease is held.")] = False,
) -> None:
    """Delete every key of a model (a rebuild no longer needed)."""
    prefix = _prefix(prefix)
    if prefix == DEFAULT_PREFIX and not force:
        raise _fail(f"{prefix} is the live model: pass --force to delete it")
    keys = Keys(prefix)

    async def main(client: aioredis.Redis) -> int:
        holder = await client.get(keys.resolver_lease)
        if holder is not None and not force:
            raise _fail(f"a resolver ({holder!r}) is working on {prefix}: stop it, or pass --force")
        return await drop(client, keys)

    deleted: int = asyncio.run(with_client(get_settings(), main))
    console.print(f"{deleted:,} keys of {prefix} deleted")
    _emit({"prefix": prefix, "keys_deleted": deleted})
