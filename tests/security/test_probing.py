"""Schema probing (clairvoyance, graphql-cop): no error ever suggests a name.

Each program probes with near misses of every field and type it may *not*
see; the answers must be the plain "cannot query field" of a name that does
not exist, with no "Did you mean", and must name nothing of the hidden part of
the registry that the request did not name itself (``Probe`` checks that on
every answer, against each program's hidden fields).
"""

from __future__ import annotations

import pytest
from graphql import GraphQLObjectType

from api.state import gateway_state
from tests.security.conftest import PROGRAMS, Probe, schema_names


def near_misses(name: str) -> list[str]:
    """Typos clairvoyance would try: a letter dropped, one added, the case changed."""
    return [name[:-1], name + "s", name[0].swapcase() + name[1:]]


def hidden_fields(probe: Probe, program: str, type_name: str) -> list[str]:
    """Fields of ``type_name`` that some program sees and ``program`` does not."""
    runtimes = gateway_state(probe.app).engine.runtimes
    seen: set[str] = set()
    for runtime in runtimes.values():
        graphql_type = runtime.graphql.type_map.get(type_name)
        if isinstance(graphql_type, GraphQLObjectType):
            seen |= set(graphql_type.fields)
    own = runtimes[program].graphql.type_map.get(type_name)
    mine = set(own.fields) if isinstance(own, GraphQLObjectType) else set()
    return sorted(seen - mine)


@pytest.mark.parametrize("program", PROGRAMS)
async def test_typos_of_hidden_fields_get_no_suggestions(probe: Probe, program: str) -> None:
    query_type = gateway_state(probe.app).engine.runtimes[program].graphql.query_type
    assert query_type is not None
    roots = set(query_type.fields)
    for hidden in hidden_fields(probe, program, "Query"):
        for typo in near_misses(hidden)[:2]:
            answer = await probe.post(program, {"query": f"{{ {typo} }}"}, expect="BAD_USER_INPUT")
            assert "Did you mean" not in answer.text
    if "households" in roots:
        for hidden in hidden_fields(probe, program, "Household"):
            query = f"{{ households(first: 1) {{ nodes {{ {near_misses(hidden)[0]} }} }} }}"
            await probe.post(program, {"query": query}, expect="BAD_USER_INPUT")
    if "persons" in roots:
        for hidden in hidden_fields(probe, program, "Person"):
            query = f"{{ persons(first: 1) {{ nodes {{ {near_misses(hidden)[1]} }} }} }}"
            await probe.post(program, {"query": query}, expect="BAD_USER_INPUT")
    await probe.check()


PROBES = [
    "{ __schema { directive } }",  # graphql-cop's suggestion check
    "{ __schema { typess { name } } }",
    "{ myAccess { progra } }",
    "{ myAccess }",  # "must have a selection of subfields. Did you mean …"
    "{ regions(levl: DESA) { code } }",
    "{ regions(level: DES) { code } }",
    "{ regions(level: DESA) { cod } }",
    "query ($l: RegionLevl!) { regions(level: $l) { code } }",
    "{ __typenam }",
    '{ __type(nam: "Query") { name } }',
    "fragment F on Quer { __typename } { ...F }",
    "{ ...Frag }",
    "query Q { __typename } query Q { __typename }",
    "{ myAccess { program @skp(if: true) } }",
    "{ myAccess { program @include(iff: true) } }",
]


@pytest.mark.parametrize("program", PROGRAMS)
async def test_probes_of_the_schema_name_nothing(probe: Probe, program: str) -> None:
    for query in PROBES:
        answer = await probe.post(program, {"query": query}, expect="BAD_USER_INPUT")
        assert "Did you mean" not in answer.text
    await probe.check()


FILTER_TYPOS = [
    "{ households(first: 1, filter: { welfareDecileMi: 1 }) { totalCount } }",
    '{ households(first: 1, filter: { regionCod: "35" }) { totalCount } }',
    "{ households(first: 1, orderBy: WELFARE_DECILE_AS) { totalCount } }",
    "{ households(first: 1, filter: { receivesProgram: PK }) { totalCount } }",
    "{ households(frist: 1) { totalCount } }",
    "query ($f: HouseholdFiltr) { households(filter: $f) { totalCount } }",
    "{ households(first: 1) { nodes { region { parnt { name } } } } }",
]


@pytest.mark.parametrize("program", ["dinsos-pkh", "dp3akb-keluarga", "kec-sumbersari"])
async def test_argument_enum_and_input_typos_name_nothing(probe: Probe, program: str) -> None:
    for query in FILTER_TYPOS:
        answer = await probe.post(program, {"query": query}, expect="BAD_USER_INPUT")
        assert "Did you mean" not in answer.text
    query = "query ($f: HouseholdFilter) { households(first: 1, filter: $f) { totalCount } }"
    for variables in (
        {"f": {"welfareDecileMinn": 1}},
        {"f": {"receivesProgram": "PK"}},
        {"f": {"hasMemberAgedUnde": 5}},
    ):
        answer = await probe.post(
            program, {"query": query, "variables": variables}, expect="BAD_USER_INPUT"
        )
        assert "Did you mean" not in answer.text
    await probe.check()


@pytest.mark.parametrize("program", PROGRAMS)
async def test_hidden_types_do_not_exist_for_introspection(probe: Probe, program: str) -> None:
    runtimes = gateway_state(probe.app).engine.runtimes
    everything: set[str] = set()
    for runtime in runtimes.values():
        everything |= set(runtime.graphql.type_map)
    own = runtimes[program].graphql
    for type_name in sorted(everything - set(own.type_map)):
        answer = await probe.post(
            program,
            {"query": '{ __type(name: "%s") { name fields { name } } }' % type_name},
            expect=None,
        )
        assert answer.json() == {"data": {"__type": None}}
    listed = await probe.post(program, {"query": "{ __schema { types { name } } }"}, expect=None)
    names = {t["name"] for t in listed.json()["data"]["__schema"]["types"]}
    assert names == set(own.type_map)
    assert not (names - {n for n in names if n.startswith("__")}) - schema_names(own)
    await probe.check()
