"""An embedded PostgreSQL (the ``pgserver`` wheel) for when ``DATABASE_URL`` is unset.

The server lives under ``<data_dir>/pgdata``, listens only on a Unix socket,
and stops when the last process that started it exits. pgserver counts those
processes in ``pgdata/.handle_pids.json``; two things keep that count true:

* while a process holds the server, SIGTERM and SIGINT unwind it like an
  exception (``SystemExit``), so the server is released even when uvicorn
  re-raises SIGTERM after its graceful shutdown (its default action would kill
  the process before any ``finally`` runs);
* at start, pids of processes that no longer exist are dropped from the file
  (a process killed with SIGKILL leaves its pid behind, and with it a server
  that nobody would ever stop).

``stop_embedded`` (``regsosek db stop``) stops the server whatever the file says.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

DATABASE = "regsosek"
HANDLES = ".handle_pids.json"


class EmbeddedUnavailable(RuntimeError):
    """pgserver is not installed (the serving image leaves out the ``demo`` extra)."""


class Stopped(SystemExit):
    """The process was asked to stop (SIGTERM or SIGINT) while it held the embedded server.

    It exits with status 0: stopping when asked is what it was meant to do (``docker stop``,
    systemd and ``make run`` then report no failure).
    """

    def __init__(self, signum: int) -> None:
        super().__init__(0)
        self.signum = signum


def _stop(signum: int, frame: FrameType | None) -> None:
    # A second signal must not interrupt the unwinding that stops the server.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    raise Stopped(signum)


@contextmanager
def stopping_on_signals() -> Iterator[None]:
    """SIGTERM and SIGINT raise ``Stopped`` inside the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clear_dead_handles(pgdata: Path) -> list[int]:
    """Drop the pids of exited processes from pgserver's handle file; return those dropped."""
    path = pgdata / HANDLES
    if not path.exists():
        return []
    try:
        pids = [int(pid) for pid in json.loads(path.read_text())]
    except (ValueError, TypeError):
        pids = []
    alive = [pid for pid in pids if _alive(pid)]
    dead = [pid for pid in pids if pid not in alive]
    if dead or len(alive) != len(pids):
        path.write_text(json.dumps(alive))
    return dead


def _pgserver() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset (it falls back to /tmp).
        warnings.simplefilter("ignore")
        try:
            import pgserver
        except ImportError:
            raise EmbeddedUnavailable(
                "DATABASE_URL is unset and the embedded PostgreSQL is not installed: set"
                " DATABASE_URL, or install the demo extra (pip install 'regsosek-gateway[demo]')"
            ) from None
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    return pgserver


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start (or join) the embedded server and yield a URL of its ``regsosek`` database."""
    pgserver = _pgserver()
    pgdata = (data_dir / "pgdata").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    with stopping_on_signals():
        clear_dead_handles(pgdata)
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        with server:
            exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
            if "(1 row)" not in exists:
                server.psql(f"CREATE DATABASE {DATABASE};")
            yield url_of(server.get_uri(DATABASE))


def postmaster_pid(pgdata: Path) -> int | None:
    """The embedded server's pid when it is running, else None."""
    path = pgdata / "postmaster.pid"
    try:
        pid = int(path.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _alive(pid) else None


def stop_embedded(data_dir: Path) -> int | None:
    """Stop the embedded server under ``data_dir`` (fast shutdown) and forget its handles.

    Returns the pid of the server stopped, or None when none was running.
    """
    pgdata = (data_dir / "pgdata").resolve()
    pid = postmaster_pid(pgdata)
    if pid is not None:
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

        user = "pgserver" if os.geteuid() == 0 else None
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)
        except subprocess.CalledProcessError:
            if postmaster_pid(pgdata) is not None:
                raise
    handles = pgdata / HANDLES
    if handles.exists():
        handles.write_text("[]")
    return pid


def url_of(uri: str) -> str:
    """pgserver's URI, with the empty password dropped (asyncpg and libpq both accept it)."""
    return uri.replace("postgres:@", "postgres@", 1)
