"""The bench databases: migrated, seeded, analysed once, reused while their marker matches.

A database ``regsosek_bench_<size>`` on DATABASE_URL's server holds the
registry seeded with ``SEED``; its ``COMMENT`` records what was seeded. A run
reuses it when the comment and the household count match, otherwise (or with
``--fresh``) it is dropped and rebuilt. Every run re-applies the migrations
(a no-op at head) and the bench-only objects:

* the LOGIN role ``bench_pgl_dinsos`` that PostGraphile and the naive
  Strawberry peer connect as, with row-level security policies rendered from
  the gateway's own dinsos-pkh row scope (``policies.rls.table_predicates``)
  and SELECT granted only on the columns behind the fields dinsos-pkh may read
  (``db.catalog`` + ``Program.mode``);
* the schema ``bench_view``: views ``households`` and ``persons`` holding the
  same columns and the same predicates as ``WHERE`` clauses (owned by the
  superuser, so no RLS applies through them), with PostGraphile smart tags for
  their keys, read by the LOGIN role ``bench_pgl_view``: PostGraphile scoping
  through a view instead of RLS, returning the same rows;
* ``bench.draws``: what requests draw their variable from, the same list for
  every HTTP system (wrk's Lua scripts embed it): ``id``, a sample of
  dinsos-pkh-visible household ids (Q2), and ``region``, the kecamatan holding
  at least 100 of them (Q1); pgbench draws from the same list in the client
  (``bench.load.draw_tree``), with no lookup.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from api.cli.db import upgrade_database
from db.catalog import CATALOG, Kind
from db.engine import APP_ROLE, with_database, with_user
from db.entities import Entity
from db.seed import seed_registry
from policies import FieldMode, Program, load_policies
from policies.loader import PACKAGED_POLICY_DIR
from policies.rls import render_predicate, table_predicates

SEED = 20_221_015
MARKER_VERSION = 1
PROGRAM = "dinsos-pkh"
PGL_ROLE = "bench_pgl_dinsos"
VIEW_ROLE = "bench_pgl_view"
VIEW_SCHEMA = "bench_view"
Q2_SAMPLE = 20_000


@dataclass(frozen=True)
class BenchDatabase:
    name: str
    url: str
    households: int
    seeded_seconds: float | None
    """Seconds spent seeding in this run; None when reused."""
    q2_ids: list[str]
    """Household ids visible to dinsos-pkh (Q2 draws from them)."""
    kecamatan: list[str]
    """Kecamatan codes holding at least 100 dinsos-pkh households (Q1 draws from them)."""

    def draws(self, variable: str | None) -> list[str] | None:
        return {"id": self.q2_ids, "region": self.kecamatan}.get(variable or "")

    def login(self, role: str) -> str:
        """This database's URL for one of the bench's LOGIN roles (trust authentication)."""
        return with_user(self.url, user=role, password=None)


def database_name(households: int) -> str:
    if households % 1_000_000 == 0:
        return f"regsosek_bench_{households // 1_000_000}m"
    if households % 1_000 == 0:
        return f"regsosek_bench_{households // 1_000}k"
    return f"regsosek_bench_{households}"


def _marker(households: int) -> str:
    return json.dumps({"bench": MARKER_VERSION, "households": households, "seed": SEED})


async def prepare(
    server: str, *, households: int, fresh: bool, name: str | None = None
) -> BenchDatabase:
    """The bench database for ``households`` (named ``name`` if given): reused when its
    marker matches, else built."""
    name = name or database_name(households)
    url = with_database(server, name)
    admin = await asyncpg.connect(with_database(server, "postgres"))
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        comment = await admin.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            name,
        )
        reuse = bool(exists) and not fresh and comment == _marker(households)
        if reuse:
            reuse = await _holds(url, households)
        if not reuse:
            if exists:
                await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()

    await upgrade_database(url)
    seconds = None
    if not reuse:
        started = time.perf_counter()
        print(f"seeding {households:,} households into {name} …", flush=True)
        await seed_registry(url, households=households, seed=SEED)
        connection = await asyncpg.connect(url)
        try:
            await connection.execute("VACUUM ANALYZE")
            await connection.execute(f"COMMENT ON DATABASE \"{name}\" IS '{_marker(households)}'")
        finally:
            await connection.close()
        seconds = time.perf_counter() - started
        print(f"seeded and analysed {name} in {seconds:.0f} s", flush=True)
    else:
        print(f"reusing {name} ({households:,} households, seed {SEED})", flush=True)

    connection = await asyncpg.connect(url)
    try:
        await install_postgraphile_access(connection)
        q2_ids = await _draws(connection, "id", "SELECT id FROM households ORDER BY id")
        kecamatan = await _draws(
            connection,
            "region",
            "SELECT kecamatan_code FROM households GROUP BY 1 HAVING count(*) >= 100 ORDER BY 1",
        )
    finally:
        await connection.close()
    return BenchDatabase(name, url, households, seconds, q2_ids, kecamatan)


async def _holds(url: str, households: int) -> bool:
    try:
        connection = await asyncpg.connect(url)
    except (OSError, asyncpg.PostgresError):
        return False
    try:
        count = await connection.fetchval("SELECT count(*) FROM households")
    except asyncpg.PostgresError:
        return False
    finally:
        await connection.close()
    return bool(count == households)


def dinsos_program() -> Program:
    return load_policies(PACKAGED_POLICY_DIR).programs[PROGRAM]


def granted_columns(program: Program) -> dict[str, list[str]]:
    """Columns behind the fields ``program`` may read, per table, plus the join keys."""
    columns: dict[str, set[str]] = {
        "households": {"id", "desa_code", "kecamatan_code", "kabupaten_code", "provinsi_code"},
        "persons": {"id", "household_id"},
    }

    def walk(type_name: str, table: str) -> None:
        for attribute in CATALOG[type_name].attributes.values():
            if program.mode(type_name, attribute.name) is FieldMode.DENIED:
                continue
            if attribute.kind is Kind.SCALAR and attribute.column:
                columns[table].add(attribute.column)
            elif attribute.kind is Kind.OBJECT and attribute.target:
                target = CATALOG[attribute.target]
                if target.table is None:
                    walk(attribute.target, table)

    walk("Household", "households")
    walk("Person", "persons")
    return {table: sorted(names) for table, names in columns.items()}


async def install_postgraphile_access(connection: asyncpg.Connection) -> None:
    """PostGraphile's role: dinsos-pkh's rows through RLS, its columns through grants."""
    program = dinsos_program()
    predicates = table_predicates(program)
    async with connection.transaction():
        role = await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", PGL_ROLE)
        if not role:
            await connection.execute(f"CREATE ROLE {PGL_ROLE}")
        # A LOGIN role under the same RLS: PostGraphile needs no pgSettings, hence no
        # transaction per request (its best legitimate setup).
        await connection.execute(f"ALTER ROLE {PGL_ROLE} LOGIN")
        await connection.execute(f"GRANT USAGE ON SCHEMA public TO {PGL_ROLE}")
        await connection.execute(f"REVOKE ALL ON households, persons FROM {PGL_ROLE}")
        for table, names in granted_columns(program).items():
            await connection.execute(f"GRANT SELECT ({', '.join(names)}) ON {table} TO {PGL_ROLE}")
        for entity, table_name in ((Entity.HOUSEHOLD, "households"), (Entity.PERSON, "persons")):
            table, predicate = predicates[entity]
            using = render_predicate(predicate, table)
            await connection.execute(f"DROP POLICY IF EXISTS bench_pgl ON {table_name}")
            await connection.execute(
                f"CREATE POLICY bench_pgl ON {table_name} FOR SELECT TO {PGL_ROLE} USING ({using})"
            )
        await install_view_access(connection, program=program, predicates=predicates)
        await connection.execute("CREATE SCHEMA IF NOT EXISTS bench")
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS bench.draws"
            " (kind text, n int, value text NOT NULL, PRIMARY KEY (kind, n))"
        )
        # pgbench's "DB floor under RLS" runs as the gateway role and draws from here too.
        await connection.execute(f"GRANT USAGE ON SCHEMA bench TO {APP_ROLE}")
        await connection.execute(f"GRANT SELECT ON bench.draws TO {APP_ROLE}")


async def install_view_access(
    connection: asyncpg.Connection, *, program: Program, predicates: dict[Entity, Any]
) -> None:
    """``bench_view.households`` / ``.persons``: the same rows as RLS gives, through views."""
    role = await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", VIEW_ROLE)
    if not role:
        await connection.execute(f"CREATE ROLE {VIEW_ROLE} LOGIN")
    await connection.execute(f"DROP SCHEMA IF EXISTS {VIEW_SCHEMA} CASCADE")
    await connection.execute(f"CREATE SCHEMA {VIEW_SCHEMA}")
    columns = granted_columns(program)
    for entity, table_name in ((Entity.HOUSEHOLD, "households"), (Entity.PERSON, "persons")):
        table, predicate = predicates[entity]
        where = render_predicate(predicate, table)
        await connection.execute(
            f"CREATE VIEW {VIEW_SCHEMA}.{table_name} AS SELECT {', '.join(columns[table_name])}"
            f" FROM public.{table_name} WHERE {where}"
        )
    tags = {
        "households": "@primaryKey id",
        "persons": "@primaryKey id\\n@foreignKey (household_id) references"
        f" {VIEW_SCHEMA}.households (id)",
    }
    for table_name, tag in tags.items():
        await connection.execute(f"COMMENT ON VIEW {VIEW_SCHEMA}.{table_name} IS E'{tag}'")
    await connection.execute(f"GRANT USAGE ON SCHEMA {VIEW_SCHEMA} TO {VIEW_ROLE}")
    await connection.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {VIEW_SCHEMA} TO {VIEW_ROLE}")


async def _draws(connection: asyncpg.Connection, kind: str, sql: str) -> list[str]:
    """The values ``kind`` requests draw from; computed once per bench database."""
    stored = await connection.fetch(
        "SELECT value FROM bench.draws WHERE kind = $1 ORDER BY n", kind
    )
    if stored:
        return [row["value"] for row in stored]
    async with connection.transaction():
        await connection.execute(f"SET LOCAL ROLE {PGL_ROLE}")
        values = [str(row[0]) for row in await connection.fetch(sql)]
    if kind == "id":
        values = random.Random(SEED).sample(values, min(Q2_SAMPLE, len(values)))
    await connection.copy_records_to_table(
        "draws",
        schema_name="bench",
        records=[(kind, n, value) for n, value in enumerate(values, start=1)],
    )
    await connection.execute("ANALYZE bench.draws")
    return values
