"""The measurements behind docs/deploy.md's capacity plan (run on demand, never by the tests).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/regsosek_ops_capacity \\
        .venv/bin/python -m bench.capacity [--seconds 10] [--connections 16] [--workers 2]

On a database migrated and seeded with ``regsosek seed`` (1,000,000
households for the plan), prints as Markdown:

1. table and index sizes, per household and per person;
2. ``regsosek serve --workers N`` (production settings, audit on, JSON request
   logs at INFO) under wrk for Q1 and Q2 of ``bench.queries`` as program
   dinsos-pkh: requests/s, latency, and CPU milliseconds per request of the
   gateway's processes and of its PostgreSQL backends (from /proc), which is
   what the plan scales from, since throughput on a shared machine is noisy;
3. the audit trail's growth per request (partitions with their indexes).

Writes to the database it is given (one OAuth client, audit events).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import orjson
import yaml

from api.auth.clients import create_client
from bench.queries import Q1, Q2, Query
from db.engine import plain_url
from policies import load_policies

REPO = Path(__file__).resolve().parent.parent
REGSOSEK = str(Path(sys.executable).with_name("regsosek"))
PROGRAM = "dinsos-pkh"
TICKS = os.sysconf("SC_CLK_TCK")
BENCH_SECRET = "5f" * 32
"""A fixed master secret for the scratch database (its signing key must open on every run)."""
TABLES = ("households", "persons", "assistance_receipts", "regions")


@dataclass
class Run:
    query: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    gateway_cpu_ms: float
    read_cpu_ms: float
    """PostgreSQL backends of the gateway's pools: registry reads, tokens, quotas."""
    audit_cpu_ms: float
    """The audit writers' backends (``regsosek-audit``): what the primary spends per request."""
    others: float
    """Share of the machine's CPU used by anything else (other work on a shared machine)."""
    audit_bytes: float
    worker_rss_mb: float


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                found.append(int(entry.name))
    return found


def _tree(pid: int) -> list[int]:
    pids = [pid]
    for child in _children(pid):
        pids += _tree(child)
    return pids


def _children_cpu() -> float:
    """CPU seconds of this script's finished children (wrk)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _machine() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


async def sizes(connection: asyncpg.Connection) -> str:
    households = await connection.fetchval("SELECT count(*) FROM households")
    persons = await connection.fetchval("SELECT count(*) FROM persons")
    receipts = await connection.fetchval("SELECT count(*) FROM assistance_receipts")
    lines = [
        f"{households:,} households, {persons:,} persons, {receipts:,} assistance receipts",
        "",
        "| table | rows | table MB | indexes MB | table B/row | indexes B/row |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for table in TABLES:
        row = await connection.fetchrow(
            "SELECT pg_table_size($1::regclass), pg_indexes_size($1::regclass),"
            " (SELECT count(*) FROM pg_index WHERE indrelid = $1::regclass)",
            table,
        )
        rows = await connection.fetchval(f"SELECT count(*) FROM {table}")
        lines.append(
            f"| {table} | {rows:,} | {row[0] / 2**20:,.0f} | {row[1] / 2**20:,.0f}"
            f" ({row[2]} indexes) | {row[0] / max(rows, 1):,.0f} | {row[1] / max(rows, 1):,.0f} |"
        )
    database = await connection.fetchval("SELECT pg_database_size(current_database())")
    lines.append(f"\ndatabase {database / 2**20:,.0f} MB in all")
    return "\n".join(lines)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _lua(token: str, query: Query, values: list[str]) -> str:
    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    # The body as JSON, split where the variable's value goes.
    marker = "__VALUE__"
    body = orjson.dumps({"query": query.gateway, "variables": {query.variable: marker}}).decode()
    prefix, suffix = body.split(f'"{marker}"')
    listed = ",".join(quoted(f'"{value}"') for value in values)
    return "\n".join(
        [
            'wrk.method = "POST"',
            'wrk.headers["Content-Type"] = "application/json"',
            f'wrk.headers["Authorization"] = {quoted("Bearer " + token)}',
            f"local values = {{{listed}}}",
            f"local prefix = {quoted(prefix)}",
            f"local suffix = {quoted(suffix)}",
            "request = function()",
            "  local v = values[math.random(#values)]",
            '  return wrk.format(nil, "/graphql", nil, prefix .. v .. suffix)',
            "end",
        ]
    )


def _wrk(url: str, script: str, *, connections: int, seconds: int) -> tuple[int, float, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", file.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(file.name)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")

    def percentile(name: str) -> float:
        match = re.search(rf"{name}%\s+([\d.]+)(us|ms|s)", out)
        assert match is not None, out
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        return float(match.group(1)) * scale

    return requests, percentile("50"), percentile("99")


async def _backend_pids(connection: asyncpg.Connection) -> tuple[list[int], list[int]]:
    """The gateway's PostgreSQL backends: (reads and the rest, audit writers)."""
    rows = await connection.fetch(
        "SELECT pid, application_name FROM pg_stat_activity WHERE datname = current_database()"
        " AND usename = 'regsosek_app'"
    )
    audit = [row[0] for row in rows if row[1] == "regsosek-audit"]
    return [row[0] for row in rows if row[1] != "regsosek-audit"], audit


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _cpu(pids: list[int]) -> float:
    return sum(map(_cpu_seconds, pids))


async def _audit_bytes(connection: asyncpg.Connection) -> tuple[int, int]:
    """Bytes of the audit partitions with their indexes, and the events in them.

    VACUUM first, so that the GIN indexes' pending lists are merged and the
    size counts what the events will keep taking.
    """
    await connection.execute("VACUUM audit_events")
    row = await connection.fetchrow(
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0),"
        " (SELECT count(*) FROM audit_events)"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'audit_events'::regclass"
    )
    assert row is not None
    return row[0], row[1]


