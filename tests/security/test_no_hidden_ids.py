"""No answer holds a gateway id its program may not read, in any string, however encoded.

For every shipped program and every root field it may call, the test asks for everything
the program's schema offers (every field, every ordering, a second page through
``after``), then reads every string of every answer as an attacker would: as it is, and
decoded as base64 or base64url (digit runs of the text; 64-bit integers of the bytes).
None may be or hold the id of a household or person the program may not read: any id,
for a program without ``Household.id`` / ``Person.id`` (dinkes-pbi reads no
``Person.id``: its pseudonym is its identifier), else any id outside its row scope. The
registry's ids are shifted to 13 digits (``tests.security.shifted``), so nothing else can
look like one. The auditor reads ids through the audit trail; it is checked for ids it may
not read like the others, and it may read them all.

The change feed's positions (one sequence across every program, shifted to 13 digits as
well) are hidden from every program, its own included: a position in any string or number
would tell a program how many changes the others received.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from graphql import GraphQLEnumType, GraphQLObjectType, GraphQLSchema, get_named_type

from api.state import gateway_state
from tests.schema.everything import selection
from tests.security.conftest import PROGRAMS
from tests.security.hidden_ids import ids_in, numbers, strings
from tests.security.shifted import (
    Shifted,
    gql_ok,
    household_ids_outside_scope,
    person_ids_outside_scope,
)

AUDITORS = {"inspektorat-audit"}
"""Programs whose agreement is reading the audit trail, ids and all."""


class Run:
    """Asks one program everything, and keeps every answer."""

    def __init__(self, shifted: Shifted, program: str) -> None:
        self.shifted = shifted
        self.program = program
        self.schema: GraphQLSchema = gateway_state(shifted.app).engine.runtimes[program].graphql
        assert self.schema.query_type is not None
        self.roots = self.schema.query_type.fields
        self.answers: list[tuple[str, dict[str, Any]]] = []
        self.cursors: list[str] = []

    def select(self, root: str) -> str:
        return selection(self.roots[root].type, frozenset())

    async def ask(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        data = await gql_ok(self.shifted, self.program, query, variables)
        self.answers.append((query, data))
        return data

    async def pages(self, root: str, arguments: str = "") -> list[dict[str, Any]]:
        """Two pages of a connection, the second through the first's ``endCursor``."""
        query = "query ($a: String) { %s(first: 4, after: $a%s) { %s } }" % (
            root,
            arguments,
            self.select(root),
        )
        first = (await self.ask(query, {"a": None}))[root]
        assert first["pageInfo"]["endCursor"], (self.program, root)
        second = (await self.ask(query, {"a": first["pageInfo"]["endCursor"]}))[root]
        for page in (first, second):
            self.cursors += [edge["cursor"] for edge in page["edges"]]
        return [first, second]


