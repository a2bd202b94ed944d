"""Start and stop the systems under test, and read what they cost from /proc.

Each server is a subprocess in its own session; it is stopped by signalling
that process group only (its own id), first SIGTERM, then SIGKILL. CPU is
``utime + stime`` of the server's process tree; PostgreSQL's share is the same
for the backends connected to the bench database (``pg_stat_activity``),
sampled at both ends of a run (a pooled server keeps its backends, so each is
seen twice). The whole PostgreSQL cluster (live children of the postmaster
plus what it has reaped, ``cutime + cstime``) and the whole machine
(``/proc/stat``) are recorded too, to show how much else was running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import asyncpg
import httpx

TICK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; everything after its ")" is space-separated.
    return text[text.rindex(")") + 2 :].split()


def process_ticks(pid: int, *, children: bool = False) -> int:
    """utime + stime (+ cutime + cstime of reaped children) of one process, in clock ticks."""
    fields = _stat(pid)
    if fields is None:
        return 0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks


def descendants(root: int) -> list[int]:
    """``root`` and every live process below it."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields is not None:
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def machine_busy_ticks() -> int:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values[:8]) - idle


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def pids(self) -> list[int]:
        return descendants(self.process.pid)

    def rss(self) -> dict[int, float]:
        return {pid: rss_mb(pid) for pid in self.pids()}


def start(
    name: str, argv: list[str], *, env: Mapping[str, str], port: int, cwd: Path | None = None
) -> Server:
    log = WORK / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            env={**os.environ, **env},
            cwd=cwd or ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(name, process, f"http://127.0.0.1:{port}", log)


def wait_ready(server: Server, path: str, *, timeout: float = 90.0, method: str = "GET") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited: {tail(server.log)}")
        with contextlib.suppress(httpx.HTTPError):
            response = httpx.request(method, server.base + path, timeout=2, json={})
            if response.status_code < 500:
                return
        time.sleep(0.3)
    stop(server)
    raise RuntimeError(f"{server.name} did not answer within {timeout:.0f} s: {tail(server.log)}")


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop(server: Server) -> None:
    """SIGTERM to the server's own process group, SIGKILL if it lingers."""
    if server.process.poll() is not None:
        return
    group = server.process.pid  # the group leader: start_new_session made pgid == pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    try:
        server.process.wait(timeout=25)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        server.process.wait(timeout=10)


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        stop(server)


@dataclass
class Sample:
    at: float
    server: dict[int, int]
    backends: dict[int, int]
    cluster: int
    machine: int


@dataclass
class Usage:
    seconds: float
    server_cpu_s: float
    backend_cpu_s: float
    cluster_cpu_s: float
    machine_cpu_s: float
    backends: int = 0
    backend_cpu_by_app: dict[str, float] = field(default_factory=dict)
    """Backend CPU by ``application_name`` (the gateway's reads, its audit writer, …)."""


class Meter:
    """CPU of a server's process tree and of the bench database's backends during a run.

    Client backends (and parallel workers) of the bench database are polled
    every ``interval`` seconds while the run lasts, so that the short-lived ones
    (pgbench's) are seen too; each backend's CPU is its last reading minus its
    reading at the start (zero if it started later). A backend's CPU after its
    last poll is missed: at most ``interval``. Autovacuum is not counted (it is
    in the cluster's and the machine's totals).
    """

    def __init__(self, url: str, *, database: str, interval: float = 0.2) -> None:
        self.url = url
        self.monitor: asyncpg.Connection | None = None
        self.database = database
        self.interval = interval
        self.postmaster: int | None = None
        self.apps: dict[int, str] = {}

    async def _backends(self) -> dict[int, int]:
        if self.monitor is None or self.monitor.is_closed():  # new, or the server restarted
            self.monitor = await asyncpg.connect(self.url)
            self.postmaster = None
        rows = await self.monitor.fetch(
            "SELECT pid, application_name FROM pg_stat_activity WHERE datname = $1"
            " AND pid <> pg_backend_pid()"
            " AND backend_type IN ('client backend', 'parallel worker')",
            self.database,
        )
        for row in rows:
            self.apps[row["pid"]] = row["application_name"] or "?"
        return {row["pid"]: process_ticks(row["pid"]) for row in rows}

    async def close(self) -> None:
        if self.monitor is not None and not self.monitor.is_closed():
            await self.monitor.close()

    async def sample(self, server: Server | None) -> Sample:
        backends = await self._backends()
        assert self.monitor is not None
        if self.postmaster is None:
            mine = await self.monitor.fetchval("SELECT pg_backend_pid()")
            fields = _stat(mine)
            self.postmaster = int(fields[1]) if fields else None
        cluster = 0
        if self.postmaster is not None:
            cluster = process_ticks(self.postmaster, children=True) + sum(
                process_ticks(pid) for pid in descendants(self.postmaster)[1:]
            )
        tree = {pid: process_ticks(pid) for pid in server.pids()} if server else {}
        return Sample(time.monotonic(), tree, backends, cluster, machine_busy_ticks())

    async def measure(self, server: Server | None, work: Awaitable[T]) -> tuple[T, Usage]:
        """Run ``work`` while polling; its result and what the run cost."""
        before = await self.sample(server)
        seen: dict[int, int] = dict(before.backends)
        done = asyncio.Event()

        async def poll() -> None:
            while not done.is_set():
                for pid, ticks in (await self._backends()).items():
                    if ticks:
                        seen[pid] = max(ticks, seen.get(pid, 0))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), self.interval)

        poller = asyncio.create_task(poll())
        try:
            result = await work
        finally:
            done.set()
            await poller
        after = await self.sample(server)
        for pid, ticks in after.backends.items():
            seen[pid] = max(ticks, seen.get(pid, 0))
        by_app: dict[str, float] = {}
        for pid, ticks in seen.items():
            app = self.apps.get(pid, "?")
            by_app[app] = by_app.get(app, 0.0) + (ticks - before.backends.get(pid, 0)) / TICK
        backend = sum(ticks - before.backends.get(pid, 0) for pid, ticks in seen.items())
        server_ticks = sum(t - before.server.get(pid, 0) for pid, t in after.server.items())
        usage = Usage(
            seconds=after.at - before.at,
            server_cpu_s=server_ticks / TICK,
            backend_cpu_s=backend / TICK,
            cluster_cpu_s=(after.cluster - before.cluster) / TICK,
            machine_cpu_s=(after.machine - before.machine) / TICK,
            backends=len(seen),
            backend_cpu_by_app=by_app,
        )
        return result, usage
