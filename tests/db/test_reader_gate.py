"""The fast path's statements set their own program: the second wall still holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import orjson
import pytest
from graphql import parse

from api.graphql.startup import READ_ONLY, read_settings
from db.engine import APP_ROLE, create_pool, with_user
from db.reader import RegistryReader, reset_connection
from policies import Program, load_policies
from schema.compiler.objects import CompileContext
from schema.compiler.roots import ROOTS
from schema.compiler.selection import Collected
from schema.compiler.statement import CompiledStatement, compile_statement
from schema.sealed_cursors import CursorKeys
from schema.stats_count import STATISTICS_OFF, STATISTICS_ON
from tests.policies.expected import HOUSEHOLD_SQL, IN_3509, PERSON_SQL
from tests.support import REPO, make_settings

PROGRAMS = sorted(HOUSEHOLD_SQL)
WALL_HOUSEHOLD_SQL = {
    **HOUSEHOLD_SQL,
    "dinkes-pbi": PERSON_SQL["dinkes-pbi"],
    "dp3akb-perlindungan-anak": IN_3509,
}
"""Households the PostgreSQL wall admits: a program that scopes persons directly
(dinkes-pbi) also reaches the households of those persons there, so that the
persons policy's sub-select sees them; the application gives it no household field."""


def gate(sql: str) -> str:
    """What ``compile_statement`` wraps around a statement (the program is $1 here)."""
    return compile_statement_gate(sql, 1)


def compile_statement_gate(sql: str, position: int) -> str:
    return (
        f"SELECT * FROM ({sql}) AS gated"
        f" WHERE (SELECT set_config('regsosek.program', ${position}::text, true)) = ${position}::text"
    )


