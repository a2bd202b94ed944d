"""``changes(after, first)`` as an agency reads it: bookmarks, exactly once, what a node holds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from policies.masks import pseudonym
from tests.conftest import TEST_PSEUDONYM_KEY
from tests.releases.support import (
    Gateway,
    drain,
    family_numbers,
    fetch,
    gateway,
    household,
    import_release,
    rows_of,
)

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
                                imports: asyncio.Task[None]) -> list[dict[str, object]]:  # fmt: skip
    """Page with ``first: 7`` from ``bookmark`` until the imports are done and nothing is left."""
    seen: list[dict[str, object]] = []
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
