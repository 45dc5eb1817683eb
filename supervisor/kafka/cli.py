"""`supervisor kafka fetch|start|stop|status`: the one command that gives a real broker.

Mounted in the main CLI by supervisor.cli; also runnable as `python -m supervisor.kafka.cli`.
Each command builds `Settings.from_env()`, so SUPERVISOR_KAFKA_PORT / _HOME / _VERSION
select which broker.
"""

from __future__ import annotations

import json
import time

import typer

from supervisor.kafka import local
from supervisor.settings import Settings

app = typer.Typer(
    help="Run a local single-node Apache Kafka (KRaft) from Maven Central jars.",
    no_args_is_help=True,
)


@app.command()
def fetch() -> None:
    """Download Kafka and its runtime jars (once; later calls return at once)."""
    settings = Settings.from_env()
    began = time.monotonic()
    try:
        libs = local.fetch(settings)
    except local.LocalKafkaError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"Kafka {settings.kafka_version} in {libs} ({time.monotonic() - began:.1f} s)", err=True
    )
    typer.echo(str(libs))


@app.command()
def start(
    timeout: float = typer.Option(local.START_TIMEOUT_S, help="Seconds to wait for readiness."),
) -> None:
    """Start the broker detached (or reuse the running one); print the bootstrap servers."""
    settings = Settings.from_env()
    began = time.monotonic()
    try:
        broker = local.start_broker(settings, timeout=timeout)
    except local.LocalKafkaError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    verb = "started" if broker.started else "reused"
    typer.echo(
        f"{verb} Kafka pid {broker.pid} on {broker.bootstrap} "
        f"in {time.monotonic() - began:.1f} s; log {broker.log_file}",
        err=True,
    )
    typer.echo(broker.bootstrap)


@app.command()
def stop(
    timeout: float = typer.Option(local.STOP_TIMEOUT_S, help="Seconds before SIGKILL."),
) -> None:
    """Stop the broker started from SUPERVISOR_KAFKA_HOME (SIGKILL after a timeout)."""
    settings = Settings.from_env()
    began = time.monotonic()
    stopped = local.stop(settings, timeout=timeout)
    message = "stopped" if stopped else "was not running"
    typer.echo(
        f"Kafka on port {settings.kafka_port} {message} ({time.monotonic() - began:.1f} s)",
        err=True,
    )


@app.command()
def status() -> None:
    """Print the broker's state as JSON; exit 1 unless it answers."""
    info = local.status(Settings.from_env())
    typer.echo(json.dumps(info, indent=2))
    if not info["answering"]:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
