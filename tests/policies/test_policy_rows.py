"""For every shipped program, ``readable_rows`` selects exactly the rows computed independently.

The expected sets are plain SQL over the seeded registry that does not use
the derived household columns (ages from ``birth_date``, the head's sex from
the head's row), so the compiler and the derived columns are checked together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import create_engine
from policies import (
    Entity,
    PolicySet,
    Program,
    home_of_visible_person,
    readable_rows,
    statistics_rows,
)
from policies.loader import PACKAGED_POLICY_DIR, load_policies
from policies.model import Agreement
from tests.policies.expected import ASSISTANCE_SQL, HOUSEHOLD_SQL, IN_3509, PERSON_SQL


@pytest.fixture(scope="module")
def policy_set() -> PolicySet:
    return load_policies(PACKAGED_POLICY_DIR)


@pytest.fixture(scope="module")
async def engine(registry_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(registry_url)
    yield engine
    await engine.dispose()


async def _ids(engine: AsyncEngine, sql: str) -> set[int]:
    from sqlalchemy import text

    async with engine.connect() as connection:
        return {row[0] for row in await connection.execute(text(sql))}


async def _readable_ids(engine: AsyncEngine, entity: Entity, *, program: Program) -> set[int]:
    readable = readable_rows(entity, program=program, name="r")
    statement = select(readable.table.c.id).where(readable.predicate)
    async with engine.connect() as connection:
        return {row[0] for row in await connection.execute(statement)}


def test_the_eight_contract_programs_ship(policy_set: PolicySet) -> None:
    assert set(policy_set.programs) == set(HOUSEHOLD_SQL)


@pytest.mark.parametrize("name", sorted(HOUSEHOLD_SQL))
async def test_program_reads_exactly_its_households(
    engine: AsyncEngine, policy_set: PolicySet, name: str
) -> None:
    condition = HOUSEHOLD_SQL[name]
    expected = (
        set()
        if condition is None
        else await _ids(engine, f"SELECT h.id FROM households h WHERE {condition}")
    )
    program = policy_set.programs[name]
    assert await _readable_ids(engine, Entity.HOUSEHOLD, program=program) == expected
    total = await _ids(engine, "SELECT id FROM households")
    if condition not in (None, "true"):
        assert 0 < len(expected) < len(total), "the scope should select a proper subset"


@pytest.mark.parametrize("name", sorted(PERSON_SQL))
async def test_program_reads_exactly_its_persons(
    engine: AsyncEngine, policy_set: PolicySet, name: str
) -> None:
    condition = PERSON_SQL[name]
    expected = (
        set()
        if condition is None
        else await _ids(
            engine,
            "SELECT p.id FROM persons p JOIN households h ON h.id = p.household_id"
            f" WHERE {condition}",
        )
    )
    program = policy_set.programs[name]
    assert await _readable_ids(engine, Entity.PERSON, program=program) == expected
    if condition is not None:
        assert expected


@pytest.mark.parametrize("name", sorted(ASSISTANCE_SQL))
async def test_program_reads_exactly_its_assistance_receipts(
    engine: AsyncEngine, policy_set: PolicySet, name: str
) -> None:
    condition = ASSISTANCE_SQL[name]
    expected = (
        set()
        if condition is None
        else await _ids(
            engine,
            "SELECT a.id FROM assistance_receipts a JOIN households h ON h.id = a.household_id"
            f" WHERE {condition}",
        )
    )
    program = policy_set.programs[name]
    assert await _readable_ids(engine, Entity.ASSISTANCE, program=program) == expected


async def test_members_of_visible_households_need_no_household_condition(
    engine: AsyncEngine, policy_set: PolicySet
) -> None:
    program = policy_set.programs["dinsos-pkh"]
    households = readable_rows(Entity.HOUSEHOLD, program=program, name="h")
    members = readable_rows(Entity.PERSON, program=program, name="m", parent_visible=True)
    statement = (
        select(members.table.c.id)
        .select_from(households.table)
        .join(members.table, members.table.c.household_id == households.table.c.id)
        .where(households.predicate, members.predicate)
    )
    async with engine.connect() as connection:
        joined = {row[0] for row in await connection.execute(statement)}
    assert joined == await _readable_ids(engine, Entity.PERSON, program=program)


async def test_bappeda_counts_the_kabupaten_but_reads_no_rows(
    engine: AsyncEngine, policy_set: PolicySet
) -> None:
    program = policy_set.programs["bappeda-statistik"]
    readable = statistics_rows(program=program, name="s")
    async with engine.connect() as connection:
        counted = {
            row[0]
            for row in await connection.execute(
                select(readable.table.c.id).where(readable.predicate)
            )
        }
    assert counted == await _ids(engine, f"SELECT h.id FROM households h WHERE {IN_3509}")
    assert await _readable_ids(engine, Entity.HOUSEHOLD, program=program) == set()
    assert await _readable_ids(engine, Entity.PERSON, program=program) == set()


def _expired(program: Program) -> Program:
    yesterday = date.today() - timedelta(days=1)
    window = Agreement(program.agreement.number, yesterday - timedelta(days=365), yesterday)
    return dataclasses.replace(program, agreement=window)


@pytest.mark.parametrize("entity", list(Entity))
async def test_a_program_whose_agreement_is_over_reads_nothing(
    engine: AsyncEngine, policy_set: PolicySet, entity: Entity
) -> None:
    program = _expired(policy_set.programs["bps-admin"])
    assert not program.agreement.in_force(date.today())
    assert await _readable_ids(engine, entity, program=program) == set()


async def test_a_program_whose_agreement_has_not_started_reads_nothing(
    engine: AsyncEngine, policy_set: PolicySet
) -> None:
    program = policy_set.programs["bps-admin"]
    tomorrow = date.today() + timedelta(days=1)
    future = dataclasses.replace(
        program, agreement=Agreement("X", tomorrow, tomorrow + timedelta(days=30))
    )
    assert await _readable_ids(engine, Entity.HOUSEHOLD, program=future) == set()


@pytest.mark.parametrize("name", sorted(PERSON_SQL))
async def test_households_of_visible_persons_are_the_person_scopes_household_part(
    engine: AsyncEngine, policy_set: PolicySet, name: str
) -> None:
    """What ``Person.region`` may read of a person's household, and no more."""
    condition = {**PERSON_SQL, "dp3akb-perlindungan-anak": IN_3509}[name]
    expected = (
        set()
        if condition is None
        else await _ids(engine, f"SELECT h.id FROM households h WHERE {condition}")
    )
    readable = home_of_visible_person(program=policy_set.programs[name], name="h")
    async with engine.connect() as connection:
        rows = await connection.execute(select(readable.table.c.id).where(readable.predicate))
        assert {row[0] for row in rows} == expected
