"""How long ``householdStats`` takes over a large registry (target: 1,000,000 households by
kecamatan × decile under 300 ms).

Seeds (once) a bench database on ``DATABASE_URL``'s server (default the local
PostgreSQL) with ``db.seed.seed_registry``, VACUUM ANALYZEs it so index-only
scans work, then times the ``householdStats`` root exactly as a request runs
it: as ``regsosek_app``, inside ``BEGIN READ ONLY; SET LOCAL regsosek.program``,
through ``schema.stats.HouseholdStatsRoot.value``. *Cold* runs use a new root
each time (counted and protected afresh: the first request after a release
when nothing is stored); *stored* runs use a new root that reads the counts and
protection ``regsosek worker`` stored (``schema.stats_store``: the first request
in each gateway process after a release, once the worker is done); *warm* runs
reuse one (counts and protected lattice kept). Prints the plan of the
statement and the timings. The database is kept for re-runs unless ``--drop``.

    .venv/bin/python -m bench.stats_bench [--households 1000000] [--runs 15] [--drop]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import asyncpg

from api.cli.db import upgrade_database
from db.engine import APP_ROLE, plain_url, with_database, with_user
from db.seed import seed_registry
from policies import load_policies
from policies.loader import PACKAGED_POLICY_DIR
from schema.execute import Caller
from schema.stats import HouseholdStatsRoot, plan_statistics
from schema.stats_count import STATISTICS_ON, count
from schema.stats_fill import fill
from schema.stats_store import SharedCounts

PROGRAMS = ("bps-admin", "dinsos-pkh", "bappeda-statistik")
GROUP_BY = ["KECAMATAN", "WELFARE_DECILE"]
SEED = 20221015
SESSION = {"TimeZone": "UTC", "jit": "off"}
"""As ``api.graphql.startup.server_settings``."""


async def prepare(server: str, name: str, households: int) -> str:
    url = with_database(server, name)
    admin = await asyncpg.connect(with_database(server, "postgres"))
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    await upgrade_database(url)
    owner = await asyncpg.connect(url)
    try:
        present = await owner.fetchval("SELECT count(*) FROM households")
        if present != households:
            await owner.close()
            started = time.perf_counter()
            summary = await seed_registry(
                url, households=households, seed=SEED, progress=True, replace=True
            )
            print(
                f"seeded {summary.households:,} households in {time.perf_counter() - started:.0f} s"
            )
            owner = await asyncpg.connect(url)
        await owner.execute("VACUUM ANALYZE households")
    finally:
        await owner.close()
    return url


async def drop(server: str, name: str) -> None:
    admin = await asyncpg.connect(with_database(server, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def in_transaction(
    connection: asyncpg.Connection, program: str, work: Callable[[], Awaitable[Any]]
) -> float:
    """Milliseconds ``work`` takes inside the gateway's read transaction."""
    await connection.execute(f"BEGIN READ ONLY; SET LOCAL regsosek.program = '{program}'")
    try:
        started = time.perf_counter()
        await work()
        return (time.perf_counter() - started) * 1000
    finally:
        await connection.execute("COMMIT")


def summary(label: str, times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"{label:<22} median {statistics.median(times):6.1f} ms   "
        f"min {ordered[0]:6.1f}   p95 {p95:6.1f}   max {ordered[-1]:6.1f}"
    )


async def measure(url: str, runs: int) -> None:
    policies = load_policies(PACKAGED_POLICY_DIR)
    app_url = with_user(url, user=APP_ROLE, password=None)
    connection = await asyncpg.connect(app_url, server_settings=SESSION)
    pool = await asyncpg.create_pool(app_url, min_size=1, max_size=1, server_settings=SESSION)
    assert pool is not None
    try:
        started = time.perf_counter()
        filled = await fill(pool, policies, today=date.today())
        print(
            f"regsosek worker's fill: {len(filled)} populations counted, protected and stored in"
            f" {time.perf_counter() - started:.1f} s (off the request path)"
        )
        for name in PROGRAMS:
            await measure_program(connection, Caller("bench", policies.programs[name]), runs)
        await explain(connection, policies.programs["bappeda-statistik"])
    finally:
        await pool.close()
        await connection.close()


async def measure_program(connection: asyncpg.Connection, caller: Caller, runs: int) -> None:
    """The statement alone, the root with a fresh lattice (cold), and the root reused (warm)."""
    args = {"groupBy": GROUP_BY}
    program = caller.program
    warm_root = HouseholdStatsRoot()
    plan = plan_statistics(args, program)
    statement = warm_root._statement(program, plan)
    cells: list[dict[str, Any]] = []

    async def statement_only() -> None:
        await count(connection, statement, params=plan.params, program=program, filtered=False)

    async def cold() -> None:
        await HouseholdStatsRoot().value(caller=caller, args=args, connection=connection)

    async def stored() -> None:
        root = HouseholdStatsRoot(shared=SharedCounts(None))
        await root.value(caller=caller, args=args, connection=connection)

    async def warm() -> None:
        cells[:] = await warm_root.value(caller=caller, args=args, connection=connection)

    await in_transaction(connection, program.name, warm)
    timings = {
        label: [await in_transaction(connection, program.name, work) for _ in range(runs)]
        for label, work in (
            ("statement only", statement_only),
            ("cold (count, protect)", cold),
            ("stored (worker's)", stored),
            ("warm", warm),
        )
    }
    hidden = sum(cell["suppressed"] for cell in cells)
    print(f"\n{program.name} (k = {program.k_min}): {len(cells)} cells, {hidden} suppressed")
    for label, times in timings.items():
        print("  " + summary(label, times))


async def explain(connection: asyncpg.Connection, program: Any) -> None:
    root = HouseholdStatsRoot()
    plan = plan_statistics({"groupBy": GROUP_BY}, program)
    statement = root._statement(program, plan)
    await connection.execute(f"BEGIN READ ONLY; SET LOCAL regsosek.program = '{program.name}'")
    try:
        await connection.fetchrow(STATISTICS_ON, None)
        rows = await connection.fetch(
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement.sql,
            *statement.arguments(plan.params),
        )
    finally:
        await connection.execute("ROLLBACK")
    print(f"\nplan ({program.name}):")
    for row in rows:
        line = row[0]
        if "Filter: " in line and len(line) > 160:
            line = line[:160] + " …"
        print("  " + line)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--database", default="regsosek_stats_bench")
    parser.add_argument("--drop", action="store_true", help="drop the bench database at the end")
    options = parser.parse_args()
    server = plain_url(
        os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    url = await prepare(server, options.database, options.households)
    try:
        await measure(url, options.runs)
    finally:
        if options.drop:
            await drop(server, options.database)


if __name__ == "__main__":
    asyncio.run(main())
