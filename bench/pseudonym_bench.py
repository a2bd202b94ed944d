"""How long naming persons by pseudonym takes: the directory's build, and a lookup through it
against the scan it replaced (``schema.pseudonym_directory``).

Runs against a seeded database (``bench.run --prepare`` makes ``regsosek_bench_1m`` and
``regsosek_bench_10m`` on the bench's cluster), upgraded to the current migrations. Builds
dinkes-pbi's directory under a fresh key (as ``regsosek worker`` does after a release), then
times ``NamedPersons.find`` in dinkes-pbi's read transaction for 1, 10, 100 and 1,000 tokens
of random persons in its scope (``reportAssistance`` takes at most 1,000 rows), 7 times each,
checking that every token resolves. ``--scan`` also times the former statement for one token
(minutes at 10,000,000 households).

``--updates 0.001,0.01,0.1`` then imports, one after the other, releases that change that
share of the households (``bench.releases_bench.write_release``: every n-th family's desil
mirrored, which moves many in or out of dinkes-pbi's scope, and a member renamed in a tenth of
them) and times the directory's update after each (``build`` listing again only the changed
families), a lookup of 100 persons of changed families (the directory alone must resolve
them), and with ``--verify`` checks that the updated directory holds exactly what a whole
build would. These run on a scratch copy of the database (``CREATE DATABASE … TEMPLATE``),
dropped at the end, or with ``--in-place`` on the database itself (where the disk cannot hold
a copy: the 10,000,000 one; its families' desils and members' names are then changed, and the
same shares run twice change the desils back).

    DATABASE_URL=postgresql://postgres@127.0.0.1:15432/postgres \\
        .venv/bin/python -m bench.pseudonym_bench --database regsosek_bench_10m [--scan] \\
        [--updates 0.001,0.01,0.1 [--verify]]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from api.cli.db import upgrade_database
from bench.releases_bench import write_release
from db.engine import APP_ROLE, plain_url, with_database, with_user
from db.importer import import_registry
from policies import Program, load_policies
from policies.loader import PACKAGED_POLICY_DIR
from policies.masks import pseudonym
from schema.pseudonym_build import INSERT_ENTRIES, build, build_statement
from schema.pseudonym_directory import CURRENT, NamedPersons
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
    parser.add_argument("--updates", default="", help="shares of households a release changes")
    parser.add_argument("--verify", action="store_true", help="check each update against a build")
    parser.add_argument("--in-place", action="store_true", help="no scratch copy (see above)")
    options = parser.parse_args()
    server = plain_url(
        os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:15432/postgres")
    )
    url = with_database(server, options.database)
    await upgrade_database(url)
    shares = [float(share) for share in options.updates.split(",") if share]
    if not shares:
        await measure(url, options)
        return
    if options.in_place:
        key = await measure(url, options)
        for share in shares:
            await update(url, key, share=share, verify=options.verify)
        return
    scratch = f"pseudonym_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    try:
        started = time.perf_counter()
        await admin.execute(f'CREATE DATABASE "{scratch}" TEMPLATE "{options.database}"')
        print(f"scratch copy {scratch} in {time.perf_counter() - started:.1f} s")
        copy = with_database(server, scratch)
        key = await measure(copy, options)
        for share in shares:
            await update(copy, key, share=share, verify=options.verify)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        await admin.close()


async def measure(url: str, options: argparse.Namespace) -> bytes:
    """The whole build and the lookups (and the former scan); the key built under."""
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
        built = await build(pool, program, pseudonym_key=key)
        took = time.perf_counter() - started
        assert built is not None
        assert built.families is None
        persons = built.persons
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
    return key


async def update(url: str, key: bytes, *, share: float, verify: bool) -> None:
    """A release changing ``share`` of the households, then the directory's update."""
    program = load_policies(PACKAGED_POLICY_DIR).programs[PROGRAM]
    owner = await asyncpg.connect(url)
    pool = await asyncpg.create_pool(
        with_user(url, user=APP_ROLE, password=None), min_size=1, max_size=1
    )
    assert pool is not None
    try:
        with tempfile.TemporaryDirectory() as directory:
            written = await write_release(url, Path(directory), share=share)
            started = time.perf_counter()
            await import_registry(url, Path(directory), release=f"bench-{uuid.uuid4().hex[:8]}")
            imported = time.perf_counter() - started
        started = time.perf_counter()
        built = await build(pool, program, pseudonym_key=key)
        took = time.perf_counter() - started
        assert built is not None
        size = await owner.fetchval("SELECT pg_size_pretty(pg_total_relation_size('pseudonyms'))")
        how = "whole" if built.families is None else f"{built.families:,} families listed again"
        print(
            f"release changing {share:.1%} ({written['households_in_file']:,} families in the"
            f" file; import {imported:.1f} s): update {took:.2f} s, {how},"
            f" {built.persons:,} persons; table and index {size}"
        )
        changed = await owner.fetch(
            "SELECT p.nik FROM persons p JOIN households h ON h.id = p.household_id"
            " WHERE h.updated_at = (SELECT max(imported_at) FROM releases)"
            " AND h.kabupaten_code = '3509' AND h.welfare_decile <= 5 AND p.nik IS NOT NULL"
            " ORDER BY random() LIMIT 100"
        )
        tokens = [pseudonym(row[0], program=PROGRAM, pseudonym_key=key) for row in changed]
        named = NamedPersons(key)
        async with pool.acquire() as connection, connection.transaction(readonly=True):
            await connection.execute("SELECT set_config('regsosek.program', $1, true)", PROGRAM)
            assert await named._state(connection, program) == CURRENT
            started = time.perf_counter()
            rows = await named.find(connection, program, tokens)
            looked = (time.perf_counter() - started) * 1000
        if len(rows) != len(tokens):
            raise SystemExit(f"{len(rows)} of {len(tokens)} changed families' persons resolved")
        print(
            f"  lookup of {len(tokens)} persons of changed families: {looked:.1f} ms, all resolved"
        )
        if verify:
            await check_exact(pool, program, key)
    finally:
        await pool.close()
        await owner.close()


async def check_exact(pool: asyncpg.Pool, program: Program, key: bytes) -> None:
    """The updated directory against what a whole build lists, both ways, in one snapshot."""
    statement = build_statement(program, key)
    listing = statement.sql.removeprefix(INSERT_ENTRIES)  # the SELECT of the INSERT
    assert listing.startswith("SELECT")
    listed = f"SELECT l.prefix, l.id, l.household_id FROM ({listing}) AS l"
    stored = "SELECT prefix, person_id, household_id FROM pseudonyms"  # row-level security
    async with pool.acquire() as connection, connection.transaction(isolation="repeatable_read"):
        await connection.execute("SELECT set_config('regsosek.program', $1, true)", PROGRAM)
        arguments = statement.arguments({"q_program": PROGRAM})
        missing = await connection.fetchval(
            f"SELECT count(*) FROM (({listed}) EXCEPT ALL ({stored})) AS m", *arguments
        )
        extra = await connection.fetchval(
            f"SELECT count(*) FROM (({stored}) EXCEPT ALL ({listed})) AS m", *arguments
        )
    print(f"  against a whole build: {missing} missing, {extra} extra")
    if missing or extra:
        raise SystemExit("the updated directory differs from a whole build")


if __name__ == "__main__":
    asyncio.run(main())
