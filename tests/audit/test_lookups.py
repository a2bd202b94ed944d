"""What auditors read: ``auditEvents`` (filters, keyset pages) and ``disclosures(householdId)``."""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
import pytest

from api.graphql.audit_events import AuditEventsRoot
from audit.lookups import audit_events, disclosures, make_filter
from errors import BadInput
from policies import load_policies
from schema.execute import Caller
from schema.sealed_cursors import INVALID_CURSOR, CursorKeys
from tests.audit.support import ChainDatabase, sample_event
from tests.support import REPO

MARK = "0123456789abcdef0123456789abcdef"
"""A cursor mark for calls of ``audit_events`` itself (its cursors stay placeholders)."""
KEYS = CursorKeys(bytes(range(32)))
POLICIES = load_policies(REPO / "policies")


@dataclass
class Story:
    """Six events about two households; ``seq`` by label."""

    household: int
    members: list[int]
    other_household: int
    other_member: int
    seq: dict[str, int]
    at: dict[str, datetime]


@pytest.fixture(scope="module")
async def story(module_chain_db: ChainDatabase) -> Story:
    chain_db = module_chain_db
    owner = await chain_db.owner()
    try:
        families = await owner.fetch(
            "SELECT household_id, array_agg(id ORDER BY id) FROM persons"
            " GROUP BY household_id HAVING count(*) >= 2 ORDER BY household_id LIMIT 2"
        )
    finally:
        await owner.close()
    (household, members), (other_household, other_members) = families
    events = {
        "pkh": sample_event(
            program="dinsos-pkh", client_id="dinsos-client-01", household_ids=[household]
        ),
        "pbi": sample_event(
            program="dinkes-pbi",
            client_id="dinkes-client-01",
            agency="Dinas Kesehatan",
            household_ids=[],
            person_ids=[members[0]],
        ),
        "denied": sample_event(
            program="dp3akb-keluarga",
            client_id="dp3akb-client-01",
            agency="DP3AKB",
            outcome="denied",
            error_code="FORBIDDEN",
            field_paths=[],
            household_ids=[],
            person_ids=[],
        ),
        "other": sample_event(
            program="dinsos-pkh",
            client_id="dinsos-client-01",
            household_ids=[other_household],
            person_ids=[other_members[0]],
        ),
        "kecamatan": sample_event(
            program="kec-sumbersari",
            client_id="sumbersari-client",
            agency="Kecamatan Sumbersari",
            household_ids=[household],
            person_ids=[*members[:2], other_members[0]],
        ),
        "error": sample_event(
            program="bps-admin",
            client_id="bps-client-01",
            outcome="error",
            household_ids=[household],
        ),
    }
    writer = chain_db.writer(flush_ms=0)
    await writer.start()
    try:
        seq = {label: await writer.record(event) for label, event in events.items()}
    finally:
        await writer.close()
    rows = await chain_db.fetch("SELECT seq, occurred_at FROM audit_events")
    by_seq = {row["seq"]: row["occurred_at"] for row in rows}
    return Story(
        household=household,
        members=list(members),
        other_household=other_household,
        other_member=other_members[0],
        seq=seq,
        at={label: by_seq[number] for label, number in seq.items()},
    )


@pytest.fixture
async def auditor(module_chain_db: ChainDatabase) -> AsyncIterator[asyncpg.Connection]:
    """The gateway role in an auditor's read transaction (registry rows hidden by RLS)."""
    connection = await asyncpg.connect(module_chain_db.app_url)
    transaction = connection.transaction(readonly=True)
    await transaction.start()
    await connection.execute("SET LOCAL regsosek.program = 'inspektorat-audit'")
    try:
        yield connection
    finally:
        await transaction.rollback()
        await connection.close()


async def sequences(connection: asyncpg.Connection, **filters: object) -> list[int]:
    page = orjson.loads(
        await audit_events(
            connection,
            event_filter=make_filter(**filters),  # type: ignore[arg-type]
            first=100,
            cursor_mark=MARK,
        )
    )
    return [node["sequence"] for node in page["nodes"]]


async def test_disclosures_list_every_program_that_received_the_family(
    story: Story, auditor: asyncpg.Connection
) -> None:
    listed = orjson.loads(await disclosures(auditor, household_id=story.household))
    assert [item["sequence"] for item in listed] == [
        story.seq["pkh"],
        story.seq["pbi"],
        story.seq["kecamatan"],
    ]
    assert [item["program"] for item in listed] == ["dinsos-pkh", "dinkes-pbi", "kec-sumbersari"]
    assert [item["householdDisclosed"] for item in listed] == [True, False, True]
    assert listed[1]["personIds"] == [str(story.members[0])]
    assert listed[2]["personIds"] == [str(member) for member in story.members[:2]]
    assert set(listed[0]) == {
        "sequence",
        "occurredAt",
        "clientId",
        "agency",
        "program",
        "agreement",
        "purpose",
        "fieldPaths",
        "purposeCode",
        "caseRef",
        "householdDisclosed",
        "personIds",
    }
    assert listed[0]["fieldPaths"] == ["households.nodes.headName", "households.nodes.id"]
    assert listed[0]["occurredAt"].endswith("Z")


async def test_the_auditor_role_reads_no_person_rows_itself(
    story: Story, auditor: asyncpg.Connection
) -> None:
    """The members come from ``regsosek_household_member_ids``, not from reading persons."""
    assert await auditor.fetchval("SELECT count(*) FROM persons") == 0


