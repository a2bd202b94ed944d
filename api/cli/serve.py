"""``regsosek serve``: the gateway over uvicorn.

The listening socket is bound first, before the database is started or
touched: a busy port is one line naming it and how to choose another, and
"serving on" is printed only once the address is ours.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import TYPE_CHECKING

import typer

from api.cli.common import console, errors, load_settings, run

if TYPE_CHECKING:
    from api.settings import Settings

PORT_HELP = "Port (default REGSOSEK_PORT, else 8000)."
HOST_HELP = "Address to listen on (default REGSOSEK_HOST, else 127.0.0.1)."


def bind_listener(host: str, port: int) -> socket.socket:
    """The gateway's listening socket, bound; a busy or forbidden port exits 1 in one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        if error.errno == errno.EADDRINUSE:
            reason = "is already in use"
        elif error.errno == errno.EACCES:
            reason = "needs privileges this user lacks"
        else:
            reason = f"cannot be bound ({error.strerror or error})"
        errors.print(
            f"port {port} on {host} {reason}: choose another with --port N, REGSOSEK_PORT=N,"
            f" or `make run PORT=N`",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None
    listener.set_inheritable(True)
    return listener


def serve(
    host: str = typer.Option(None, help=HOST_HELP),
    port: int = typer.Option(None, help=PORT_HELP),
    workers: int = typer.Option(None, help="Worker processes (default REGSOSEK_WORKERS)."),
) -> None:
    """Serve the gateway; with DATABASE_URL unset, on the embedded PostgreSQL."""
    from api.cli.checks import check_policies_or_exit, owner_database
    from db import migrate

    settings = load_settings()
    check_policies_or_exit(settings)
    host, port = host or settings.host, port or settings.port
    listener = bind_listener(host, port)
    with owner_database(settings) as url:
        if settings.database_url is None:
            run(migrate.upgrade_async(url))
        elif run(migrate.current_revision(url)) != migrate.head_revision():
            errors.print("[red]the database is not migrated:[/red] run `regsosek db upgrade` first")
            raise typer.Exit(1)
        serve_on(url, listener=listener, workers=workers or settings.workers)


def serve_on(url: str, *, listener: socket.socket, workers: int) -> None:
    """Run uvicorn on ``listener``; worker processes read their settings from the environment.

    The address is put into the environment (``REGSOSEK_HOST``/``REGSOSEK_PORT``)
    so that every worker's default issuer is the address it serves on. With
    several workers, each writes its metrics samples under
    ``PROMETHEUS_MULTIPROC_DIR`` (``<data_dir>/metrics`` unless set), emptied
    here before they start, so that ``/metrics`` adds up every worker.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from api.observability.logs import configure_logging
    from api.settings import get_settings
    from db.embedded import stopping_on_signals

    host, port = listener.getsockname()[:2]
    os.environ["DATABASE_URL"] = url
    os.environ["REGSOSEK_HOST"] = host
    os.environ["REGSOSEK_PORT"] = str(port)
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
    config = uvicorn.Config(
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
    console.print(f"serving on {base_url(settings)} with {workers} worker(s)", highlight=False)
    server = uvicorn.Server(config)
    # After its graceful shutdown uvicorn re-raises SIGTERM/SIGINT: here that ends the
    # process as a clean exit, unwinding (and so stopping an embedded PostgreSQL).
    with stopping_on_signals():
        if workers > 1:
            Multiprocess(config, sockets=[listener]).run()
            return
        config.load_app()
        server.run(sockets=[listener])
    if not server.started:
        raise typer.Exit(3)


def base_url(settings: Settings) -> str:
    """Where a browser on this machine reaches the gateway."""
    host = settings.host
    if host in ("0.0.0.0", "::"):  # noqa: S104  (a wildcard address, not a bind)
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"
