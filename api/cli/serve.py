"""``regsosek serve``: the gateway over uvicorn."""

from __future__ import annotations

import os

import typer
import uvicorn

from api.cli.common import console, errors, load_settings, run
from api.database import owner_database_url
from api.observability.logs import configure_logging
from api.settings import get_settings
from db import migrate


def serve(
    host: str = typer.Option(None, help="Address to listen on (default REGSOSEK_HOST)."),
    port: int = typer.Option(None, help="Port (default REGSOSEK_PORT)."),
    workers: int = typer.Option(None, help="Worker processes (default REGSOSEK_WORKERS)."),
) -> None:
    """Serve the gateway; with DATABASE_URL unset, on the embedded PostgreSQL."""
    settings = load_settings()
    with owner_database_url(settings) as url:
        if settings.database_url is None:
            run(migrate.upgrade_async(url))
        elif run(migrate.current_revision(url)) != migrate.head_revision():
            errors.print("[red]the database is not migrated:[/red] run `regsosek db upgrade` first")
            raise typer.Exit(1)
        serve_on(
            url,
            host=host or settings.host,
            port=port or settings.port,
            workers=workers or settings.workers,
        )


def serve_on(url: str, *, host: str, port: int, workers: int) -> None:
    """Run uvicorn; worker processes read their settings from the environment.

    With several workers, each writes its metrics samples under
    ``PROMETHEUS_MULTIPROC_DIR`` (``<data_dir>/metrics`` unless set), emptied
    here before they start, so that ``/metrics`` adds up every worker.
    """
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    settings = get_settings()
    samples = settings.prometheus_multiproc_dir
    if samples is None and workers > 1:
        samples = settings.data_dir / "metrics"
    if samples is not None:
        from api.observability.metrics import prepare_multiprocess_dir

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(prepare_multiprocess_dir(samples))
        get_settings.cache_clear()
    configure_logging(json=settings.json_logs, level=settings.log_level)
    console.print(f"serving on http://{host}:{port} with {workers} worker(s)")
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        access_log=False,
        log_level="warning",
        log_config=None,
        timeout_graceful_shutdown=20,
        lifespan="on",
    )
