"""The disclosure bound of a document, computed without running it, is what a run of it
discloses: the same field paths as the audit event records, and no more rows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
import httpx
import pytest

from policies import PolicySet
from schema.trusted import check_document
from tests.schema.conftest import CASE_REFS, Headers

Bearer = Callable[[str], Awaitable[Headers]]

CASES = [
    (
        "dinsos-pkh",
        "query A { households(first: 7) { totalCount pageInfo { endCursor } edges { cursor"
        " node { id kkNumber welfareDecile region { code parent { name } }"
        " housing { tenure } members { nik name education { enrolled } } } } } }",
    ),
    (
        "dp3akb-keluarga",
        "query B { persons(first: 4) { nodes { ...P } } }"
        " fragment P on Person { nik birthDate age documents { kia } }",
    ),
    (
        "bps-admin",
        "query F { persons(first: 3) { nodes { name household { headName members { age } } } }"
        ' household(id: "1") { id } }',
    ),
    (
        "dinkes-pbi",
        "query C { persons(first: 6) { nodes { nik age chronicIllness"
        " healthInsurance { pbiJkn } region { name } } } }",
    ),
    (
        "dp3akb-perlindungan-anak",
        "query D($n: Int = 3) { persons(first: $n) { nodes { id name birthDate"
        " documents { birthCertificate } } pageInfo { startCursor } } }",
    ),
    ("kec-sumbersari", "query E { regions(level: KECAMATAN) { code name } myAccess { program } }"),
]


@pytest.fixture(scope="module")
def policy_set() -> PolicySet:
    from policies import load_policies
    from tests.support import POLICY_DIR

    return load_policies(POLICY_DIR)


@pytest.mark.parametrize(("program", "document"), CASES)
async def test_the_bound_equals_what_a_run_discloses(
    program: str,
    document: str,
    policy_set: PolicySet,
    http: httpx.AsyncClient,
    bearer: Bearer,
    owner: asyncpg.Connection,
) -> None:
    checked = check_document(policy_set.programs[program], document)
    assert checked.valid, checked.problems
    (bound,) = checked.bounds
    headers = {**await bearer(program), **CASE_REFS.get(program, {})}
    answer = await http.post("/graphql", json={"query": document}, headers=headers)
    assert answer.status_code == 200, answer.text
    event = await owner.fetchrow(
        "SELECT * FROM audit_events WHERE request_id = $1", answer.headers["x-request-id"]
    )
    assert event is not None
    assert set(event["field_paths"]) == bound.field_paths
    households = set(event["household_ids"])
    persons = set(event["person_ids"])
    assert len(households) <= bound.households + (bound.members_of and bound.households)
    if not bound.members_of:
        assert len(persons) <= bound.persons


def test_masked_and_pseudonymised_paths_carry_their_mode(policy_set: PolicySet) -> None:
    checked = check_document(policy_set.programs["dinkes-pbi"], CASES[3][1])
    (bound,) = checked.bounds
    assert ("persons.nodes.nik", "PSEUDONYM") in bound.modes()
    assert (bound.households, bound.persons, bound.members_of) == (0, 6, 0)
    assert bound.describe_rows() == "6 person(s)"


def test_a_variable_first_without_a_default_is_bounded_by_the_maximum(
    policy_set: PolicySet,
) -> None:
    document = "query($n: Int) { households(first: $n) { nodes { id members { name } } } }"
    (bound,) = check_document(policy_set.programs["kec-sumbersari"], document).bounds
    assert (bound.households, bound.members_of) == (1000, 1000)


def test_a_document_naming_a_denied_field_does_not_validate(policy_set: PolicySet) -> None:
    checked = check_document(
        policy_set.programs["kec-sumbersari"], "{ households { nodes { welfareDecile } } }"
    )
    assert not checked.valid
    assert "welfareDecile" in checked.problems[0]
