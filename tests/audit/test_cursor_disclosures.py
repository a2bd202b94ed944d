"""Cursors are disclosures (CONTRACT §5, §7): the rows a returned cursor points at are on
the audit record as the rows of returned nodes are.

Issue 14, finding 2: ``persons(first: 1000) { edges { cursor } }`` gave dinkes-pbi 1,000
person ids and its audit event said ``row_count 0``, no ids, no field paths. A query of
cursors only is now audited like the same query of ``id``s: the same ids, the same
row count, under the cursors' own field paths.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from tests.policies.expected import HOUSEHOLD_SQL, PERSON_SQL
from tests.schema.conftest import Headers, token_headers


@pytest.fixture
async def event_of(http: httpx.AsyncClient, registry_url: str) -> AsyncIterator[Any]:
    """``await event_of(headers, query)``: the answer's data and its audit event."""
    owner = await asyncpg.connect(registry_url)

    async def ask(headers: Headers, query: str) -> tuple[dict[str, Any], asyncpg.Record]:
        answer = await http.post("/graphql", json={"query": query}, headers=headers)
        assert answer.status_code == 200, answer.text
        event = await owner.fetchrow(
            "SELECT outcome, household_ids, person_ids, row_count, field_paths"
            " FROM audit_events WHERE request_id = $1",
            answer.headers["x-request-id"],
        )
        assert event is not None
        assert event["outcome"] == "allowed"
        data: dict[str, Any] = answer.json()["data"]
        return data, event

    try:
        yield ask
    finally:
        await owner.close()


@pytest.fixture
async def headers_of(app: Starlette, http: httpx.AsyncClient, registry_url: str) -> Any:
    made: dict[str, Headers] = {}

    async def get(program: str) -> Headers:
        if program not in made:
            made[program] = await token_headers(app, http, owner_url=registry_url, program=program)
        return made[program]

    return get


async def scope_ids(registry_url: str, program: str, entity: str) -> list[int]:
    """The rows ``program`` sees, in id order (the order of its default pages)."""
    owner = await asyncpg.connect(registry_url)
    try:
        if entity == "households":
            sql = f"SELECT h.id FROM households h WHERE ({HOUSEHOLD_SQL[program]}) ORDER BY h.id"
        else:
            sql = (
                "SELECT p.id FROM persons p JOIN households h ON h.id = p.household_id"
                f" WHERE ({PERSON_SQL[program]}) ORDER BY p.id"
            )
        return [row["id"] for row in await owner.fetch(sql)]
    finally:
        await owner.close()


CASES = [
    ("dinsos-pkh", "persons", "persons(first: 7)", "edges { cursor }", "persons.edges.cursor"),
    (
        "kec-sumbersari",
        "households",
        "households(first: 6, orderBy: UPDATED_AT_ASC)",
        "edges { cursor }",
        "households.edges.cursor",
    ),
    (
        "bps-admin",
        "households",
        "households(first: 4, orderBy: WELFARE_DECILE_ASC)",
        "edges { cursor } pageInfo { endCursor }",
        "households.edges.cursor",
    ),
]


@pytest.mark.parametrize(("program", "root", "call", "cursors", "path"), CASES)
async def test_a_cursor_only_query_is_audited_like_a_query_of_ids(
    event_of: Any,
    headers_of: Any,
    program: str,
    root: str,
    call: str,
    cursors: str,
    path: str,
) -> None:
    headers = await headers_of(program)
    ids_data, by_id = await event_of(headers, "{ %s { nodes { id } } }" % call)
    _, by_cursor = await event_of(headers, "{ %s { %s } }" % (call, cursors))
    shown = [int(node["id"]) for node in ids_data[root]["nodes"]]
    assert shown
    column = "household_ids" if root == "households" else "person_ids"
    assert sorted(by_cursor[column]) == sorted(by_id[column]) == sorted(shown)
    assert by_cursor["row_count"] == by_id["row_count"] == len(shown)
    assert path in by_cursor["field_paths"]
    assert by_id["field_paths"] == [f"{root}.nodes.id"]


async def test_dinkes_cursors_are_on_its_audit_record(
    event_of: Any, headers_of: Any, registry_url: str
) -> None:
    """dinkes-pbi reads no ``Person.id``; the persons its cursors point at are recorded."""
    headers = await headers_of("dinkes-pbi")
    data, event = await event_of(headers, "{ persons(first: 40) { edges { cursor } } }")
    assert len(data["persons"]["edges"]) == 40
    on_page = (await scope_ids(registry_url, "dinkes-pbi", "persons"))[:40]
    assert sorted(event["person_ids"]) == on_page
    assert event["household_ids"] == []
    assert event["row_count"] == 40
    assert event["field_paths"] == ["persons.edges.cursor"]


