"""Masks and pseudonyms are computed in PostgreSQL exactly as specified."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import ColumnElement, String, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine

from db.catalog import CATALOG, Attribute
from db.engine import create_engine
from policies import Entity, FieldMode, PolicySet, Program, readable_rows
from policies.loader import PACKAGED_POLICY_DIR, load_policies
from policies.masks import field_expression, pseudonym
from tests.support import TEST_PSEUDONYM_KEY

KEY = bytes.fromhex(TEST_PSEUDONYM_KEY)
NIK = CATALOG["Person"].attributes["nik"]
NAME = CATALOG["Person"].attributes["name"]
BIRTH_DATE = CATALOG["Person"].attributes["birthDate"]
KK = CATALOG["Household"].attributes["kkNumber"]
ADDRESS = CATALOG["Household"].attributes["address"]


@pytest.fixture(scope="module")
def policy_set() -> PolicySet:
    return load_policies(PACKAGED_POLICY_DIR)


@pytest.fixture(scope="module")
async def engine(registry_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(registry_url)
    yield engine
    await engine.dispose()


async def _value(engine: AsyncEngine, expression: object) -> object:
    async with engine.connect() as connection:
        return (await connection.execute(select(expression))).scalar_one()  # type: ignore[call-overload]


def _expression(
    attribute: Attribute, mode: FieldMode, *, value: object, program: Program
) -> object:
    column: ColumnElement[Any] = (
        literal(value) if not isinstance(value, str) else literal(value, String)
    )
    return field_expression(
        attribute=attribute, mode=mode, column=column, program=program, pseudonym_key=KEY
    )


async def test_masked_nik_keeps_first_six_and_last_four_digits(
    engine: AsyncEngine, policy_set: PolicySet
) -> None:
    program = policy_set.programs["dp3akb-keluarga"]
    masked = await _value(
        engine, _expression(NIK, FieldMode.MASKED, value="3509154507080003", program=program)
    )
    assert masked == "350915******0003"
    assert isinstance(masked, str)
    assert len(masked) == 16


@pytest.mark.parametrize(
    ("name", "initials"),
    [
        ("Siti Aminah", "S. A."),
        ("Muhammad  Rizki   Pratama", "M. R. P."),
        ("  Bambang ", "B."),
        ("Abd. Rahman", "A. R."),
    ],
)
async def test_masked_names_become_initials(
    engine: AsyncEngine, policy_set: PolicySet, name: str, initials: str
) -> None:
    program = policy_set.programs["dp3akb-keluarga"]
    assert (
        await _value(engine, _expression(NAME, FieldMode.MASKED, value=name, program=program))
        == initials
    )


async def test_masked_birth_date_is_its_year(engine: AsyncEngine, policy_set: PolicySet) -> None:
    from datetime import date

    program = policy_set.programs["dp3akb-keluarga"]
    year = await _value(
        engine, _expression(BIRTH_DATE, FieldMode.MASKED, value=date(2008, 2, 29), program=program)
    )
    assert year == "2008"


async def test_pseudonym_in_sql_equals_python_hmac(
    engine: AsyncEngine, policy_set: PolicySet
) -> None:
    program = policy_set.programs["dinkes-pbi"]
    nik = "3509154507080003"
    token = await _value(engine, _expression(NIK, FieldMode.PSEUDONYM, value=nik, program=program))
    program_key = hmac.new(KEY, b"pseudonym:dinkes-pbi", hashlib.sha256).digest()
    assert token == hmac.new(program_key, nik.encode(), hashlib.sha256).hexdigest()
    assert token == pseudonym(nik, program="dinkes-pbi", pseudonym_key=KEY)


async def test_pseudonym_of_non_ascii_text_equals_python_hmac(
    engine: AsyncEngine, policy_set: PolicySet
) -> None:
    program = policy_set.programs["dinkes-pbi"]
    value = "Ñoño — 日本"
    token = await _value(engine, _expression(KK, FieldMode.PSEUDONYM, value=value, program=program))
    assert token == pseudonym(value, program="dinkes-pbi", pseudonym_key=KEY)


async def test_every_seeded_nik_gets_one_token_per_program_and_none_shared(
    engine: AsyncEngine, policy_set: PolicySet
) -> None:
    """Same person → same token for one program; unlinkable tokens across programs."""
    tokens: dict[str, dict[int, str]] = {}
    niks: dict[int, str] = {}
    for name in ("dinkes-pbi", "dinsos-pkh"):
        program = policy_set.programs[name]
        readable = readable_rows(Entity.PERSON, program=program, name="p")
        token = field_expression(
            attribute=NIK,
            mode=FieldMode.PSEUDONYM,
            column=readable.table.c.nik,
            program=program,
            pseudonym_key=KEY,
        )
        statement = select(readable.table.c.id, readable.table.c.nik, token, token).where(
            readable.predicate
        )
        async with engine.connect() as connection:
            rows = (await connection.execute(statement)).all()
        assert rows
        for person_id, nik, first, second in rows:
            assert first == second
            assert first == pseudonym(nik, program=name, pseudonym_key=KEY)
            niks[person_id] = nik
        tokens[name] = {row[0]: row[2] for row in rows}
    common = set(tokens["dinkes-pbi"]) & set(tokens["dinsos-pkh"])
    assert common
    assert all(tokens["dinkes-pbi"][i] != tokens["dinsos-pkh"][i] for i in common)
    assert not set(tokens["dinkes-pbi"].values()) & set(tokens["dinsos-pkh"].values())
    assert len(set(tokens["dinkes-pbi"].values())) == len(tokens["dinkes-pbi"])
    assert not set(tokens["dinkes-pbi"].values()) & set(niks.values())


def test_full_mode_selects_the_column_itself(policy_set: PolicySet) -> None:
    program = policy_set.programs["bps-admin"]
    column: ColumnElement[Any] = literal("x", String)
    expression = field_expression(
        attribute=ADDRESS, mode=FieldMode.FULL, column=column, program=program, pseudonym_key=KEY
    )
    assert expression is column


@pytest.mark.parametrize(
    ("attribute", "mode"),
    [
        (ADDRESS, FieldMode.MASKED),
        (NAME, FieldMode.PSEUDONYM),
        (BIRTH_DATE, FieldMode.PSEUDONYM),
        (NIK, FieldMode.DENIED),
    ],
)
def test_a_mode_the_catalogue_does_not_allow_never_falls_back_to_the_raw_value(
    policy_set: PolicySet, attribute: Attribute, mode: FieldMode
) -> None:
    program = policy_set.programs["bps-admin"]
    with pytest.raises(ValueError, match=attribute.name):
        field_expression(
            attribute=attribute,
            mode=mode,
            column=literal("x", String),
            program=program,
            pseudonym_key=KEY,
        )


def test_pseudonym_keys_are_passed_as_parameters_not_in_the_sql_text(
    policy_set: PolicySet,
) -> None:
    from sqlalchemy.dialects import postgresql

    program = policy_set.programs["dinkes-pbi"]
    expression = _expression(NIK, FieldMode.PSEUDONYM, value="3509154507080003", program=program)
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    compiled = expression.compile(dialect=dialect)  # type: ignore[attr-defined]
    assert "3509154507080003" not in str(compiled)
    assert KEY.hex() not in str(compiled)
    assert "sha256" in str(compiled)
