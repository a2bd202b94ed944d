"""How long ``regsosek seed`` takes for a million households (run on demand, never by tests).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python -m bench.seed_bench [--households N] [--seed S]

Creates a scratch database on DATABASE_URL's server, migrates it, times
``seed_registry``, prints the time, row counts and table sizes, and drops
the database. The target is under 3 minutes for 1,000,000 households on a
2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid

import asyncpg

from api.cli.db import upgrade_database
from db.engine import plain_url, with_database
from db.seed import seed_registry

TABLES = ("households", "persons", "assistance_receipts")


async def bench(server: str, *, households: int, seed: int) -> None:
    name = f"regsosek_seed_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(with_database(server, "postgres"))
    await admin.execute(f"CREATE DATABASE {name}")
    url = with_database(server, name)
    try:
        await upgrade_database(url)
        summary = await seed_registry(url, households=households, seed=seed, progress=True)
        print(
            f"seeded {summary.households:,} households, {summary.persons:,} persons,"
            f" {summary.assistance_receipts:,} receipts in {summary.seconds:.1f} s"
        )
        connection = await asyncpg.connect(url)
        try:
            for table in TABLES:
                row = await connection.fetchrow(
                    "SELECT pg_size_pretty(pg_table_size($1::regclass)) AS data,"
                    " pg_size_pretty(pg_indexes_size($1::regclass)) AS indexes",
                    table,
                )
                print(f"{table:<22} data {row['data']:>8}  indexes {row['indexes']:>8}")
        finally:
            await connection.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20221015)
    arguments = parser.parse_args()
    server = os.environ.get("DATABASE_URL")
    if not server:
        raise SystemExit("set DATABASE_URL to a server where this role may create databases")
    asyncio.run(bench(plain_url(server), households=arguments.households, seed=arguments.seed))


if __name__ == "__main__":
    main()
