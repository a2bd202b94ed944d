"""The bench's own PostgreSQL cluster, under ``bench/.work/pg``, with ``docs/deploy.md``'s settings.

``make bench`` and ``make bench-quick`` measure against a cluster that no one
else uses, set up as the deployment guide says a production server should be:

* ``shared_buffers`` a quarter of the machine's memory;
* autovacuum on (PostgreSQL's default), ``fsync`` on, ``full_page_writes`` on,
  ``synchronous_commit = on``: durable WAL, so an audit commit pays a real
  flush (``wal_sync_method`` is the platform default, recorded with a
  ``pg_test_fsync`` figure in every result file);
* ``max_wal_size`` 4 GB, so that a timed run is not cut by a checkpoint the
  bench did not ask for (it issues ``CHECKPOINT`` itself before each run);
* ``max_connections`` 400: PostGraphile gets a pool at least the concurrency
  in each of its processes.

The cluster listens on 127.0.0.1 at its own port (15432 unless told) with
trust authentication for local connections only, runs as the ``postgres``
system user (PostgreSQL refuses to run as root), is created once and reused,
and is stopped (``pg_ctl stop -m fast``, its own data directory only) when the
bench ends. The bench databases persist in it between runs.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.servers import WORK

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_DIR = WORK / "pg"
DEFAULT_PORT = 15432
OWNER = "postgres"
"""The system user the cluster runs as; the superuser role has the same name."""


def _settings(port: int, socket_dir: Path) -> dict[str, str]:
    memory_kb = int(
        next(
            line.split()[1]
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        )
    )
    return {
        "listen_addresses": "'127.0.0.1'",
        "port": str(port),
        "unix_socket_directories": f"'{socket_dir}'",
        "shared_buffers": f"{memory_kb // 4 // 1024}MB",
        "autovacuum": "on",
        "fsync": "on",
        "full_page_writes": "on",
        "synchronous_commit": "on",
        "max_wal_size": "4GB",
        "max_connections": "400",
        "logging_collector": "off",
        "log_min_messages": "warning",
    }


@dataclass(frozen=True)
class Cluster:
    """A running private cluster: its superuser URL and where it lives."""

    port: int
    data: Path

    @property
    def url(self) -> str:
        return f"postgresql://{OWNER}@127.0.0.1:{self.port}/postgres"


def _as_owner(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", OWNER, "--", *argv]


def _run(argv: list[str]) -> str:
    done = subprocess.run(_as_owner(argv), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:2])} failed: {(done.stdout + done.stderr)[-1500:]}")
    return done.stdout


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam(OWNER)
        os.chown(path, user.pw_uid, user.pw_gid)


def start_cluster(*, port: int = DEFAULT_PORT) -> Cluster:
    """Create (once) and start the bench cluster; an already running one is reused."""
    if not (PG_BIN / "initdb").exists():
        raise SystemExit(
            f"no PostgreSQL 15 server binaries in {PG_BIN}: apt-get install postgresql"
        )
    data, sockets = PG_DIR / "data", PG_DIR / "run"
    for folder in (PG_DIR, sockets):
        folder.mkdir(parents=True, exist_ok=True)
        _chown(folder)
    if not (data / "PG_VERSION").exists():
        print(f"creating the bench's PostgreSQL cluster in {data} …", flush=True)
        _run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                OWNER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
        )
    conf = data / "postgresql.conf"
    text = re.sub(r"\n# bench settings.*", "", conf.read_text(), flags=re.DOTALL)
    lines = [f"{name} = {value}" for name, value in _settings(port, sockets).items()]
    conf.write_text(text + "\n# bench settings (bench/cluster.py)\n" + "\n".join(lines) + "\n")
    cluster = Cluster(port, data)
    if _status(data):
        _run([str(PG_BIN / "pg_ctl"), "-D", str(data), "reload"])
        return cluster
    log = PG_DIR / "postgres.log"
    log.touch()
    _chown(log)
    _run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "120", "start"])
    return cluster


def _status(data: Path) -> bool:
    done = subprocess.run(
        _as_owner([str(PG_BIN / "pg_ctl"), "-D", str(data), "status"]),
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def stop_cluster(cluster: Cluster) -> None:
    """``pg_ctl stop -m fast`` on the bench's own data directory (nothing else)."""
    if _status(cluster.data):
        _run([str(PG_BIN / "pg_ctl"), "-D", str(cluster.data), "-w", "-m", "fast", "stop"])


def fsync_figure(seconds: int = 2) -> dict[str, float]:
    """``pg_test_fsync`` on the cluster's file system: one 8 kB write, ops/s per sync method."""
    target = PG_DIR / "pg_test_fsync.tmp"
    started = time.perf_counter()
    done = subprocess.run(
        [str(PG_BIN / "pg_test_fsync"), "-s", str(seconds), "-f", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    target.unlink(missing_ok=True)
    section = done.stdout.split("one 8kB write", 1)[-1].split(
        "Compare file sync methods using two", 1
    )[0]
    figures = {
        match[1]: float(match[2].replace(",", ""))
        for match in re.finditer(r"^\s+(\S+)\s+([\d,.]+) ops/sec", section, flags=re.MULTILINE)
    }
    figures["seconds"] = round(time.perf_counter() - started, 1)
    return figures


def disk_free_bytes() -> int:
    PG_DIR.mkdir(parents=True, exist_ok=True)
    return shutil.disk_usage(PG_DIR).free


def directory_bytes(path: Path) -> int:
    done = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=False)
    return int(done.stdout.split()[0]) if done.returncode == 0 and done.stdout else 0
