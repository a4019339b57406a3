"""`mlops up`, `mlops down`, `mlops status`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from mlops.stack.lock import StackAlreadyRunning
from mlops.stack.settings import StackSettings

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="State directory (default ./.mlops).")]


def _console() -> Console:
    # Without a terminal (logs, CI, pipes) rich would wrap the status table at 80 columns.
    return Console() if Console().is_terminal else Console(width=160)


def _settings(data_dir: Path | None, **flags: Any) -> StackSettings:
    # Flags override MLOPS_* environment variables, which override defaults.
    overrides = {key: value for key, value in flags.items() if value is not None}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    return StackSettings(**overrides)


def up(
    data_dir: DataDir = None,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Return once healthy; run in background.")
    ] = False,
    nats_url: Annotated[
        str | None, typer.Option(help="Use this NATS server instead of starting one.")
    ] = None,
    redis_url: Annotated[str | None, typer.Option(help="Use this Redis instead of starting one.")] = None,
    postgres_url: Annotated[
        str | None,
        typer.Option(help="Use PostgreSQL (one database per service, mlops_<service>) not SQLite."),
    ] = None,
    s3_endpoint: Annotated[str | None, typer.Option(help="Use this S3 endpoint (host:port).")] = None,
    s3_access_key: Annotated[str | None, typer.Option(help="Access key for --s3-endpoint.")] = None,
    s3_secret_key: Annotated[str | None, typer.Option(help="Secret key for --s3-endpoint.")] = None,
    health_timeout: Annotated[float | None, typer.Option(help="Seconds to wait for all healthy.")] = None,
) -> None:
    """Start the whole platform on loopback and wait until every component is healthy."""
    from mlops.stack.control import run_detached, run_foreground

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = _settings(
        data_dir,
        nats_url=nats_url,
        redis_url=redis_url,
        postgres_url=postgres_url,
        s3_endpoint=s3_endpoint,
        s3_access_key=s3_access_key,
        s3_secret_key=s3_secret_key,
        health_timeout=health_timeout,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Detached, the output goes to a log file: rich's 80 columns would wrap every table row there.
    console = _console()
    try:
        code = run_detached(settings, console) if detach else run_foreground(settings, console)
    except StackAlreadyRunning as error:
        console.print(str(error))
        raise typer.Exit(1) from None
    raise typer.Exit(code)


def down(data_dir: DataDir = None) -> None:
    """Stop the stack running from the data directory, leaving no process behind."""
    from mlops.stack.control import stop_stack

    raise typer.Exit(stop_stack(_settings(data_dir).resolved_data_dir(), _console()))


def status(data_dir: DataDir = None) -> None:
    """One line per component with a live health probe; exit code 0 only when all are healthy."""
    from mlops.stack.control import show_status

    raise typer.Exit(show_status(_settings(data_dir).resolved_data_dir(), _console()))


def register(app: typer.Typer) -> None:
    """Adds the stack commands to the top-level app."""
    app.command()(up)
    app.command()(down)
    app.command()(status)