async def test_page_cursors_disclose_the_first_and_last_row(
    event_of: Any, headers_of: Any, registry_url: str
) -> None:
    headers = await headers_of("kec-sumbersari")
    visible = await scope_ids(registry_url, "kec-sumbersari", "households")
    _, end = await event_of(headers, "{ households(first: 5) { pageInfo { endCursor } } }")
    assert (end["household_ids"], end["row_count"]) == ([visible[4]], 1)
    assert end["field_paths"] == ["households.pageInfo.endCursor"]
    _, start = await event_of(headers, "{ households(first: 5) { pageInfo { startCursor } } }")
    assert (start["household_ids"], start["row_count"]) == ([visible[0]], 1)
    assert start["field_paths"] == ["households.pageInfo.startCursor"]
    _, both = await event_of(
        headers, "{ households(first: 5) { pageInfo { startCursor endCursor hasNextPage } } }"
    )
    assert sorted(both["household_ids"]) == [visible[0], visible[4]]
    assert both["row_count"] == 2
    # The last page ends at the last row the program sees, not at `first`.
    _, last = await event_of(headers, "{ households(first: 1000) { pageInfo { endCursor } } }")
    assert len(visible) < 1000
    assert last["household_ids"] == [visible[-1]]
    # No rows, no cursor, nothing disclosed.
    data, none = await event_of(headers, "{ households(first: 0) { pageInfo { endCursor } } }")
    assert data["households"]["pageInfo"]["endCursor"] is None
    assert (none["household_ids"], none["row_count"]) == ([], 0)


async def test_the_introspection_path_records_cursors_alike(event_of: Any, headers_of: Any) -> None:
    headers = await headers_of("dinsos-pkh")
    query = "{ %s persons(first: 3) { edges { cursor } pageInfo { endCursor } } }"
    _, fast = await event_of(headers, query % "")
    _, slow = await event_of(headers, query % "__schema { queryType { name } }")
    assert len(fast["person_ids"]) == 3
    assert sorted(slow["person_ids"]) == sorted(fast["person_ids"])
    assert slow["row_count"] == fast["row_count"] == 3
    assert (
        sorted(slow["field_paths"])
        == sorted(fast["field_paths"])
        == [
            "persons.edges.cursor",
            "persons.pageInfo.endCursor",
        ]
    )


@pytest.mark.parametrize(
    ("program", "column", "subject_path"),
    [
        ("dinsos-pkh", "household_ids", "changes.nodes.subject"),
        ("dinkes-pbi", "person_ids", "changes.nodes.subject[PSEUDONYM]"),
    ],
)
async def test_the_change_feeds_cursors_are_audited_like_its_subjects(
    event_of: Any, headers_of: Any, registry_url: str, program: str, column: str, subject_path: str
) -> None:
    """A bookmark points at the row its change is about: a household, or (dinkes-pbi, which
    reads neither id) a person; it is recorded as the change's ``subject`` is."""
    owner = await asyncpg.connect(registry_url)
    try:
        first = await owner.fetch(
            "SELECT coalesce(person_id, household_id) AS row_id FROM program_changes"
            " WHERE program = $1 ORDER BY position LIMIT 7",
            program,
        )
    finally:
        await owner.close()
    expected = [row["row_id"] for row in first]
    assert len(expected) == 7
    other = "person_ids" if column == "household_ids" else "household_ids"
    headers = await headers_of(program)
    _, by_subject = await event_of(headers, "{ changes(first: 7) { nodes { subject } } }")
    data, by_cursor = await event_of(headers, "{ changes(first: 7) { edges { cursor } } }")
    assert len(data["changes"]["edges"]) == 7
    assert sorted(by_cursor[column]) == sorted(by_subject[column]) == sorted(expected)
    assert by_cursor[other] == by_subject[other] == []
    assert by_cursor["row_count"] == by_subject["row_count"] == 7
    assert by_cursor["field_paths"] == ["changes.edges.cursor"]
    assert by_subject["field_paths"] == [subject_path]

    _, ends = await event_of(
        headers, "{ changes(first: 7) { pageInfo { startCursor endCursor hasNextPage } } }"
    )
    assert sorted(ends[column]) == sorted([expected[0], expected[-1]])
    assert ends["row_count"] == 2
    assert sorted(ends["field_paths"]) == [
        "changes.pageInfo.endCursor",
        "changes.pageInfo.startCursor",
    ]
