"""The second wall: as ``regsosek_app``, a query without the application predicate still
sees only the program's rows, and nothing at all without a known program."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta

import asyncpg
import pytest

from db.engine import APP_ROLE, with_user
from policies import PolicySet, load_policies
from policies.loader import PACKAGED_POLICY_DIR
from policies.model import Agreement
from policies.rls import (
    POLICY_NAME,
    SET_PROGRAM_SQL,
    SET_STATISTICS_SQL,
    applied_version,
    apply_policies,
    policy_statements,
)
from tests.policies.expected import ASSISTANCE_SQL, HOUSEHOLD_SQL, IN_3509, PERSON_SQL

RLS_HOUSEHOLD_SQL = {
    **HOUSEHOLD_SQL,
    # A direct person scope makes its household part visible to the persons policy.
    "dinkes-pbi": PERSON_SQL["dinkes-pbi"],
    "dp3akb-perlindungan-anak": IN_3509,
}


@pytest.fixture(scope="module")
def policy_set() -> PolicySet:
    return load_policies(PACKAGED_POLICY_DIR)


@pytest.fixture(scope="module")
async def owner_connection(registry_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(registry_url)
    yield connection
    await connection.close()


@pytest.fixture(scope="module")
async def app_connection(registry_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(with_user(registry_url, user=APP_ROLE, password=None))
    yield connection
    await connection.close()


async def _expected(owner: asyncpg.Connection, condition: str | None, *, table: str) -> set[int]:
    if condition is None:
        return set()
    sql = {
        "households": f"SELECT h.id FROM households h WHERE {condition}",
        "persons": "SELECT p.id FROM persons p JOIN households h ON h.id = p.household_id"
        f" WHERE {condition}",
        "assistance_receipts": "SELECT a.id FROM assistance_receipts a"
        f" JOIN households h ON h.id = a.household_id WHERE {condition}",
    }[table]
    return {row[0] for row in await owner.fetch(sql)}


async def _visible(
    app: asyncpg.Connection, table: str, *, program: str | None, statistics: bool = False
) -> set[int]:
    """Plain ``SELECT id FROM table``: no application predicate at all."""
    async with app.transaction(readonly=True):
        if program is not None:
            await app.execute(SET_PROGRAM_SQL, program)
        if statistics:
            await app.execute(SET_STATISTICS_SQL)
        return {row[0] for row in await app.fetch(f"SELECT id FROM {table}")}


@pytest.mark.parametrize("name", sorted(HOUSEHOLD_SQL))
async def test_plain_selects_as_the_app_role_see_only_the_programs_rows(
    owner_connection: asyncpg.Connection, app_connection: asyncpg.Connection, name: str
) -> None:
    for table, conditions in (
        ("households", RLS_HOUSEHOLD_SQL),
        ("persons", PERSON_SQL),
        ("assistance_receipts", ASSISTANCE_SQL),
    ):
        expected = await _expected(owner_connection, conditions[name], table=table)
        assert await _visible(app_connection, table, program=name) == expected, table


@pytest.mark.parametrize("program", [None, "", "nobody", "BPS-ADMIN", "bps-admin' OR true --"])
async def test_without_a_known_program_the_app_role_sees_nothing(
    owner_connection: asyncpg.Connection, app_connection: asyncpg.Connection, program: str | None
) -> None:
    for table in ("households", "persons", "assistance_receipts"):
        assert await owner_connection.fetchval(f"SELECT count(*) FROM {table}") > 0
        assert await _visible(app_connection, table, program=program) == set()


async def test_the_program_setting_does_not_outlive_its_transaction(
    app_connection: asyncpg.Connection,
) -> None:
    assert await _visible(app_connection, "households", program="bps-admin")
    assert await app_connection.fetch("SELECT id FROM households") == []


async def test_statistics_mode_opens_only_the_statistics_scope_of_households(
    owner_connection: asyncpg.Connection, app_connection: asyncpg.Connection
) -> None:
    in_3509 = await _expected(owner_connection, IN_3509, table="households")
    visible = await _visible(
        app_connection, "households", program="bappeda-statistik", statistics=True
    )
    assert visible == in_3509
    for table in ("persons", "assistance_receipts"):
        assert (
            await _visible(app_connection, table, program="bappeda-statistik", statistics=True)
            == set()
        )
    dinsos = await _expected(owner_connection, HOUSEHOLD_SQL["dinsos-pkh"], table="households")
    assert await _visible(app_connection, "households", program="dinsos-pkh", statistics=True) == (
        dinsos
    )


async def test_an_expired_agreement_closes_the_wall_too(
    make_database: Callable[[], Awaitable[str]], policy_set: PolicySet
) -> None:
    url = await make_database()
    yesterday = date.today() - timedelta(days=1)
    programs = dict(policy_set.programs)
    programs["bps-admin"] = dataclasses.replace(
        programs["bps-admin"],
        agreement=Agreement("X", yesterday - timedelta(days=30), yesterday),
    )
    await apply_policies(url, dataclasses.replace(policy_set, programs=programs))
    app = await asyncpg.connect(with_user(url, user=APP_ROLE, password=None))
    try:
        for table in ("households", "persons", "assistance_receipts"):
            assert await _visible(app, table, program="bps-admin") == set()
        assert await _visible(app, "households", program="kec-sumbersari")
    finally:
        await app.close()


async def test_apply_replaces_foreign_policies_and_records_the_version(
    make_database: Callable[[], Awaitable[str]], policy_set: PolicySet
) -> None:
    url = await make_database()
    owner = await asyncpg.connect(url)
    try:
        await owner.execute(
            f"CREATE POLICY wide_open ON households FOR SELECT TO {APP_ROLE} USING (true)"
        )
        await apply_policies(url, policy_set)
        names = {
            row[0]
            for row in await owner.fetch(
                "SELECT policyname FROM pg_policies WHERE tablename = ANY($1::text[])",
                ["households", "persons", "assistance_receipts"],
            )
        }
        assert names == {POLICY_NAME}
        assert await applied_version(url) == policy_set.version
    finally:
        await owner.close()


async def test_apply_is_atomic(
    make_database: Callable[[], Awaitable[str]],
    policy_set: PolicySet,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = await make_database()
    before = await applied_version(url)
    assert before == policy_set.version
    broken = [*policy_statements(policy_set), "SELECT no_such_function()"]
    monkeypatch.setattr("policies.rls.policy_statements", lambda _: broken)
    renamed = dataclasses.replace(policy_set, version="0" * 64)
    with pytest.raises(asyncpg.UndefinedFunctionError):
        await apply_policies(url, renamed)
    assert await applied_version(url) == before
    app = await asyncpg.connect(with_user(url, user=APP_ROLE, password=None))
    try:
        assert await _visible(app, "households", program="kec-sumbersari")
    finally:
        await app.close()


def test_generated_policies_use_one_case_on_the_program_setting(policy_set: PolicySet) -> None:
    households = next(s for s in policy_statements(policy_set) if "CREATE POLICY" in s)
    assert "CASE (SELECT current_setting('regsosek.program', true))" in households
    assert "ELSE false END" in households
    assert "WHEN 'inspektorat-audit'" not in households


def _sub_plans(node: dict[str, object]) -> list[dict[str, object]]:
    """Every sub-plan (``SubPlan n``, not init plans) under ``node``, nested ones included."""
    found = []
    if str(node.get("Subplan Name", "")).startswith("SubPlan"):
        found.append(node)
    for child in node.get("Plans", []):  # type: ignore[attr-defined]
        found += _sub_plans(child)
    return found


async def test_a_member_row_is_probed_against_its_household_once_whatever_the_programs(
    make_database: Callable[[], Awaitable[str]], policy_set: PolicySet
) -> None:
    """The persons and receipts policies hold one sub-select on households for all programs:
    PostgreSQL sets up every sub-plan of a statement each time it runs it, so one per
    program made every read of a family's members cost more with each program added."""
    programs = dict(policy_set.programs)
    for copy in range(2, 10):
        programs[f"dinsos-pkh-{copy}"] = dataclasses.replace(
            programs["dinsos-pkh"], name=f"dinsos-pkh-{copy}"
        )
    url = await make_database()
    await apply_policies(url, dataclasses.replace(policy_set, programs=programs))
    owner = await asyncpg.connect(url)
    try:
        await owner.execute("ANALYZE households, persons, assistance_receipts")
    finally:
        await owner.close()
    app = await asyncpg.connect(with_user(url, user=APP_ROLE, password=None))
    try:
        for table in ("persons", "assistance_receipts"):
            async with app.transaction(readonly=True):
                await app.execute(SET_PROGRAM_SQL, "dinsos-pkh")
                await app.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                plan = await app.fetchval(
                    f"EXPLAIN (FORMAT JSON) SELECT id FROM {table} WHERE household_id = 1"
                )
            sub_plans = _sub_plans(json.loads(plan)[0]["Plan"])
            scans = [node for node in sub_plans if node.get("Relation Name") == "households"]
            assert len(sub_plans) == 1, (table, sub_plans)
            assert len(scans) == 1, (table, sub_plans)
            # Never hashed: a hashed probe reads every household of the program's scope
            # before the first row (at 1,000,000 households a page of dinkes-pbi's persons
            # took 0.6 s so, 1.4 ms probing its rows' households one by one). Costs that
            # make the hashed form the planner's choice whenever it exists:
            async with app.transaction(readonly=True):
                await app.execute(SET_PROGRAM_SQL, "dinkes-pbi")
                await app.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                await app.execute("SET LOCAL enable_indexscan = off")
                await app.execute("SET LOCAL enable_bitmapscan = off")
                plan = await app.fetchval(f"EXPLAIN (FORMAT JSON) SELECT count(*) FROM {table}")
            kinds = [node["Subplan Name"] for node in _sub_plans(json.loads(plan)[0]["Plan"])]
            assert kinds, (table, plan)
            assert "hashed SubPlan" not in plan, (table, plan)  # said in the filter's text
    finally:
        await app.close()
