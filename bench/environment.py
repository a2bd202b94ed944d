"""What a result was measured on, recorded in every result file.

PostgreSQL's durability and memory settings (read from the server, not from
the bench's intentions), a ``pg_test_fsync`` figure for the sync method in
use, the CPU model, kernel, memory, and the versions of everything that ran:
Python, node, PostGraphile, PostgreSQL, the peer's libraries, k6, wrk,
pgbench, and the gateway's commit (with whether the product tree was dirty).
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import asyncpg

from bench.servers import ROOT

SETTINGS = (
    "server_version",
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "max_connections",
    "autovacuum",
    "synchronous_commit",
    "fsync",
    "full_page_writes",
    "wal_sync_method",
    "wal_level",
    "max_wal_size",
    "checkpoint_timeout",
    "jit",
    "huge_pages",
)


def _out(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT)
    except OSError:
        return ""
    return (done.stdout or done.stderr).strip()


def git_commit() -> dict[str, Any]:
    product = ["api", "schema", "policies", "db", "migrations", "audit"]
    dirty = _out(
        ["git", "status", "--porcelain", "--", *[p for p in product if (ROOT / p).exists()]]
    )
    return {
        "commit": _out(["git", "rev-parse", "--short", "HEAD"]),
        "dirty": dirty.splitlines(),
    }


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


async def postgres_settings(url: str) -> dict[str, str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT name, current_setting(name) AS value FROM pg_settings WHERE name = ANY($1)",
            list(SETTINGS),
        )
    finally:
        await connection.close()
    found = {row["name"]: row["value"] for row in rows}
    return {name: found[name] for name in SETTINGS if name in found}


def tool_versions() -> dict[str, str]:
    wrk = _out(["wrk", "--version"]).splitlines()
    return {
        "wrk": wrk[0] if wrk else "",
        "pgbench": _out(["pgbench", "--version"]),
    }