@pytest.fixture(params=["force_generic_plan", "auto"])
async def reader(
    registry_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[RegistryReader]:
    """The gateway role's read pool, its statements planned once (the read pools' default,
    ``Settings.read_plan_cache_mode``) or as PostgreSQL chooses: the wall holds either way."""
    pool = await create_pool(
        with_user(registry_url, user=APP_ROLE, password=None),
        max_size=1,
        server_settings={**READ_ONLY, "plan_cache_mode": request.param},
        reset=reset_connection,
    )
    try:
        yield RegistryReader(primary=pool)
    finally:
        await pool.close()


@pytest.mark.parametrize("program", PROGRAMS)
async def test_a_gated_read_without_the_application_predicate_sees_only_the_programs_rows(
    program: str, reader: RegistryReader, owner: asyncpg.Connection
) -> None:
    expected_households = 0
    if WALL_HOUSEHOLD_SQL[program] is not None:
        expected_households = await owner.fetchval(
            f"SELECT count(*) FROM households h WHERE {WALL_HOUSEHOLD_SQL[program]}"
        )
    expected_persons = 0
    if PERSON_SQL[program] is not None:
        expected_persons = await owner.fetchval(
            f"SELECT count(*) FROM persons p JOIN households h ON h.id = p.household_id WHERE {PERSON_SQL[program]}"
        )
    households, persons = await reader.fetch(
        [
            (gate("SELECT count(*) AS n FROM households"), [program]),
            (gate("SELECT count(*) AS n FROM persons"), [program]),
        ]
    )
    assert households is not None
    assert persons is not None
    assert (households["n"], persons["n"]) == (expected_households, expected_persons)


async def test_the_program_does_not_outlive_its_statement(reader: RegistryReader) -> None:
    async with reader.primary.pool.acquire() as connection:
        everything = await connection.fetchval(gate("SELECT count(*) FROM households"), "bps-admin")
        assert everything > 0
        assert await connection.fetchval("SELECT count(*) FROM households") == 0
        assert await connection.fetchval("SELECT current_setting('regsosek.program', true)") in (
            "",
            None,
        )


async def test_an_unknown_or_hostile_program_reads_nothing(reader: RegistryReader) -> None:
    for program in ("", "nobody", "bps-admin' OR true --", "BPS-ADMIN"):
        (row,) = await reader.fetch([(gate("SELECT count(*) AS n FROM households"), [program])])
        assert row is not None
        assert row["n"] == 0


async def test_read_pools_refuse_writes_even_outside_a_transaction(reader: RegistryReader) -> None:
    async with reader.primary.pool.acquire() as connection:
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await connection.execute(
                "INSERT INTO rate_counters (scope, key, window_start, count) VALUES ('x', 'y', now(), 1)"
            )


async def test_the_gate_is_evaluated_once_at_the_top_of_a_compiled_statement(
    reader: RegistryReader,
) -> None:
    program = load_policies(REPO / "policies").programs["dinsos-pkh"]
    statement, arguments = _households_page(program)
    async with reader.primary.pool.acquire() as connection:
        plan = orjson.loads(
            await connection.fetchval("EXPLAIN (FORMAT JSON) " + statement.gated, *arguments)
        )
        gated_row = await connection.fetchrow(statement.gated, *arguments)
        async with connection.transaction():
            await connection.execute("SET LOCAL regsosek.program = 'dinsos-pkh'")
            plain_row = await connection.fetchrow(statement.sql, *arguments[:-1])
    top = plan[0]["Plan"]
    assert top["Node Type"] == "Result"
    assert "One-Time Filter" in top
    assert any(sub.get("Parent Relationship") == "InitPlan" for sub in top["Plans"])
    assert gated_row is not None
    assert plain_row is not None
    assert tuple(gated_row) == tuple(plain_row)
    assert orjson.loads(gated_row["data"])["nodes"]


def _households_page(program: Program) -> tuple[CompiledStatement, list[object]]:
    """Q1 of the benchmark as the gateway compiles it: a page of 100 households of a
    kecamatan with their members, gated, and its arguments."""
    document = parse(
        '{ households(first: 100, filter: {regionCode: "3509720"}) {'
        " nodes { id kkNumber members { nik name age } } } }"
    )
    node = document.definitions[0].selection_set.selections[0]  # type: ignore[attr-defined]
    root = Collected("households", "households", (node,))
    prepared = ROOTS["households"].prepare(
        {"first": 100, "filter": {"regionCode": "3509720"}},
        program,
        cursor_keys=CursorKeys(b"c" * 32).for_program(program.name),
    )
    ctx = CompileContext(program=program, pseudonym_key=b"k" * 32, fragments={}, variables={})
    statement = compile_statement(ROOTS["households"].build(ctx, root, prepared), frozenset())
    return statement, [*statement.arguments(prepared.params), program.name]


async def test_the_read_pools_plan_a_statement_once_and_statistics_plan_for_their_values(
    registry_url: str, tmp_path: Path
) -> None:
    settings = make_settings(registry_url, tmp_path)
    assert read_settings(settings)["plan_cache_mode"] == "force_generic_plan"
    assert read_settings(settings)["default_transaction_read_only"] == "on"
    pool = await create_pool(
        with_user(registry_url, user=APP_ROLE, password=None),
        max_size=1,
        server_settings=read_settings(settings),
        reset=reset_connection,
    )
    program = load_policies(REPO / "policies").programs["dinsos-pkh"]
    statement, arguments = _households_page(program)
    try:
        async with pool.acquire() as connection:
            rows = [await connection.fetchrow(statement.gated, *arguments) for _ in range(3)]
            plans = await connection.fetchrow(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE statement = $1",
                statement.gated,
            )
            async with connection.transaction():
                previous = await connection.fetchrow(STATISTICS_ON, None)
                during = await connection.fetchval("SELECT current_setting('plan_cache_mode')")
                assert previous is not None
                await connection.execute(STATISTICS_OFF, previous[0], previous[1], previous[2])
                after = await connection.fetchval("SELECT current_setting('plan_cache_mode')")
    finally:
        await pool.close()
    assert all(row == rows[0] for row in rows)
    assert rows[0] is not None
    assert orjson.loads(rows[0]["data"])["nodes"]
    assert plans is not None
    assert (plans["generic_plans"], plans["custom_plans"]) == (3, 0)
    assert (during, after) == ("auto", "force_generic_plan")


def test_compile_statement_wraps_exactly_this_gate() -> None:
    from sqlalchemy import literal_column, select

    statement = compile_statement(select(literal_column("1").label("data")), frozenset())
    assert statement.gated == compile_statement_gate(statement.sql, len(statement.names) + 1)