async def ask_everything(run: Run) -> None:
    shifted = run.shifted
    period = {
        "from": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        "to": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
    }
    answered = set()
    for root in run.roots:
        answered.add(root)
        if root == "households":
            order = get_named_type(run.roots[root].args["orderBy"].type)
            assert isinstance(order, GraphQLEnumType)
            for value in order.values:
                pages = await run.pages(root, f", orderBy: {value}")
            household = pages[0]["nodes"][0]["id"]
            if "household" in run.roots:
                await run.ask(
                    "query ($id: ID!) { household(id: $id) { %s } }" % run.select("household"),
                    {"id": household},
                )
                answered.add("household")
        elif root == "persons":
            pages = await run.pages(root)
            if "person" in run.roots:
                await run.ask(
                    "query ($id: ID!) { person(id: $id) { %s } }" % run.select("person"),
                    {"id": pages[0]["nodes"][0]["id"]},
                )
                answered.add("person")
        elif root in ("householdStats", "assistanceOverlap"):
            for group_by in ("[]", "[KECAMATAN, WELFARE_DECILE]", "[ASSISTANCE_PROGRAM, HEAD_SEX]"):
                await run.ask("{ %s(groupBy: %s) { %s } }" % (root, group_by, run.select(root)))
        elif root == "proposals":
            await run.ask("{ proposals(first: 4) { %s } }" % run.select(root))
        elif root == "regions":
            await run.ask("{ regions(level: KECAMATAN) { %s } }" % run.select(root))
            await run.ask(
                '{ regions(level: DESA, parentCode: "3509720") { %s } }' % run.select(root)
            )
        elif root in ("myAccess", "chainStatus", "releases"):
            await run.ask("{ %s { %s } }" % (root, run.select(root)))
        elif root in ("auditEvents", "changes"):
            await run.pages(root)
        elif root == "disclosures":
            household = min(shifted.household_ids)
            await run.ask(
                "query ($h: ID!) { disclosures(householdId: $h) { %s } }" % run.select(root),
                {"h": str(household)},
            )
        elif root in ("auditSummary", "auditAnomalies"):
            await run.ask(
                "query ($from: DateTime!, $to: DateTime!) { %s(from: $from, to: $to) { %s } }"
                % (root, run.select(root)),
                period,
            )
        elif root == "personDisclosures":
            nik = await shifted.owner.fetchval("SELECT nik FROM persons ORDER BY id LIMIT 1")
            await run.ask(
                "query ($n: String!) { personDisclosures(nik: $n) { %s } }" % run.select(root),
                {"n": nik},
            )
        elif root == "subjectReport":
            kk = await shifted.owner.fetchval(
                "SELECT kk_number FROM households ORDER BY id LIMIT 1"
            )
            await run.ask(
                "query ($k: String) { subjectReport(kkNumber: $k) { %s } }" % run.select(root),
                {"k": kk},
            )
        elif root == "breachPack":
            client = await shifted.owner.fetchval(
                "SELECT client_id FROM oauth_clients ORDER BY client_id LIMIT 1"
            )
            await run.ask(
                "query ($c: String!, $from: DateTime!, $to: DateTime!)"
                " { breachPack(clientId: $c, from: $from, to: $to) { %s } }" % run.select(root),
                {"c": client, **period},
            )
        elif root not in ("household", "person"):
            pytest.fail(f"{run.program}: no request for the root field {root}; add one here")


async def ids_it_may_not_read(run: Run) -> set[int]:
    """The ids the program may not read, and every position of the change feed."""
    hidden: set[int] = set(run.shifted.positions)
    if run.program in AUDITORS:
        return hidden
    for type_name, outside in (
        ("Household", household_ids_outside_scope),
        ("Person", person_ids_outside_scope),
    ):
        graphql_type = run.schema.type_map.get(type_name)
        reads_ids = isinstance(graphql_type, GraphQLObjectType) and "id" in graphql_type.fields
        everything = (
            run.shifted.household_ids if type_name == "Household" else run.shifted.person_ids
        )
        hidden |= await outside(run.shifted, run.program) if reads_ids else set(everything)
    return hidden


@pytest.mark.parametrize("program", PROGRAMS)
async def test_no_string_of_any_answer_holds_an_id_the_program_may_not_read(
    shifted: Shifted, program: str
) -> None:
    run = Run(shifted, program)
    await ask_everything(run)
    hidden = await ids_it_may_not_read(run)
    if program == "dinkes-pbi":
        assert shifted.person_ids <= hidden
        assert shifted.household_ids <= hidden
    assert shifted.positions
    assert shifted.positions <= hidden
    for query, data in run.answers:
        for text in strings(data):
            assert not ids_in(text, hidden), (program, query[:120], text)
        assert not set(numbers(data)) & hidden, (program, query[:120])
    assert run.answers
    connections = {"households", "persons", "auditEvents", "changes"} & set(run.roots)
    assert bool(run.cursors) == bool(connections)