def _unlimited_policies(directory: Path) -> Path:
    """The shipped policies with the program's quotas lifted (a load test is not a client)."""
    target = directory / "policies"
    shutil.copytree(REPO / "policies", target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    program_file = target / "programs" / f"{PROGRAM}.yaml"
    program = yaml.safe_load(program_file.read_text())
    program["quota"] = {"requests_per_minute": 1_000_000, "rows_per_day": 1_000_000_000}
    program_file.write_text(yaml.safe_dump(program, sort_keys=False))
    return target


def _start(
    environment: dict[str, str], *, workers: int, port: int, log: Path
) -> subprocess.Popen[bytes]:
    """The gateway; its logs (JSON, one line a request) go to ``log``."""
    with log.open("wb") as sink:
        return subprocess.Popen(
            [REGSOSEK, "serve", "--workers", str(workers), "--port", str(port)],
            env=environment,
            stdout=sink,
            stderr=sink,
            start_new_session=True,
        )


async def measure(url: str, *, seconds: int, connections: int, workers: int) -> None:
    owner = await asyncpg.connect(url)
    print("## Sizes\n")
    print(await sizes(owner))
    credentials = await create_client(
        owner, program=PROGRAM, name="capacity", policies=load_policies(REPO / "policies")
    )
    kecamatan = [
        row[0]
        for row in await owner.fetch("SELECT DISTINCT kecamatan_code FROM households ORDER BY 1")
    ]
    largest = await owner.fetchval("SELECT max(id) FROM households")
    ids = [str(random.randint(1, largest)) for _ in range(2000)]
    port = _free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="regsosek-capacity-"))
    environment = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": url,
        "REGSOSEK_ENVIRONMENT": "production",
        "REGSOSEK_DATA_DIR": str(data_dir),
        "REGSOSEK_POLICY_DIR": str(_unlimited_policies(data_dir)),
        "REGSOSEK_SECRET_KEY": BENCH_SECRET,
        "REGSOSEK_PSEUDONYM_KEY": BENCH_SECRET,
        "REGSOSEK_ISSUER": "https://capacity.invalid",
        "REGSOSEK_LOG_LEVEL": "INFO",
    }
    log = data_dir / "serve.log"
    server = _start(environment, workers=workers, port=port, log=log)
    base = f"http://127.0.0.1:{port}"
    runs: list[Run] = []
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for _ in range(300):
                if server.poll() is not None:
                    raise RuntimeError(f"the gateway stopped; see {log}")
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
            answer = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(credentials.client_id, credentials.client_secret),
            )
            token = answer.json()["access_token"]
        for query, values in ((Q1, kecamatan), (Q2, ids)):
            script = _lua(token, query, values)
            _wrk(base, script, connections=connections, seconds=2)  # warm-up
            gateway = _tree(server.pid)
            reads, audit = await _backend_pids(owner)
            audit_before = await _audit_bytes(owner)
            before = _cpu(gateway), _cpu(reads), _cpu(audit), _machine(), _children_cpu()
            started = time.monotonic()
            requests, p50, p99 = _wrk(base, script, connections=connections, seconds=seconds)
            elapsed = time.monotonic() - started
            after = _cpu(gateway), _cpu(reads), _cpu(audit), _machine(), _children_cpu()
            audit_after = await _audit_bytes(owner)
            events = audit_after[1] - audit_before[1]
            used = [a - b for a, b in zip(after[:3], before[:3], strict=True)]
            busy = after[3][0] - before[3][0]
            total = after[3][1] - before[3][1]
            wrk_cpu = after[4] - before[4]
            runs.append(
                Run(
                    query=query.name,
                    requests=requests,
                    seconds=elapsed,
                    p50_ms=p50,
                    p99_ms=p99,
                    gateway_cpu_ms=used[0] * 1000 / requests,
                    read_cpu_ms=used[1] * 1000 / requests,
                    audit_cpu_ms=used[2] * 1000 / requests,
                    others=max(busy - sum(used) - wrk_cpu, 0.0) / total,
                    audit_bytes=(audit_after[0] - audit_before[0]) / max(events, 1),
                    worker_rss_mb=max(_rss_mb(pid) for pid in gateway[1:] or gateway),
                )
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        await owner.close()
    print(
        f"\n## Throughput: regsosek serve --workers {workers}, wrk -c{connections}"
        f" -d{seconds}s, program {PROGRAM}\n"
    )
    print(
        "| query | req/s | p50 ms | p99 ms | gateway CPU ms/req | PG reads CPU ms/req"
        " | PG audit CPU ms/req | audit bytes/event | worker RSS MB | others' CPU |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for run in runs:
        print(
            f"| {run.query} | {run.requests / run.seconds:,.0f} | {run.p50_ms:.1f}"
            f" | {run.p99_ms:.1f} | {run.gateway_cpu_ms:.2f} | {run.read_cpu_ms:.2f}"
            f" | {run.audit_cpu_ms:.2f} | {run.audit_bytes:,.0f} | {run.worker_rss_mb:.0f}"
            f" | {run.others:.0%} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    arguments = parser.parse_args()
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("set DATABASE_URL to a seeded database")
    asyncio.run(
        measure(
            plain_url(url),
            seconds=arguments.seconds,
            connections=arguments.connections,
            workers=arguments.workers,
        )
    )


if __name__ == "__main__":
    main()
