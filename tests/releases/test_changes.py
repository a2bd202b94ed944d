"""``changes(after, first)`` as an agency reads it: bookmarks, exactly once, what a node holds."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from graphql import FieldNode, GraphQLObjectType, OperationDefinitionNode, parse

from api.state import gateway_state
from policies import Program
from policies.loader import PACKAGED_POLICY_DIR, load_policies
from policies.masks import pseudonym
from policies.model import Agreement
from schema.compiler.changes import ChangesRoot
from schema.compiler.objects import CompileContext
from schema.compiler.selection import Collected
from schema.compiler.statement import compile_statement
from schema.sealed_cursors import CursorKeys
from tests.releases.support import (
    Gateway,
    drain,
    family_numbers,
    feed_of,
    fetch,
    gateway,
    household,
    import_release,
    rows_of,
)
from tests.schema.everything import selection, typed_again
from tests.support import TEST_PSEUDONYM_KEY, TEST_SECRET

PERSON_CHANGES = """
query Changes($after: String, $first: Int) {
  changes(after: $after, first: $first) {
    pageInfo { hasNextPage endCursor }
    nodes { kind subjectType subject release { id } person { nik sex age } }
  }
}
"""


async def _moves(url: str, tmp_path: Path, *, release: str) -> tuple[int, int]:
    """Import a release moving one family from desil 5 to 3 and one from 3 to 7."""
    poorer = await family_numbers(url, "kabupaten_code = '3509' AND welfare_decile = 5")
    richer = await family_numbers(url, "kabupaten_code = '3509' AND welfare_decile = 3")
    rows = await rows_of(url, poorer + richer)
    household(rows, poorer[0])["welfare_decile"] = 3
    household(rows, richer[0])["welfare_decile"] = 7
    await import_release(url, tmp_path / release, rows, release=release)
    ids = await fetch(
        url, "SELECT kk_number, id FROM households WHERE kk_number = ANY($1)", poorer + richer
    )
    by_kk = {row["kk_number"]: row["id"] for row in ids}
    return by_kk[poorer[0]], by_kk[richer[0]]


async def test_a_sync_from_its_bookmark_gets_the_release_once_and_then_nothing(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    async with gateway(url, tmp_path / "data") as gw:
        headers = await gw.headers("dinsos-pkh")
        seeded, bookmark = await drain(gw, headers, after=None)
        assert {node["kind"] for node in seeded} == {"ENTERED"}
        assert {node["release"]["id"] for node in seeded} == {"seed"}
        moved_in, moved_out = await _moves(url, tmp_path, release="2025Q3")

        changes, bookmark = await drain(gw, headers, after=bookmark)
        by_kind = {node["kind"]: node for node in changes}
        assert len(changes) == 2
        assert by_kind["ENTERED"]["household"] == {"id": str(moved_in), "welfareDecile": 3}
        assert by_kind["ENTERED"]["subject"] == str(moved_in)
        # What left: its id, nothing more (welfareDecile is not told).
        assert by_kind["LEFT"]["subject"] == str(moved_out)
        assert by_kind["LEFT"]["household"] is None
        assert {node["subjectType"] for node in changes} == {"HOUSEHOLD"}
        assert {node["release"]["id"] for node in changes} == {"2025Q3"}

        again, same = await drain(gw, headers, after=bookmark)
        assert again == []
        assert same == bookmark


async def test_a_pseudonym_program_is_told_who_left_by_its_pseudonym_only(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    async with gateway(url, tmp_path / "data") as gw:
        headers = await gw.headers("dinkes-pbi")
        _, bookmark = await drain(gw, headers, after=None, document=PERSON_CHANGES)
        _, moved_out = await _moves(url, tmp_path, release="2025Q3")
        changes, _ = await drain(gw, headers, after=bookmark, document=PERSON_CHANGES)
    members = await fetch(url, "SELECT nik FROM persons WHERE household_id = $1", moved_out)
    expected = {
        pseudonym(row["nik"], program="dinkes-pbi", pseudonym_key=bytes.fromhex(TEST_PSEUDONYM_KEY))
        for row in members
    }
    assert {node["kind"] for node in changes} == {"LEFT"}
    assert {node["subjectType"] for node in changes} == {"PERSON"}
    assert {node["subject"] for node in changes} == expected
    # Nothing else of who left: no sex, no age, no NIK.
    assert all(node["person"] is None for node in changes)
    assert all(row["nik"] not in str(changes) for row in members)


async def test_reading_changes_is_a_disclosure_on_the_audit_trail(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    async with gateway(url, tmp_path / "data") as gw:
        headers = await gw.headers("dinsos-pkh")
        _, bookmark = await drain(gw, headers, after=None)
        moved_in, moved_out = await _moves(url, tmp_path, release="2025Q3")
        await drain(gw, headers, after=bookmark)
    (event,) = await fetch(
        url,
        "SELECT household_ids, field_paths FROM audit_events WHERE program = 'dinsos-pkh'"
        " AND endpoint = 'graphql' AND outcome = 'allowed' ORDER BY seq DESC LIMIT 1",
    )
    assert sorted(event["household_ids"]) == sorted([moved_in, moved_out])
    assert "changes.nodes.household.welfareDecile" in event["field_paths"]
    assert "changes.nodes.household.id" in event["field_paths"]
    assert "changes.nodes.subject" in event["field_paths"]


async def _page_while_importing(gw: Gateway, headers: dict[str, str], bookmark: str | None,
                                imports: asyncio.Task[None]) -> list[dict[str, Any]]:  # fmt: skip
    """Page with ``first: 7`` from ``bookmark`` until the imports are done and nothing is left."""
    seen: list[dict[str, Any]] = []
    while True:
        finished = imports.done()
        body = await gw.query(
            headers,
            "query($after: String) { changes(after: $after, first: 7) {"
            " pageInfo { hasNextPage endCursor } nodes { kind release { id } subject } } }",
            {"after": bookmark},
        )
        page = body["data"]["changes"]
        seen += page["nodes"]
        bookmark = page["pageInfo"]["endCursor"] or bookmark
        if finished and not page["pageInfo"]["hasNextPage"]:
            return seen
        # Within the program's request quota while the imports run.
        await asyncio.sleep(0 if page["nodes"] else 0.05)


async def test_paging_by_seven_while_imports_commit_gets_every_change_exactly_once(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    kks = await family_numbers(url, "kabupaten_code = '3509'", count=600)
    first, second = await rows_of(url, kks[:300]), await rows_of(url, kks[300:])
    for rows in (first, second):
        for row in rows["households"]:
            row["welfare_decile"] = 11 - row["welfare_decile"]
    async with gateway(url, tmp_path / "data") as gw:
        headers = await gw.headers("bps-admin")
        _, bookmark = await drain(gw, headers, after=None)

        async def two_imports() -> None:
            # The second waits for the first's lock: two commits while the consumer pages.
            await asyncio.gather(
                import_release(url, tmp_path / "a", first, release="2026Q1"),
                import_release(url, tmp_path / "b", second, release="2026Q2"),
            )

        imports = asyncio.create_task(two_imports())
        seen = await _page_while_importing(gw, headers, bookmark, imports)
        await imports
    stored = await fetch(
        url,
        "SELECT c.kind::text, c.household_id, r.id AS release FROM program_changes c"
        " JOIN releases r ON r.no = c.release_no"
        " WHERE c.program = 'bps-admin' AND r.id IN ('2026Q1', '2026Q2') ORDER BY c.position",
    )
    assert len(stored) > 14
    assert [(n["kind"], int(n["subject"]), n["release"]["id"]) for n in seen] == [
        (row["kind"], row["household_id"], row["release"]) for row in stored
    ]


async def _every_kind(url: str, tmp_path: Path) -> None:
    """A release telling dinsos-pkh and dinkes-pbi of each kind: a family from desil 5 to 3
    (ENTERED), one from 3 to 7 (LEFT), one from 2 to 1 (UPDATED for dinsos-pkh, which reads
    the desil), one from 6 to 5 (ENTERED for dinkes-pbi's persons), and a chronic illness
    of a member of a desil-2 family (UPDATED for dinkes-pbi, which reads it)."""
    picked = {
        decile: (
            await family_numbers(url, f"kabupaten_code = '3509' AND welfare_decile = {decile}")
        )[0]
        for decile in (5, 3, 2, 6)
    }
    ill = (await family_numbers(url, "kabupaten_code = '3509' AND welfare_decile = 2", count=2))[1]
    rows = await rows_of(url, [*picked.values(), ill])
    for decile, moved in ((5, 3), (3, 7), (2, 1), (6, 5)):
        household(rows, picked[decile])["welfare_decile"] = moved
    member = next(row for row in rows["persons"] if row["kk_number"] == ill)
    member["chronic_illness"] = "DIABETES" if member["chronic_illness"] != "DIABETES" else "ASTHMA"
    await import_release(url, tmp_path / "kinds", rows, release="2025Q4")


async def test_every_kind_of_change_answers_within_the_schemas_types(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    """No field is null against its declared type, whatever the kind: the fast path's answer
    executed again over the program's types keeps every value, and graphql-core's own
    execution of the program's schema (the introspection path) gives the same answer."""
    url = await make_database()
    async with gateway(url, tmp_path / "data") as gw:
        programs = ("dinsos-pkh", "dinkes-pbi")
        headers = {program: await gw.headers(program) for program in programs}
        bookmarks = {}
        for program in programs:
            _, bookmarks[program] = await drain(
                gw, headers[program], after=None, document=FIRST_PAGE
            )
        await _every_kind(url, tmp_path)
        for program in programs:
            schema = gateway_state(gw.app).engine.runtimes[program].graphql
            assert schema.query_type is not None
            change_type = schema.type_map["Change"]
            assert isinstance(change_type, GraphQLObjectType)
            change = selection(change_type, frozenset({"Change"}))
            assert "subject" in change
            fields = (
                "totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
                f" edges {{ cursor node {{ {change} }} }} nodes {{ {change} }}"
            )
            document = "query ($a: String) { changes(first: 40, after: $a) { %s } }" % fields
            variables = {"a": bookmarks[program]}
            fast = (await gw.query(headers[program], document, variables))["data"]
            nodes = fast["changes"]["nodes"]
            assert {node["kind"] for node in nodes} == {"ENTERED", "UPDATED", "LEFT"}, program
            left = [node for node in nodes if node["kind"] == "LEFT"]
            assert all(
                node.get("household") is None and node.get("person") is None for node in left
            )
            assert all(node["subject"] for node in nodes)

            again = typed_again(schema, document, fast, variables)
            assert again.errors is None, (program, again.errors)
            assert again.data == fast

            introspected = document.replace(
                "{ changes", "{ __schema { queryType { name } } changes"
            )
            slow = (await gw.query(headers[program], introspected, variables))["data"]
            assert slow.pop("__schema") == {"queryType": {"name": "Query"}}
            assert _without_cursors(slow) == _without_cursors(fast)


FIRST_PAGE = """
query Changes($after: String, $first: Int) {
  changes(after: $after, first: $first) { pageInfo { hasNextPage endCursor } nodes { kind } }
}
"""


def _without_cursors(data: dict[str, Any]) -> dict[str, Any]:
    """The answer without its cursors (sealed afresh in every answer), which it counts."""
    connection = dict(data["changes"])
    connection["pageInfo"] = {
        key: value is not None if key.endswith("Cursor") else value
        for key, value in connection["pageInfo"].items()
    }
    connection["edges"] = [{**edge, "cursor": bool(edge["cursor"])} for edge in connection["edges"]]
    return {"changes": connection}


async def test_other_programs_changes_change_nothing_a_program_is_told(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    """Positions number every program's changes in one sequence: kec-sumbersari's answers
    (counts, page info, nodes) are the same before and after a release that changes only
    other programs' feeds, from its bookmark and from the start."""
    url = await make_database()
    query = (
        "query ($a: String, $f: Int) { changes(after: $a, first: $f) { totalCount"
        " pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
        " edges { cursor } nodes { kind subject release { id } } } }"
    )
    async with gateway(url, tmp_path / "data") as gw:
        headers = await gw.headers("kec-sumbersari")
        _, bookmark = await drain(gw, headers, after=None, document=FIRST_PAGE)
        (counted,) = await fetch(
            url, "SELECT count(*) FROM program_changes WHERE program = 'kec-sumbersari'"
        )
        own: int = counted[0]
        asked: list[dict[str, Any]] = [
            {"a": bookmark, "f": 5},
            {"a": None, "f": own},
            {"a": None, "f": own - 1},
        ]
        before = [(await gw.query(headers, query, variables))["data"] for variables in asked]

        elsewhere = await family_numbers(
            url, "kabupaten_code = '3509' AND kecamatan_code <> '3509720' AND welfare_decile = 4",
            count=10,
        )  # fmt: skip
        rows = await rows_of(url, elsewhere)
        for row in rows["households"]:
            row["welfare_decile"] = 5
        await import_release(url, tmp_path / "elsewhere", rows, release="2025Q4")
        assert await feed_of(url, "dinsos-pkh", "2025Q4")
        assert await feed_of(url, "kec-sumbersari", "2025Q4") == []

        after = [(await gw.query(headers, query, variables))["data"] for variables in asked]
    assert before[0]["changes"]["nodes"] == []
    assert before[0]["changes"]["totalCount"] == own
    assert before[1]["changes"]["pageInfo"]["hasNextPage"] is False
    assert before[2]["changes"]["pageInfo"]["hasNextPage"] is True
    assert [_without_cursors(data) for data in after] == [_without_cursors(data) for data in before]


async def _feed_as(program: Program, owner: asyncpg.Connection) -> dict[str, Any]:
    """``changes`` compiled for ``program`` and run straight on the database (no gateway in
    front to refuse the program first)."""
    document = parse("{ changes(first: 10) { totalCount nodes { subject } } }")
    (operation,) = document.definitions
    assert isinstance(operation, OperationDefinitionNode)
    (node,) = operation.selection_set.selections
    assert isinstance(node, FieldNode)
    root = ChangesRoot()
    keys = CursorKeys(bytes.fromhex(TEST_SECRET)).for_program(program.name)
    prepared = root.prepare({"first": 10}, program, cursor_keys=keys)
    ctx = CompileContext(
        program=program,
        pseudonym_key=bytes.fromhex(TEST_PSEUDONYM_KEY),
        fragments={},
        variables={},
    )
    statement = compile_statement(
        root.build(ctx, Collected("changes", "changes", (node,)), prepared),
        frozenset(ctx.field_paths),
    )
    row = await owner.fetchrow(statement.sql, *statement.arguments(prepared.params))
    assert row is not None
    data: dict[str, Any] = json.loads(row["data"])
    return data


async def test_the_feed_is_closed_in_the_statement_when_the_agreement_is_over(
    owner: asyncpg.Connection,
) -> None:
    """A second wall behind the gateway's refusal of a program out of its agreement: the
    statement itself reads no change (not even a subject) outside the agreement's dates."""
    program = load_policies(PACKAGED_POLICY_DIR).programs["dinsos-pkh"]
    in_force = await _feed_as(program, owner)
    assert in_force["totalCount"] > 0
    assert len(in_force["nodes"]) == 10
    yesterday = date.today() - timedelta(days=1)
    over = dataclasses.replace(
        program, agreement=Agreement("X", yesterday - timedelta(days=30), yesterday)
    )
    assert await _feed_as(over, owner) == {"totalCount": 0, "nodes": []}
