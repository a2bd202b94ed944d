"""Throwaway PostgreSQL servers for the replication tests: a primary and a hot standby.

Both run from a temporary directory on loopback ports of their own, never
touching the machine's cluster or its configuration. ``initdb`` and the server
refuse to run as root, so under root (CI) every PostgreSQL binary runs as an
unprivileged system user (``postgres`` where Debian's packages made one, else
``pgserver``, the user the ``pgserver`` wheel creates).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DEBIAN_BIN = Path("/usr/lib/postgresql")
SERVER_USERS = ("postgres", "pgserver")


def postgres_bin() -> Path:
    """Debian's newest PostgreSQL binaries, else the ones the ``pgserver`` wheel ships."""
    versions = sorted(
        (path for path in DEBIAN_BIN.glob("*/bin") if (path / "pg_basebackup").exists()),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def server_user() -> pwd.struct_passwd | None:
    """Who runs the servers: nobody special unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in SERVER_USERS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError(f"running as root needs one of the system users {SERVER_USERS}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    """One PostgreSQL server under ``data``, listening on 127.0.0.1:``port``."""

    name: str
    data: Path
    port: int
    workdir: Path

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def url(self, database: str = "postgres", user: str | None = "postgres") -> str:
        login = f"{user}@" if user else ""
        return f"postgresql://{login}127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            f"-p {self.port}",
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def kill(self) -> None:
        """Last resort at clean-up: SIGQUIT the postmaster named in its pid file."""
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGQUIT)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def run(program: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL binary (as the server user when we are root)."""
    user = server_user()
    completed = subprocess.run(
        [str(postgres_bin() / program), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "TZ": "UTC"},
        user=user.pw_uid if user else None,
        group=user.pw_gid if user else None,
        extra_groups=[] if user else None,
        cwd="/",
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{program} failed ({completed.returncode}): {completed.stderr}")
    return completed


SERVER_SETTINGS = """
listen_addresses = '127.0.0.1'
unix_socket_directories = '{sockets}'
wal_level = replica
max_wal_senders = 4
hot_standby = on
hot_standby_feedback = on
fsync = off
synchronous_commit = off
shared_buffers = 32MB
max_connections = 60
log_statement = 'all'
log_line_prefix = '%a|'
"""


@contextlib.contextmanager
def primary_and_standby() -> Iterator[tuple[Server, Server]]:
    """A running primary (``wal_level=replica``) and, once ``make_standby`` is called on it,
    a hot standby cloned with ``pg_basebackup -R``; both stopped and deleted at the end."""
    workdir = Path(tempfile.mkdtemp(prefix="regsosek-replication-"))
    user = server_user()
    if user is not None:
        os.chown(workdir, user.pw_uid, user.pw_gid)
    workdir.chmod(0o700)
    primary = Server("primary", workdir / "primary", free_port(), workdir)
    standby = Server("standby", workdir / "standby", free_port(), workdir)
    try:
        run(
            "initdb",
            "-D",
            str(primary.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        settings = SERVER_SETTINGS.format(sockets=workdir)
        with (primary.data / "postgresql.conf").open("a") as conf:
            conf.write(settings)
        primary.start()
        yield primary, standby
    finally:
        for server in (standby, primary):
            if server.is_running():
                try:
                    server.stop("immediate")
                except (RuntimeError, subprocess.TimeoutExpired):
                    server.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def clone_standby(primary: Server, standby: Server) -> None:
    """``pg_basebackup -R`` the primary into ``standby`` and start it as a hot standby."""
    run(
        "pg_basebackup",
        "-h",
        "127.0.0.1",
        "-p",
        str(primary.port),
        "-U",
        "postgres",
        "-D",
        str(standby.data),
        "-R",
        "-X",
        "stream",
        "-c",
        "fast",
        "--no-sync",
    )
    standby.start()
