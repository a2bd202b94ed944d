"""An embedded PostgreSQL (the ``pgserver`` wheel) for when ``DATABASE_URL`` is unset.

The server lives under ``<data_dir>/pgdata``, listens only on a Unix socket,
and stops when the last process that started it exits.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DATABASE = "regsosek"


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start (or join) the embedded server and yield a URL of its ``regsosek`` database."""
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset (it falls back to /tmp).
        warnings.simplefilter("ignore")
        from pgserver import get_server  # type: ignore[attr-defined]

    logging.getLogger("pgserver").setLevel(logging.WARNING)
    pgdata = (data_dir / "pgdata").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode="stop")
    with server:
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE {DATABASE};")
        yield url_of(server.get_uri(DATABASE))


def url_of(uri: str) -> str:
    """pgserver's URI, with the empty password dropped (asyncpg and libpq both accept it)."""
    return uri.replace("postgres:@", "postgres@", 1)
