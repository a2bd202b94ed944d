"""How long naming persons by pseudonym takes: the directory's build, and a lookup through it
against the scan it replaced (``schema.pseudonym_directory``).

Runs against a seeded database (``bench.run --prepare`` makes ``regsosek_bench_1m`` and
``regsosek_bench_10m`` on the bench's cluster), upgraded to the current migrations. Builds
dinkes-pbi's directory under a fresh key (as ``regsosek worker`` does after a release), then
times ``NamedPersons.find`` in dinkes-pbi's read transaction for 1, 10, 100 and 1,000 tokens
of random persons in its scope (``reportAssistance`` takes at most 1,000 rows), 7 times each,
checking that every token resolves. ``--scan`` also times the former statement for one token
(minutes at 10,000,000 households).

    DATABASE_URL=postgresql://postgres@127.0.0.1:15432/postgres \\
        .venv/bin/python -m bench.pseudonym_bench --database regsosek_bench_10m [--scan]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import asyncpg

from api.cli.db import upgrade_database
from db.engine import APP_ROLE, plain_url, with_database, with_user
from policies import load_policies
from policies.loader import PACKAGED_POLICY_DIR
from policies.masks import pseudonym
from schema.pseudonym_directory import NamedPersons, build
from schema.subjects import persons_named

PROGRAM = "dinkes-pbi"
SIZES = (1, 10, 100, 1000)
RUNS = 7
SAMPLE = (
    "SELECT p.nik FROM persons p JOIN households h ON h.id = p.household_id"
    " WHERE h.kabupaten_code = '3509' AND h.welfare_decile <= 5 AND p.nik IS NOT NULL"
    " ORDER BY random() LIMIT $1"
)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="regsosek_bench_1m")
    parser.add_argument("--scan", action="store_true", help="also time the former scan")
    options = parser.parse_args()
    server = plain_url(
        os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:15432/postgres")
    )
    url = with_database(server, options.database)
    await upgrade_database(url)
    program = load_policies(PACKAGED_POLICY_DIR).programs[PROGRAM]
    key = os.urandom(32)
    app = with_user(url, user=APP_ROLE, password=None)
    owner = await asyncpg.connect(url)
    pool = await asyncpg.create_pool(app, min_size=1, max_size=1)
    assert pool is not None
    try:
        households = await owner.fetchval("SELECT count(*) FROM households")
        print(f"{options.database}: {households:,} households")
        await owner.execute("DELETE FROM pseudonym_directories WHERE program = $1", PROGRAM)
        started = time.perf_counter()
        persons = await build(pool, program, pseudonym_key=key)
        took = time.perf_counter() - started
        size = await owner.fetchval("SELECT pg_size_pretty(pg_total_relation_size('pseudonyms'))")
        print(f"build: {persons:,} persons in {took:.1f} s; table and index {size}")
        niks = [row[0] for row in await owner.fetch(SAMPLE, max(SIZES) * RUNS)]
        named = NamedPersons(key)
        async with pool.acquire() as connection:
            for count in SIZES:
                times = []
                for run in range(RUNS):
                    chosen = niks[run * count : (run + 1) * count]
                    tokens = [pseudonym(n, program=PROGRAM, pseudonym_key=key) for n in chosen]
                    async with connection.transaction(readonly=True):
                        await connection.execute(
                            "SELECT set_config('regsosek.program', $1, true)", PROGRAM
                        )
                        started = time.perf_counter()
                        rows = await named.find(connection, program, tokens)
                        times.append((time.perf_counter() - started) * 1000)
                    if len(rows) != len(tokens):
                        raise SystemExit(f"{len(rows)} of {len(tokens)} tokens resolved")
                print(
                    f"lookup of {count:>5,} tokens: median {statistics.median(times):7.1f} ms"
                    f" (min {min(times):.1f}, max {max(times):.1f}), every token resolved"
                )
            if options.scan:
                statement = persons_named(program, key)
                tokens = [pseudonym(niks[0], program=PROGRAM, pseudonym_key=key)]
                async with connection.transaction(readonly=True):
                    await connection.execute(
                        "SELECT set_config('regsosek.program', $1, true)", PROGRAM
                    )
                    started = time.perf_counter()
                    await connection.fetch(
                        statement.sql, *statement.arguments({"q_tokens": tokens})
                    )
                print(f"the former scan, 1 token: {time.perf_counter() - started:.1f} s")
    finally:
        await pool.close()
        await owner.close()


if __name__ == "__main__":
    asyncio.run(main())
