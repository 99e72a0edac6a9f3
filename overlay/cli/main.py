"""overlay: start infrastructure, the legacy estate, connectors, workers, the API and benchmarks."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from overlay.cli.cache import cache_app
from overlay.cli.connectors import connectors_app
from overlay.logging import configure_logging
from overlay.settings import get_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
infra_app = typer.Typer(no_args_is_help=True, help="Local Kafka broker and Redis server.")
topics_app = typer.Typer(no_args_is_help=True, help="Kafka topics.")
app.add_typer(infra_app, name="infra")
app.add_typer(topics_app, name="topics")
app.add_typer(connectors_app, name="connectors")
app.add_typer(cache_app, name="cache")
console = Console(stderr=True)


def _load_sim_app() -> None:
    from legacy_sim.cli import sim_app

    app.add_typer(sim_app, name="sim", help="The simulated legacy estate.")


_load_sim_app()


@app.callback()
def _setup() -> None:
    s = get_settings()
    configure_logging(s.log_level, s.log_format)


@infra_app.command("up")
def infra_up() -> None:
    """Start Kafka and Redis (unless OVERLAY_KAFKA_BOOTSTRAP / OVERLAY_REDIS_URL point elsewhere),
    create the topics, and stay in the foreground until Ctrl-C."""
    from overlay.infra.kafka_admin import ensure_topics
    from overlay.infra.stack import LocalStack
    from overlay.lifecycle import wait_for_stop_signal
    from overlay.topics import resolve_all

    async def main() -> None:
        s = get_settings()
        async with LocalStack(s.var_dir / "infra") as stack:
            await ensure_topics(stack.bootstrap, resolve_all(s))
            console.print(f"Kafka  [bold]{stack.bootstrap}[/]\nRedis  [bold]{stack.redis_url}[/]")
            console.print(
                f"export OVERLAY_KAFKA_BOOTSTRAP={stack.bootstrap} OVERLAY_REDIS_URL={stack.redis_url}"
            )
            await wait_for_stop_signal()

    asyncio.run(main())


@infra_app.command("install")
def infra_install() -> None:
    """Fetch the Kafka broker's jars from Maven Central into the cache (once)."""
    from overlay.infra.kafka_broker import KafkaBroker

    s = get_settings()
    libs = asyncio.run(KafkaBroker(s.var_dir / "infra" / "kafka").ensure_installed())
    console.print(f"Kafka jars in {libs}")


@topics_app.command("ensure")
def topics_ensure() -> None:
    """Create every topic (idempotent) with its partitions and cleanup policy; fix drifted configs."""
    from overlay.infra.kafka_admin import ensure_topics
    from overlay.topics import resolve_all

    s = get_settings()
    report = asyncio.run(ensure_topics(s.kafka_bootstrap, resolve_all(s)))
    console.print(report)


@topics_app.command("list")
def topics_list() -> None:
    """Every topic Overlay uses: key, cleanup policy and what it carries."""
    from overlay.topics import resolve_all

    table = Table("topic", "partitions", "cleanup", "key", "carries")
    for t in resolve_all():
        table.add_row(t.name, str(t.partitions), t.spec.cleanup.value, t.spec.key, t.spec.description)
    Console().print(table)


@app.command("worker")
def worker(name: Annotated[str, typer.Argument(help="customer-cache")]) -> None:
    """Run a stream processor in the foreground."""
    workers = {"customer-cache": "customer_cache.worker"}
    if name not in workers:
        raise typer.BadParameter(f"unknown worker '{name}'; known: {', '.join(workers)}")
    import importlib

    importlib.import_module(workers[name]).run()


@app.command("api")
def api(
    host: Annotated[str | None, typer.Option(help="Defaults to OVERLAY_API_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Defaults to OVERLAY_API_PORT.")] = None,
) -> None:
    """Serve the channel APIs (TMF Open APIs, /health, /docs)."""
    import uvicorn

    from overlay.http.app import create_app
    from overlay.lifecycle import HostedServer, serve_http

    s = get_settings()
    config = uvicorn.Config(
        create_app(s), host=host or s.api_host, port=port if port is not None else s.api_port,
        log_config=None, access_log=False, http="auto",  # httptools when installed
    )
    try:  # uvloop's event loop roughly halves the framework's cost per request
        import uvloop
    except ImportError:
        asyncio.run(serve_http(HostedServer(config)))
    else:
        uvloop.run(serve_http(HostedServer(config)))


@app.command("demo")
def demo(
    customers: Annotated[int, typer.Option(help="Size of the simulated estate.")] = 1000,
    change_rate: Annotated[float, typer.Option(help="Legacy changes per second.")] = 2.0,
) -> None:
    """Everything at once: Kafka, Redis, the legacy estate, connectors, workers and the API."""
    from overlay.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(customers=customers, change_rate=change_rate)))


@app.command("bench")
def bench(name: Annotated[str, typer.Argument(help="Benchmark name, or 'all'.")] = "all") -> None:
    """Run benchmarks; each prints its figures, the last line one JSON object."""
    from bench.registry import run_benchmarks

    raise typer.Exit(asyncio.run(run_benchmarks(name)))


@app.command("settings")
def show_settings() -> None:
    """The effective settings (secrets hidden)."""
    typer.echo(json.dumps(get_settings().model_dump(mode="json"), indent=2, default=str))


if __name__ == "__main__":
    app()
