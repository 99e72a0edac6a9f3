"""``overlay sim``: build, serve and animate the simulated legacy estate; inspect its ground truth.

Mounted by the main CLI as ``sim_app``; also runnable alone with ``python -m legacy_sim``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from legacy_sim.change_generator import run_changes
from legacy_sim.estate import build_estate
from legacy_sim.ground_truth import TRUTH_FILE, summarize
from legacy_sim.serve import ServeOptions, serve
from overlay.lifecycle import run_until_stopped, wait_for_stop_signal

sim_app = typer.Typer(
    name="sim", help="The simulated legacy estate (CRM, mobile, fixed/TV, partners, back-ends).",
    no_args_is_help=True,
)
console = Console()

DataDir = Annotated[Path, typer.Option("--data-dir", envvar="OVERLAY_SIM_DIR", help="Estate directory.")]


@sim_app.command()
def build(
    data_dir: DataDir = Path("var/sim"),
    seed: Annotated[int, typer.Option(envvar="OVERLAY_SIM_SEED")] = 42,
    customers: Annotated[int, typer.Option(envvar="OVERLAY_SIM_CUSTOMERS", min=1)] = 1000,
    crm_dsn: Annotated[str | None, typer.Option(envvar="OVERLAY_CRM_DSN", help="CRM database URL.")] = None,
    partner_offerings: Annotated[int, typer.Option(min=1, help="Offerings per partner catalog.")] = 30,
) -> None:
    """Generate every store and the ground truth (replaces an estate already there)."""
    with Progress(
        TextColumn("[bold]building estate"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("persons", total=customers)
        manifest = asyncio.run(
            build_estate(
                data_dir, seed, customers, crm_dsn, partner_offerings=partner_offerings,
                progress=lambda done, _total: bar.update(task, completed=done),
            )
        )
    console.print(f"estate in [bold]{data_dir}[/]: {manifest.counts.model_dump()}")


@sim_app.command("serve")
def serve_cmd(
    data_dir: DataDir = Path("var/sim"),
    port_base: Annotated[int | None, typer.Option(help="First port; default: free ports.")] = None,
    host: str = "127.0.0.1",
    mobile_token: Annotated[str | None, typer.Option(envvar="OVERLAY_SIM_MOBILE_TOKEN")] = None,
    mobile_rate_limit: Annotated[float | None, typer.Option(help="Mobile API requests/s.")] = None,
    order_progress: Annotated[float, typer.Option(help="Seconds until an order completes.")] = 5.0,
) -> None:
    """Run every server in the foreground until Ctrl-C or SIGTERM."""
    options = ServeOptions(
        host=host, port_base=port_base, mobile_token=mobile_token, mobile_rate_limit_per_s=mobile_rate_limit,
        order_progress_seconds=order_progress,
    )

    async def main() -> None:
        async with serve(data_dir, options) as estate:
            table = Table("service", "endpoint", title="legacy estate")
            for name, url in (estate.endpoints.model_dump() if estate.endpoints else {}).items():
                table.add_row(name, url)
            console.print(table)
            await wait_for_stop_signal()
        console.print("stopped")

    asyncio.run(main())


@sim_app.command()
def changes(
    data_dir: DataDir = Path("var/sim"),
    rate: Annotated[float, typer.Option(min=0.001, help="Changes per second.")] = 10.0,
    duration: Annotated[float | None, typer.Option(help="Seconds; default until Ctrl-C.")] = None,
    count: Annotated[int | None, typer.Option(help="Stop after this many changes.")] = None,
) -> None:
    """Keep modifying the estate's stores (sign-ups, moves, contact/plan changes, cancellations)."""
    stats = asyncio.run(run_until_stopped(run_changes(data_dir, rate, duration=duration, count=count)))
    if stats is None:
        console.print("stopped")
        return
    console.print({"total": stats.total, "by_kind": stats.by_kind, "by_system": stats.by_system,
                   "signups": len(stats.signups), "elapsed_s": stats.elapsed_s})


@sim_app.command()
def truth(data_dir: DataDir = Path("var/sim")) -> None:
    """Summarise the ground truth: persons, records per system, duplicates."""
    summary = summarize(data_dir / TRUTH_FILE)
    table = Table("measure", "value", title=f"ground truth of {data_dir}")
    table.add_row("persons", str(summary.persons))
    table.add_row("records", str(summary.records))
    for system, n in sorted(summary.records_by_system.items()):
        table.add_row(f"records in {system}", str(n))
    for systems, n in summary.persons_by_system_count.items():
        table.add_row(f"persons in {systems} system(s)", str(n))
    table.add_row("persons with duplicate CRM records", str(summary.crm_duplicates))
    table.add_row("persons with several SIMs", str(summary.multi_sim))
    console.print(table)
