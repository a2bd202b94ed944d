"""OWASP API1 (BOLA), API3 (BOPLA) and API5 (BFLA): another program's rows and root fields.

Program A asks for program B's households by id, by filter, through nested
fields and with forged cursors: it gets ``null``, nothing, or a refusal, and
its audit events name none of B's rows. Root fields A has not been granted do
not exist for it, however they are reached.
"""

from __future__ import annotations

import base64
from typing import Any

import asyncpg
import pytest

from api.state import gateway_state
from schema.sealed_cursors import INVALID_CURSOR
from tests.policies.expected import HOUSEHOLD_SQL
from tests.security.conftest import PROGRAMS, Probe

ROW_PROGRAMS = ["kec-sumbersari", "dinsos-pkh", "dp3akb-keluarga"]


async def households(owner: asyncpg.Pool, program: str, *, visible: bool, limit: int) -> list[int]:
    condition = HOUSEHOLD_SQL[program]
    assert condition is not None
    rows = await owner.fetch(
        f"SELECT h.id FROM households h WHERE ({condition}) IS {'TRUE' if visible else 'NOT TRUE'}"
        f" ORDER BY h.id LIMIT {limit}"
    )
    return [row["id"] for row in rows]


async def disclosed(owner: asyncpg.Pool, request_ids: list[str]) -> set[int]:
    rows = await owner.fetch(
        "SELECT unnest(household_ids) AS id FROM audit_events WHERE request_id = ANY($1::text[])",
        request_ids,
    )
    return {row["id"] for row in rows}


@pytest.mark.parametrize("program", ROW_PROGRAMS)
async def test_another_programs_households_by_id_are_null(
    probe: Probe, owner_pool: asyncpg.Pool, program: str
) -> None:
    hidden = await households(owner_pool, program, visible=False, limit=5)
    visible = await households(owner_pool, program, visible=True, limit=1)
    assert hidden
    assert visible
    request_ids = []
    for household_id in hidden:
        for query in (
            '{ household(id: "%d") { id headName } }',
            '{ household(id: "%d") { members { name } region { code } } }',
            'query { a: household(id: "%d") { id } b: household(id: "%d") { ...H } }'
            " fragment H on Household { id headName }",
        ):
            answer = await probe.post(
                program, {"query": query.replace("%d", str(household_id))}, expect=None
            )
            assert all(value is None for value in answer.json()["data"].values()), answer.text
            request_ids.append(answer.headers["x-request-id"])
    control = await probe.post(
        program, {"query": '{ household(id: "%d") { id } }' % visible[0]}, expect=None
    )
    assert control.json() == {"data": {"household": {"id": str(visible[0])}}}
    assert not (await disclosed(owner_pool, request_ids)) & set(hidden)
    await probe.check()


async def test_another_programs_persons_by_id_are_null(
    probe: Probe, owner_pool: asyncpg.Pool
) -> None:
    condition = HOUSEHOLD_SQL["dinsos-pkh"]
    rows = await owner_pool.fetch(
        "SELECT p.id, (h.welfare_decile <= 4) AS visible FROM persons p"
        f" JOIN households h ON h.id = p.household_id WHERE ({condition}) IS NOT TRUE"
        " ORDER BY p.id LIMIT 10"
    )
    for row in rows:
        answer = await probe.post(
            "dinsos-pkh", {"query": '{ person(id: "%d") { id nik name } }' % row["id"]}, expect=None
        )
        assert answer.json() == {"data": {"person": None}}
    await probe.check()


async def test_filters_never_reach_another_programs_rows(
    probe: Probe, owner_pool: asyncpg.Pool
) -> None:
    elsewhere = await owner_pool.fetchval(
        "SELECT kecamatan_code FROM households WHERE kecamatan_code <> '3509720' LIMIT 1"
    )
    cases: list[tuple[str, str]] = [
        ("kec-sumbersari", f'{{ households(filter: {{regionCode: "{elsewhere}"}}) %s }}'),
        ("kec-sumbersari", '{ households(filter: {regionCode: "3510"}) %s }'),
        ("dinsos-pkh", "{ households(filter: {welfareDecileMin: 5}) %s }"),
        ("dinsos-pkh", '{ households(filter: {welfareDecileMin: 5, regionCode: "3509"}) %s }'),
    ]
    for program, query in cases:
        answer = await probe.post(
            program, {"query": query % "{ totalCount nodes { id } }"}, expect=None
        )
        data: dict[str, Any] = next(iter(answer.json()["data"].values()))
        assert data == {"totalCount": 0, "nodes": []}, (program, query)
    await probe.check()


