"""Property: a random row scope compiled to SQL selects exactly the rows that the same
scope selects when evaluated in Python, over random registries in a scratch database.

Both the application path (bind parameters) and the row-level-security path
(literals rendered into SQL text) are checked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import date
from types import MappingProxyType

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.catalog import ASSETS
from db.engine import create_engine
from policies import Entity, FieldMode, PersonScope, Program, readable_rows
from policies.conditions import Condition, Everything, Nothing
from policies.model import Agreement, PolicySet, Quota
from policies.rls import POLICY_NAME, SET_PROGRAM_SQL, policy_statements, render_predicate
from policies.scope_parser import parse_household_condition, parse_person_condition
from policies.yamlnodes import Reader
from tests.policies.scopes import (
    DESAS,
    HOUSEHOLD_ATOMS,
    PERSON_ATOMS,
    HouseholdRow,
    conditions,
    holds,
    registries,
    to_yaml,
)
from tests.support import create_database, drop_database

EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SCOPES_PER_REGISTRY = 6

HOUSEHOLD_COLUMNS = (
    "tenure, floor_area, floor_material, wall_material, roof_material, drinking_water, lighting,"
    " electricity_wattage, cooking_fuel, toilet, waste_disposal, "
    + ", ".join(attribute.column or "" for attribute in ASSETS.attributes.values())
)
HOUSEHOLD_CONSTANTS = (
    "'OWN', 36, 'CERAMIC', 'MASONRY', 'CLAY_TILE', 'PIPED', 'PLN_METERED', 'VA_900', 'LPG_3KG',"
    " 'OWN', 'SEPTIC_TANK', " + ", ".join(["false"] * 17)
)
INSERT_HOUSEHOLD = text(
    "INSERT INTO households (id, kk_number, desa_code, sls_code, address, head_name,"
    f" member_count, welfare_decile, head_sex, youngest_birth_date, {HOUSEHOLD_COLUMNS})"
    " VALUES (:id, :kk, :desa, :sls, 'Jl. Uji', 'Kepala', :members, :decile, 'MALE',"
    f" '1900-01-01', {HOUSEHOLD_CONSTANTS})"
)
DIFFICULTY_COLUMNS = (
    "difficulty_seeing, difficulty_hearing, difficulty_walking, difficulty_hands,"
    " difficulty_remembering, difficulty_behaviour, difficulty_communicating, difficulty_self_care"
)
INSERT_PERSON = text(
    "INSERT INTO persons (id, household_id, member_no, nik, name, sex, birth_date,"
    " relationship_to_head, marital_status, pregnant, has_birth_certificate, has_kia, has_ktp,"
    " enrollment, education_level, worked_last_week, chronic_illness, insurance_pbi_jkn,"
    " insurance_jkn_self_paid, insurance_jkn_employer, insurance_other, protection_prakerja,"
    f" protection_kur, protection_umi, protection_pip, protection_bpjs_tk, {DIFFICULTY_COLUMNS})"
    " VALUES (:id, :household, :no, :nik, 'Warga', CAST(:sex AS sex), :birth,"
    " CAST(:relationship AS relationship), 'SINGLE', :pregnant, true, false, true, 'NO_LONGER',"
    " 'SD', false, 'NONE', false, false, false, false, false, false, false, false, false, "
    + ", ".join(f"CAST(:d{i} AS difficulty_level)" for i in range(8))
    + ")"
)
INSERT_RECEIPT = text(
    "INSERT INTO assistance_receipts (household_id, program, month, year)"
    " VALUES (:household, CAST(:program AS assistance_program), 1, 2026)"
)
DERIVE = [
    text(
        "UPDATE households h SET head_sex = p.sex FROM persons p"
        " WHERE p.household_id = h.id AND p.relationship_to_head = 'HEAD'"
    ),
    text(
        "UPDATE households h SET youngest_birth_date ="
        " (SELECT max(p.birth_date) FROM persons p WHERE p.household_id = h.id)"
    ),
    text(
        "UPDATE households h SET received_programs = coalesce((SELECT array_agg(DISTINCT a.program)"
        " FROM assistance_receipts a WHERE a.household_id = h.id), '{}')"
    ),
]


@pytest.fixture(scope="module")
async def scratch(server_url: str) -> AsyncIterator[AsyncEngine]:
    """An empty migrated registry with a few regions in two provinces."""
    from api.cli.db import upgrade_database

    url = await create_database(server_url)
    engine = create_engine(url)
    try:
        await upgrade_database(url)
        async with engine.begin() as connection:
            for code, level, parent in _regions():
                await connection.execute(
                    text(
                        "INSERT INTO regions (code, parent_code, level, name)"
                        " VALUES (:code, :parent, CAST(:level AS region_level), :name)"
                    ),
                    {"code": code, "parent": parent, "level": level, "name": f"Wilayah {code}"},
                )
        yield engine
    finally:
        await engine.dispose()
        await drop_database(url)


def _regions() -> list[tuple[str, str, str | None]]:
    levels = {2: "PROVINSI", 4: "KABUPATEN", 7: "KECAMATAN", 10: "DESA"}
    parents = {4: 2, 7: 4, 10: 7}
    codes = sorted({desa[:n] for desa in DESAS for n in levels}, key=len)
    return [(c, levels[len(c)], c[: parents[len(c)]] if len(c) > 2 else None) for c in codes]


@pytest.fixture(scope="module")
async def today(scratch: AsyncEngine) -> date:
    async with scratch.connect() as connection:
        value = (await connection.execute(text("SELECT current_date"))).scalar_one()
    assert isinstance(value, date)
    return value


def _program(household_scope: Condition | None, person_scope: PersonScope | None) -> Program:
    return Program(
        name="property",
        agency="property",
        agency_name="Property test",
        purpose="testing",
        legal_basis="none",
        agreement=Agreement("X", date(2000, 1, 1), date(2100, 1, 1)),
        k_min=5,
        quota=Quota(1, 1),
        root_fields=frozenset(),
        household_scope=None if household_scope == Nothing() else household_scope,
        person_scope=person_scope,
        fields=MappingProxyType(
            {
                "Household": {"id": FieldMode.FULL, "assistance": FieldMode.FULL},
                "Person": {"id": FieldMode.FULL},
            }
        ),
    )


async def _load(connection: AsyncConnection, registry: list[HouseholdRow]) -> None:
    households, persons, receipts = [], [], []
    person_id = 0
    for number, household in enumerate(registry, start=1):
        desa = household.desa
        households.append(
            {
                "id": number,
                "kk": f"{number:016d}",
                "desa": desa,
                "sls": desa + "0001",
                "members": len(household.members),
                "decile": household.decile,
            }
        )
        for member_no, member in enumerate(household.members, start=1):
            person_id += 1
            row = {
                "id": person_id,
                "household": number,
                "no": member_no,
                "nik": f"{person_id:016d}",
                "sex": member.sex.value,
                "birth": member.birth_date,
                "relationship": member.relationship.value,
                "pregnant": member.pregnant,
            }
            row.update({f"d{i}": level.value for i, level in enumerate(member.difficulties)})
            persons.append(row)
        receipts += [{"household": number, "program": p.value} for p in household.programs]
    await connection.execute(INSERT_HOUSEHOLD, households)
    await connection.execute(INSERT_PERSON, persons)
    if receipts:
        await connection.execute(INSERT_RECEIPT, receipts)
    for statement in DERIVE:
        await connection.execute(statement)


async def _selected(connection: AsyncConnection, entity: Entity, *, program: Program) -> set[int]:
    readable = readable_rows(entity, program=program, name="r")
    bound = {
        row[0]
        for row in await connection.execute(select(readable.table.c.id).where(readable.predicate))
    }
    table = readable.table.original.name  # type: ignore[attr-defined]
    rendered = render_predicate(readable.predicate, readable.table)
    literal = {
        row[0]
        for row in await connection.execute(text(f"SELECT r.id FROM {table} AS r WHERE {rendered}"))
    }
    assert bound == literal, rendered
    return bound


def _expected_persons(
    registry: list[HouseholdRow],
    today: date,
    *,
    household: Condition,
    person: Condition,
) -> set[int]:
    expected, person_id = set(), 0
    for row in registry:
        household_ok = holds(household, today=today, household=row, person=None)
        for member in row.members:
            person_id += 1
            if household_ok and holds(person, today=today, household=row, person=member):
                expected.add(person_id)
    return expected


@EXAMPLES
@given(data=st.data())
async def test_household_scopes_select_what_python_selects(
    scratch: AsyncEngine, today: date, data: st.DataObject
) -> None:
    registry = data.draw(registries(today), label="registry")
    async with scratch.connect() as connection:
        transaction = await connection.begin()
        try:
            await _load(connection, registry)
            for _ in range(SCOPES_PER_REGISTRY):
                scope = data.draw(conditions(HOUSEHOLD_ATOMS), label="scope")
                program = _program(scope, None)
                expected = {
                    number
                    for number, row in enumerate(registry, start=1)
                    if holds(scope, today=today, household=row, person=None)
                }
                assert await _selected(connection, Entity.HOUSEHOLD, program=program) == expected
                members = _expected_persons(registry, today, household=scope, person=Everything())
                assert await _selected(connection, Entity.PERSON, program=program) == members
        finally:
            await transaction.rollback()


@EXAMPLES
@given(data=st.data())
async def test_direct_person_scopes_select_what_python_selects(
    scratch: AsyncEngine, today: date, data: st.DataObject
) -> None:
    registry = data.draw(registries(today), label="registry")
    async with scratch.connect() as connection:
        transaction = await connection.begin()
        try:
            await _load(connection, registry)
            for _ in range(SCOPES_PER_REGISTRY):
                household = data.draw(conditions(HOUSEHOLD_ATOMS), label="household part")
                person = data.draw(conditions(PERSON_ATOMS), label="person part")
                program = _program(None, PersonScope(household, person))
                expected = _expected_persons(registry, today, household=household, person=person)
                assert await _selected(connection, Entity.PERSON, program=program) == expected
                assert await _selected(connection, Entity.HOUSEHOLD, program=program) == set()
        finally:
            await transaction.rollback()


@settings(max_examples=200, deadline=None)
@given(condition=conditions(HOUSEHOLD_ATOMS))
def test_household_conditions_round_trip_through_the_yaml_language(condition: Condition) -> None:
    reader = Reader("scope.yaml")
    node = reader.compose(yaml.safe_dump(to_yaml(condition)))
    assert node is not None
    assert parse_household_condition(reader, node) == condition
    assert reader.problems == []


@settings(max_examples=200, deadline=None)
@given(condition=conditions(PERSON_ATOMS))
def test_person_conditions_round_trip_through_the_yaml_language(condition: Condition) -> None:
    reader = Reader("scope.yaml")
    node = reader.compose(yaml.safe_dump(to_yaml(condition)))
    assert node is not None
    assert parse_person_condition(reader, node) == condition
    assert reader.problems == []


def _named(
    program: Program, name: str, *, household_fields: bool = True, statistics: Condition | None
) -> Program:
    fields = {"Household": dict(program.fields["Household"]), "Person": {"id": FieldMode.FULL}}
    if not household_fields:
        fields["Household"] = {}
    return dataclasses.replace(
        program, name=name, fields=MappingProxyType(fields), statistics_scope=statistics
    )


async def _visible_to(
    connection: AsyncConnection, table: str, program: str, *, statistics: bool
) -> set[int]:
    """``SELECT id FROM table`` as the gateway role with ``program`` set: RLS alone."""
    await connection.execute(text("SET LOCAL ROLE regsosek_app"))
    await connection.execute(text(SET_PROGRAM_SQL.replace("$1", ":program")), {"program": program})
    await connection.execute(
        text(f"SELECT set_config('regsosek.statistics', '{'on' if statistics else ''}', true)")
    )
    rows = await connection.execute(text(f"SELECT id FROM {table}"))
    await connection.execute(text("RESET ROLE"))
    return {row[0] for row in rows}


@EXAMPLES
@given(data=st.data())
async def test_installed_policies_admit_what_each_program_reads(
    scratch: AsyncEngine, today: date, data: st.DataObject
) -> None:
    """Several random programs in one policy set, installed as the tables' RLS policies:
    as the gateway role, each program sees exactly the rows ``readable_rows`` gives it,
    whatever the other programs' scopes (the policies share one sub-select on households)."""
    registry = data.draw(registries(today), label="registry")
    programs: dict[str, Program] = {}
    for index in range(data.draw(st.integers(2, 4), label="programs")):
        name = f"program-{index}"
        kind = data.draw(st.sampled_from(["household", "person", "anywhere", "members-only"]))
        household = data.draw(conditions(HOUSEHOLD_ATOMS), label=f"{name} household part")
        # A statistics scope wider than the rows read must not widen them in statistics mode.
        statistics = data.draw(st.none() | conditions(HOUSEHOLD_ATOMS), label=f"{name} stats")
        if kind == "household":
            programs[name] = _named(_program(household, None), name, statistics=statistics)
        elif kind == "person":
            person = data.draw(conditions(PERSON_ATOMS), label=f"{name} person part")
            scope = PersonScope(household, person)
            programs[name] = _named(_program(None, scope), name, statistics=statistics)
        else:
            # Rows in any household: the policy must not need the households policy to
            # admit them, even for a program that reads no household field.
            programs[name] = _named(
                _program(Everything(), None),
                name,
                household_fields=kind == "anywhere",
                statistics=None,
            )
    policy_set = PolicySet(version="property", programs=MappingProxyType(programs))
    async with scratch.connect() as connection:
        transaction = await connection.begin()
        try:
            await _load(connection, registry)
            for table in ("households", "persons", "assistance_receipts"):
                await connection.execute(text(f"DROP POLICY {POLICY_NAME} ON {table}"))
            for statement in policy_statements(policy_set):
                await connection.execute(text(statement))
            for name, program in programs.items():
                for entity, table in (
                    (Entity.HOUSEHOLD, "households"),
                    (Entity.PERSON, "persons"),
                    (Entity.ASSISTANCE, "assistance_receipts"),
                ):
                    readable = readable_rows(entity, program=program, name="r")
                    expected = {
                        row[0]
                        for row in await connection.execute(
                            select(readable.table.c.id).where(readable.predicate)
                        )
                    }
                    if entity is Entity.HOUSEHOLD:
                        # The households policy also admits the homes of visible persons,
                        # and the statistics scope in statistics mode (tested elsewhere).
                        if program.person_scope is None:
                            visible = await _visible_to(connection, table, name, statistics=False)
                            assert visible == expected, (name, table)
                        continue
                    for mode in (False, True):
                        visible = await _visible_to(connection, table, name, statistics=mode)
                        assert visible == expected, (name, table, mode)
        finally:
            await transaction.rollback()
