"""Injection strings, NUL bytes, lone surrogates and integer overflow in every argument.

Every filter argument of every list, every id, every cursor and the operation
name receives SQL, GraphQL, JSON, path and Unicode tricks. Each is answered
with BAD_USER_INPUT, or with an empty answer where the argument is a value to
match (``null`` for an id, nothing for a name), never a 500; nothing leaves;
the registry is unchanged; everything is audited.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.security.conftest import Probe

INJECTIONS = [
    "' OR '1'='1",
    "1' OR 1=1--",
    "3509'; DROP TABLE households; --",
    "3509' UNION SELECT nik FROM persons --",
    "$$ OR true $$",
    "\\'; SELECT pg_sleep(10); --",
    "1) OR (1=1",
    '"} } { __schema { types { name } } } #',
    '") { id } leak: households(first: 1000) { nodes { id } } x: household(id: "',
    '{"$gt": ""}',
    "../../../../etc/passwd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "３５０９",  # fullwidth digits
    "٣٥٠٩",  # Arabic-Indic digits
    "³⁵",  # superscripts: isdigit() but not int()
    "\u202e9053",  # right-to-left override
    "35\u200b09",  # zero-width space
    "3509\ufeff",  # byte-order mark
    "35\u000009",  # NUL
    "💥" * 100,
    "9" * 5000,
    "",
]

SAFE_TEXT = [s for s in INJECTIONS if "\u0000" not in s]
"""Strings PostgreSQL can hold (a NUL it cannot: refused with BAD_USER_INPUT)."""


def empty_answer(data: Any) -> bool:
    """No row of the registry in ``data``."""
    if data is None or data == [] or data == 0:
        return True
    if isinstance(data, dict):
        return all(empty_answer(value) for key, value in data.items() if key != "pageInfo")
    return False


BAD = "BAD_USER_INPUT"

StringCase = tuple[str, str, str | None, str | None]
"""(program, query taking ``$v``, code for an injection, code for a string with a NUL);
None: answered 200 with nothing in it."""

STRING_ARGUMENTS: list[StringCase] = [
    (
        "dinsos-pkh",
        "query ($v: String) { households(filter: {regionCode: $v}) { totalCount nodes { id } } }",
        BAD,
        BAD,
    ),
    (
        "dinkes-pbi",
        "query ($v: String) { persons(filter: {regionCode: $v}) { totalCount nodes { sex } } }",
        BAD,
        BAD,
    ),
    (
        "bps-admin",
        "query ($v: ID) { persons(filter: {householdId: $v}) { totalCount nodes { id } } }",
        None,
        None,
    ),
    ("dinsos-pkh", "query ($v: ID!) { household(id: $v) { id headName } }", None, None),
    ("bps-admin", "query ($v: ID!) { person(id: $v) { id name } }", None, None),
    (
        "kec-sumbersari",
        "query ($v: String) { regions(level: DESA, parentCode: $v) { code } }",
        BAD,
        BAD,
    ),
    ("dinsos-pkh", "query ($v: String) { households(after: $v) { nodes { id } } }", BAD, BAD),
    ("dinkes-pbi", "query ($v: String) { persons(after: $v) { nodes { sex } } }", BAD, BAD),
    (
        "inspektorat-audit",
        "query ($v: String) { auditEvents(after: $v) { nodes { sequence } } }",
        BAD,
        BAD,
    ),
    (
        "inspektorat-audit",
        "query ($v: ID!) { disclosures(householdId: $v) { sequence } }",
        BAD,
        BAD,
    ),
    (
        "bappeda-statistik",
        "query ($v: String) { householdStats(groupBy: [], filter: {regionCode: $v}) { count } }",
        BAD,
        BAD,
    ),
    *[
        (
            "inspektorat-audit",
            "query ($v: String) { auditEvents(filter: {%s: $v}) { nodes { sequence } } }" % name,
            None,
            BAD,  # the text reaches PostgreSQL, which holds no NUL
        )
        for name in ("clientId", "program", "agency")
    ],
    (
        "inspektorat-audit",
        "query ($v: String) { auditEvents(filter: {outcome: $v}) { nodes { sequence } } }",
        BAD,  # outcomes are a closed list
        BAD,
    ),
    (
        "inspektorat-audit",
        "query ($v: ID) { auditEvents(filter: {householdId: $v}) { nodes { householdIds } } }",
        None,
        None,
    ),
]


def _case_id(case: StringCase) -> str:
    return f"{case[0]}:{case[1].split('{')[1].strip()[:40]}"


@pytest.mark.parametrize("case", STRING_ARGUMENTS, ids=_case_id)
async def test_injection_strings_in_every_string_argument(probe: Probe, case: StringCase) -> None:
    program, query, expect, expect_nul = case
    for text in INJECTIONS:
        code = expect_nul if "\u0000" in text else expect
        answer = await probe.post(program, {"query": query, "variables": {"v": text}}, expect=code)
        if code is None:
            assert empty_answer(answer.json()["data"]), (text, answer.text[:300])
    await probe.check()


@pytest.mark.parametrize("text", SAFE_TEXT[:12])
async def test_injection_strings_as_literals_and_operation_names(probe: Probe, text: str) -> None:
    """The same strings written into the document itself (escaped as GraphQL strings)."""
    literal = text.replace("\\", "\\\\").replace('"', '\\"')
    await probe.post(
        "kec-sumbersari",
        {"query": f'{{ households(filter: {{regionCode: "{literal}"}}) {{ totalCount }} }}'},
        expect="BAD_USER_INPUT",
    )
    answer = await probe.post(
        "kec-sumbersari", {"query": f'{{ household(id: "{literal}") {{ id }} }}'}, expect=None
    )
    assert answer.json() == {"data": {"household": None}}
    await probe.post(
        "kec-sumbersari",
        {"query": "query Q { myAccess { program } }", "operationName": text},
        expect="BAD_USER_INPUT",
    )
    await probe.check()


ENUM_AND_SCALAR_ARGUMENTS = [
    ("dinsos-pkh", "households(filter: {receivesProgram: $v}) { totalCount }", "AssistanceProgram"),
    ("dinsos-pkh", "households(filter: {updatedSince: $v}) { totalCount }", "DateTime"),
    ("dinsos-pkh", "households(orderBy: $v) { totalCount }", "HouseholdOrder"),
    ("dinkes-pbi", "persons(filter: {sex: $v}) { totalCount }", "Sex"),
    ("kec-sumbersari", "regions(level: $v) { code }", "RegionLevel!"),
    ("inspektorat-audit", "auditEvents(filter: {from: $v}) { totalCount }", "DateTime"),
    ("inspektorat-audit", "auditEvents(filter: {to: $v}) { totalCount }", "DateTime"),
    ("dinsos-pkh", "households(filter: {womanHeaded: $v}) { totalCount }", "Boolean"),
    ("dinkes-pbi", "persons(filter: {pregnant: $v}) { totalCount }", "Boolean"),
    ("dinkes-pbi", "persons(filter: {hasDisability: $v}) { totalCount }", "Boolean"),
    ("dinsos-pkh", "households(filter: {welfareDecileMin: $v}) { totalCount }", "Int"),
    ("dinsos-pkh", "households(filter: {welfareDecileMax: $v}) { totalCount }", "Int"),
    ("dinsos-pkh", "households(filter: {hasMemberAgedUnder: $v}) { totalCount }", "Int"),
    ("dinkes-pbi", "persons(filter: {ageMin: $v}) { totalCount }", "Int"),
    ("dinkes-pbi", "persons(filter: {ageMax: $v}) { totalCount }", "Int"),
    ("bappeda-statistik", "householdStats(groupBy: [$v]) { count }", "HouseholdDimension!"),
    ("bappeda-statistik", "householdStats(groupBy: $v) { count }", "[HouseholdDimension!]!"),
]


@pytest.mark.parametrize(
    ("program", "selection", "type_name"), ENUM_AND_SCALAR_ARGUMENTS, ids=lambda v: str(v)[:30]
)
async def test_injection_strings_in_every_typed_argument(
    probe: Probe, program: str, selection: str, type_name: str
) -> None:
    """Enums, dates, booleans and integers take no string: each is a coercion error."""
    query = f"query ($v: {type_name}) {{ {selection} }}"
    for text in INJECTIONS[::3]:
        await probe.post(
            program, {"query": query, "variables": {"v": text}}, expect="BAD_USER_INPUT"
        )
    await probe.check()


OVERFLOWS = [
    ("dinsos-pkh", "{ households(filter: {welfareDecileMin: 2147483648}) { totalCount } }"),
    ("dinsos-pkh", "{ households(filter: {welfareDecileMax: -2147483649}) { totalCount } }"),
    ("dinsos-pkh", "{ households(filter: {welfareDecileMin: 11}) { totalCount } }"),
    ("dinsos-pkh", "{ households(filter: {welfareDecileMax: 0}) { totalCount } }"),
    ("dinsos-pkh", "{ households(filter: {hasMemberAgedUnder: 2147483647}) { totalCount } }"),
    ("dinkes-pbi", "{ persons(filter: {ageMin: -1}) { totalCount } }"),
    ("dinkes-pbi", "{ persons(filter: {ageMax: 2147483647}) { totalCount } }"),
    ("dinkes-pbi", "{ persons(filter: {ageMax: 1e309}) { totalCount } }"),
    ("dinsos-pkh", "{ households(first: 1e3) { totalCount } }"),
    ("dinsos-pkh", '{ households(after: "aHw5OTk5OTk5OTk5OTk5OTk5OTk5OTk5") { totalCount } }'),
    ("dinsos-pkh", '{ households(after: "aGR8NXwx") { nodes { id } } }'),  # "hd|5|1"
    ("inspektorat-audit", '{ disclosures(householdId: "99999999999999999999") { sequence } }'),
]


@pytest.mark.parametrize(("program", "query"), OVERFLOWS, ids=lambda v: str(v)[:40])
async def test_integer_overflow_is_bad_input(probe: Probe, program: str, query: str) -> None:
    await probe.post(program, {"query": query}, expect="BAD_USER_INPUT")
    await probe.check()


@pytest.mark.parametrize(
    "identifier",
    [
        "9223372036854775807",
        "9223372036854775808",
        "999999999999999999",
        "99999999999999999999999999999999",
        "-1",
        "0",
        "1e3",
        "0x1F",
        "²",
    ],
)
async def test_huge_and_odd_ids_are_simply_absent(probe: Probe, identifier: str) -> None:
    answer = await probe.post(
        "bps-admin", {"query": f'{{ household(id: "{identifier}") {{ id }} }}'}, expect=None
    )
    assert answer.json() == {"data": {"household": None}}
    answer = await probe.post(
        "bps-admin",
        {"query": f'{{ persons(filter: {{householdId: "{identifier}"}}) {{ totalCount }} }}'},
        expect=None,
    )
    assert answer.json() == {"data": {"persons": {"totalCount": 0}}}
    await probe.check()


async def test_nul_bytes_and_lone_surrogates_anywhere(probe: Probe) -> None:
    program = "kec-sumbersari"
    bad_bodies = [
        b'{"query": "{ myAccess { program } }\\u0000"}',  # NUL in the document
        b'{"query": "{ myAccess { program \\u0000 } }"}',
        b'{"query": "{ myAccess { program } }", "variables": {"a": "\\ud800"}}',  # lone surrogate
        b'{"query": "{ myAccess { program } \\udfff }"}',
        b'{"query": "{ myAccess { program } }", "operationName": "\\ud800"}',
        b'{"query": "{ myAccess { program } }\xed\xa0\x80"}',  # a surrogate as raw UTF-8
        b'{"query": "{ myAccess { program } }\xff\xfe"}',  # not UTF-8 at all
        b'\x00{"query": "{ myAccess { program } }"}',
        b'{"query": "{ household(id: \\"\\\\u0000\\") { id } }"}',
        b'{"query": "{ households(filter: {regionCode: \\"\\\\ud800\\"}) { totalCount } }"}',
        b'{"query": "query Q { myAccess { program } }", "operationName": "Q\\u0000"}',
    ]
    for body in bad_bodies:
        expect = None if b"household(id" in body else "BAD_USER_INPUT"
        answer = await probe.post(program, body, expect=expect)
        if expect is None:
            assert answer.json() == {"data": {"household": None}}
    audit_nul = (
        b'{"query": "query ($c: String) { auditEvents(filter: {clientId: $c}) { totalCount } }",'
        b' "variables": {"c": "a\\u0000b"}}'
    )
    await probe.post("inspektorat-audit", audit_nul, expect="BAD_USER_INPUT")
    literal_nul = b'{"query": "{ auditEvents(filter: {agency: \\"x\\\\u0000\\"}) { totalCount } }"}'
    await probe.post("inspektorat-audit", literal_nul, expect="BAD_USER_INPUT")
    await probe.check()


async def test_the_registry_is_unchanged_after_every_injection(
    probe: Probe, owner_pool: Any
) -> None:
    """Counted after the injection tests of this module ran against the same database."""
    tables = await owner_pool.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relname IN ('households', 'persons', 'regions')"
    )
    assert {row["relname"] for row in tables} == {"households", "persons", "regions"}
    counts = await owner_pool.fetchrow(
        "SELECT (SELECT count(*) FROM households) AS h, (SELECT count(*) FROM persons) AS p"
    )
    assert counts["h"] == 1500
    assert counts["p"] > 1500