async def test_disclosures_of_a_household_nobody_received_is_empty(
    story: Story, auditor: asyncpg.Connection
) -> None:
    assert await disclosures(auditor, household_id=10**12) == "[]"


async def test_audit_events_filter_by_each_field(story: Story, auditor: asyncpg.Connection) -> None:
    seq = story.seq
    assert await sequences(auditor) == sorted(seq.values())
    assert await sequences(auditor, program="dinsos-pkh") == [seq["pkh"], seq["other"]]
    assert await sequences(auditor, client_id="dinkes-client-01") == [seq["pbi"]]
    assert await sequences(auditor, agency="DP3AKB") == [seq["denied"]]
    assert await sequences(auditor, outcome="DENIED") == [seq["denied"]]
    assert await sequences(auditor, outcome="allowed", program="dinsos-pkh") == [
        seq["pkh"],
        seq["other"],
    ]
    assert await sequences(auditor, household_id=story.household) == [
        seq["pkh"],
        seq["pbi"],
        seq["kecamatan"],
        seq["error"],
    ]
    assert await sequences(auditor, household_id=story.other_household) == [
        seq["other"],
        seq["kecamatan"],
    ]
    assert await sequences(
        auditor, occurred_from=story.at["pbi"], occurred_to=story.at["other"]
    ) == [seq["pbi"], seq["denied"]]


async def audit_page(
    connection: asyncpg.Connection,
    program: str = "inspektorat-audit",
    **args: object,
) -> dict[str, object]:
    """``auditEvents`` as the GraphQL root answers it (sealed cursors) for ``program``."""
    root = AuditEventsRoot(KEYS)
    caller = Caller("auditor-client", POLICIES.programs[program])
    page: dict[str, object] = await root.value(caller=caller, args=args, connection=connection)
    return page


async def test_audit_events_pages_with_a_sealed_keyset_cursor(
    story: Story, auditor: asyncpg.Connection
) -> None:
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page: dict[str, Any] = await audit_page(auditor, first=4, after=after)
        pages += 1
        assert page["totalCount"] == 6
        seen += [node["sequence"] for node in page["nodes"]]
        assert [edge["node"] for edge in page["edges"]] == page["nodes"]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        for edge in page["edges"]:
            cursor = edge["cursor"]
            assert re.fullmatch(r"[A-Za-z0-9_-]{40,80}", cursor), cursor
            decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            assert struct.pack(">q", int(edge["node"]["sequence"])) not in decoded
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 2
    assert seen == [str(seq) for seq in sorted(story.seq.values())]
    node = orjson.loads(await audit_events(auditor, first=1, cursor_mark=MARK))["nodes"][0]
    assert set(node) == {
        "sequence",
        "occurredAt",
        "clientId",
        "agency",
        "program",
        "agreement",
        "purpose",
        "purposeCode",
        "caseRef",
        "traceId",
        "operationName",
        "documentHash",
        "outcome",
        "errorCode",
        "fieldPaths",
        "householdIds",
        "personIds",
    }
    assert node["outcome"] == "ALLOWED"
    assert (node["purposeCode"], node["caseRef"], node["traceId"]) == (None, None, None)
    assert node["householdIds"] == [str(story.household)]


async def test_an_empty_page_has_no_cursor(story: Story, auditor: asyncpg.Connection) -> None:
    page = orjson.loads(
        await audit_events(
            auditor,
            event_filter=make_filter(program="nobody"),
            with_total=False,
            cursor_mark=MARK,
        )
    )
    assert page == {
        "totalCount": None,
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "nodes": [],
        "edges": [],
    }


@pytest.mark.parametrize("cursor", ["", "not base64!", "YXVkaXQ6", "b3RoZXI6MTI=", "YXVkaXQ6Mg"])
async def test_a_foreign_cursor_is_bad_input(auditor: asyncpg.Connection, cursor: str) -> None:
    """Garbage and the old unsealed form (``audit:2``) alike: one message."""
    with pytest.raises(BadInput) as refused:
        await audit_page(auditor, after=cursor)
    assert refused.value.message == INVALID_CURSOR


async def test_an_audit_cursor_works_only_under_its_filter_and_program(
    story: Story, auditor: asyncpg.Connection
) -> None:
    page: dict[str, Any] = await audit_page(auditor, first=2, filter={"program": "dinsos-pkh"})
    cursor = page["pageInfo"]["endCursor"]
    following: dict[str, Any] = await audit_page(
        auditor, first=2, filter={"program": "dinsos-pkh"}, after=cursor
    )
    assert [node["sequence"] for node in following["nodes"]] == []
    assert [node["sequence"] for node in page["nodes"]] == [
        str(story.seq["pkh"]),
        str(story.seq["other"]),
    ]
    for program, args in [
        ("inspektorat-audit", {"filter": {"program": "dinkes-pbi"}}),
        ("inspektorat-audit", {}),
        ("bps-admin", {"filter": {"program": "dinsos-pkh"}}),
    ]:
        with pytest.raises(BadInput) as refused:
            await audit_page(auditor, program, after=cursor, **args)
        assert refused.value.message == INVALID_CURSOR


@pytest.mark.parametrize("first", [-1, 1001])
async def test_pages_hold_at_most_1000_events(auditor: asyncpg.Connection, first: int) -> None:
    with pytest.raises(BadInput):
        await audit_events(auditor, first=first, cursor_mark=MARK)


def test_unknown_outcomes_and_naive_times_are_bad_input() -> None:
    with pytest.raises(BadInput):
        make_filter(outcome="maybe")
    with pytest.raises(BadInput):
        make_filter(occurred_from=datetime(2026, 1, 1))
