"""What auditors read: ``auditEvents`` (filters, keyset pages) and ``disclosures(householdId)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import orjson
import pytest

from audit.lookups import audit_events, decode_cursor, disclosures, make_filter
from errors import BadInput
from tests.audit.support import ChainDatabase, sample_event


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
        await audit_events(connection, event_filter=make_filter(**filters), first=100)  # type: ignore[arg-type]
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


async def test_audit_events_pages_with_an_opaque_keyset_cursor(
    story: Story, auditor: asyncpg.Connection
) -> None:
    seen: list[int] = []
    after = None
    pages = 0
    while True:
        page = orjson.loads(await audit_events(auditor, first=4, after=after))
        pages += 1
        assert page["totalCount"] == 6
        seen += [node["sequence"] for node in page["nodes"]]
        assert [edge["node"] for edge in page["edges"]] == page["nodes"]
        assert decode_cursor(page["edges"][-1]["cursor"]) == seen[-1]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 2
    assert seen == sorted(story.seq.values())
    node = orjson.loads(await audit_events(auditor, first=1))["nodes"][0]
    assert set(node) == {
        "sequence",
        "occurredAt",
        "clientId",
        "agency",
        "program",
        "agreement",
        "purpose",
        "operationName",
        "documentHash",
        "outcome",
        "errorCode",
        "fieldPaths",
        "householdIds",
        "personIds",
    }
    assert node["outcome"] == "ALLOWED"
    assert node["householdIds"] == [str(story.household)]


async def test_an_empty_page_has_no_cursor(story: Story, auditor: asyncpg.Connection) -> None:
    page = orjson.loads(
        await audit_events(auditor, event_filter=make_filter(program="nobody"), with_total=False)
    )
    assert page == {
        "totalCount": None,
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "nodes": [],
        "edges": [],
    }


@pytest.mark.parametrize("cursor", ["", "not base64!", "YXVkaXQ6", "b3RoZXI6MTI="])
async def test_a_foreign_cursor_is_bad_input(auditor: asyncpg.Connection, cursor: str) -> None:
    with pytest.raises(BadInput):
        await audit_events(auditor, after=cursor)


@pytest.mark.parametrize("first", [-1, 1001])
async def test_pages_hold_at_most_1000_events(auditor: asyncpg.Connection, first: int) -> None:
    with pytest.raises(BadInput):
        await audit_events(auditor, first=first)


def test_unknown_outcomes_and_naive_times_are_bad_input() -> None:
    with pytest.raises(BadInput):
        make_filter(outcome="maybe")
    with pytest.raises(BadInput):
        make_filter(occurred_from=datetime(2026, 1, 1))