async def test_filtering_on_what_a_program_may_not_read_is_refused_as_unknown(
    probe: Probe,
) -> None:
    """Filtering is reading: a filter field or ordering the program may not use does not
    exist for it (no side channel through a filter or a sort order)."""
    for program, query in [
        ("dp3akb-keluarga", "{ households(filter: {welfareDecileMax: 2}) { totalCount } }"),
        ("dp3akb-keluarga", "{ households(filter: {receivesProgram: PKH}) { totalCount } }"),
        ("dinsos-pkh", '{ persons(filter: {householdId: "1"}) { totalCount } }'),
        ("kec-sumbersari", "{ households(filter: {welfareDecileMin: 1}) { totalCount } }"),
        ("kec-sumbersari", "{ households(filter: {womanHeaded: true}) { totalCount } }"),
        ("dp3akb-keluarga", "{ households(orderBy: WELFARE_DECILE_ASC) { totalCount } }"),
    ]:
        answer = await probe.post(program, {"query": query}, expect="BAD_USER_INPUT")
        message = answer.json()["errors"][0]["message"]
        assert "unknown field" in message or "does not exist in" in message, message
    await probe.check()


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("program", ROW_PROGRAMS)
async def test_forged_cursors_are_refused(
    probe: Probe, owner_pool: asyncpg.Pool, program: str
) -> None:
    """A hand-made cursor (the old readable form ``h|<id>``) starts no page at all."""
    hidden = await households(owner_pool, program, visible=False, limit=3)
    visible = await households(owner_pool, program, visible=True, limit=3)
    for household_id in hidden + visible:
        answer = await probe.post(
            program,
            {
                "query": "query ($a: String) { households(first: 5, after: $a) { nodes { id } } }",
                "variables": {"a": cursor(f"h|{household_id - 1}")},
            },
            expect="BAD_USER_INPUT",
        )
        assert answer.json()["errors"][0]["message"] == INVALID_CURSOR
    await probe.check()


def roots(probe: Probe, program: str) -> set[str]:
    query_type = gateway_state(probe.app).engine.runtimes[program].graphql.query_type
    assert query_type is not None
    return set(query_type.fields)


@pytest.mark.parametrize("program", PROGRAMS)
async def test_root_fields_of_other_programs_do_not_exist(probe: Probe, program: str) -> None:
    everything: set[str] = set()
    for other in PROGRAMS:
        everything |= roots(probe, other)
    foreign = sorted(everything - roots(probe, program))
    for index, root in enumerate(foreign):
        shapes = (
            f"{{ {root} {{ __typename }} }}",
            f"{{ innocent: {root} {{ __typename }} }}",
            f"{{ ... on Query {{ {root} {{ __typename }} }} }}",
            f"{{ ...R }} fragment R on Query {{ {root} {{ __typename }} }}",
            f"{{ myAccess {{ program }} {root} {{ __typename }} }}",
        )
        # Every root by name; the other routes in turn, one root each.
        for query in {shapes[0], shapes[1 + index % 4]}:
            answer = await probe.post(program, {"query": query}, expect="BAD_USER_INPUT")
            assert f"Cannot query field '{root}' on type 'Query'" in answer.text
    await probe.check()


@pytest.mark.parametrize(
    "query",
    [
        "mutation { myAccess { program } }",
        'mutation { createClient(program: "bps-admin") { id } }',
        "subscription { auditEvents { nodes { sequence } } }",
        "query Q { myAccess { program } } mutation M { x }",
    ],
)
async def test_there_is_nothing_to_write(probe: Probe, query: str) -> None:
    """API3 mass assignment: the gateway reads only; mutations and subscriptions are refused."""
    await probe.post("bps-admin", {"query": query}, expect="BAD_USER_INPUT")
    await probe.check()
