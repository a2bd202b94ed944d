"""Releases from real imports: what each program is told, identity across releases, records."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from db.importer import ImportRejected
from db.releases.ledger import ReleaseRefused
from tests.db.support import run_cli
from tests.releases.support import (
    family_numbers,
    feed_of,
    fetch,
    household,
    import_release,
    rows_of,
)

PROGRAMS = ("bps-admin", "dinsos-pkh", "dinkes-pbi", "dp3akb-keluarga", "kec-sumbersari")


async def test_the_seed_is_release_seed_and_every_row_in_scope_entered(
    make_database: Callable[[], Awaitable[str]],
) -> None:
    url = await make_database()
    (seed,) = await fetch(url, "SELECT kind, households_added FROM releases WHERE id = 'seed'")
    assert tuple(seed) == ("seed", 1500)
    entered = await fetch(
        url,
        "SELECT count(*) FILTER (WHERE c.kind = 'ENTERED') AS entered, count(*) AS total"
        " FROM program_changes c WHERE c.program = 'dinsos-pkh'",
    )
    in_scope = await fetch(
        url,
        "SELECT count(*) FROM households WHERE kabupaten_code = '3509' AND welfare_decile <= 4",
    )
    assert entered[0]["entered"] == entered[0]["total"] == in_scope[0][0] > 0


async def test_desil_5_to_3_enters_pkh_only_and_3_to_7_leaves(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    poorer, richer = (
        await family_numbers(url, "kabupaten_code = '3509' AND welfare_decile = 5"),
        await family_numbers(url, "kabupaten_code = '3509' AND welfare_decile = 3"),
    )
    rows = await rows_of(url, poorer + richer)
    household(rows, poorer[0])["welfare_decile"] = 3
    household(rows, richer[0])["welfare_decile"] = 7
    summary = await import_release(url, tmp_path / "r1", rows, release="2025Q3")

    ids = {
        row["kk_number"]: row["id"]
        for row in await fetch(
            url, "SELECT kk_number, id FROM households WHERE kk_number = ANY($1)", poorer + richer
        )
    }
    moved_in, moved_out = ids[poorer[0]], ids[richer[0]]
    assert (summary.counts.households_changed, summary.counts.households_added) == (2, 0)
    # Within a release, changes follow the household ids.
    assert await feed_of(url, "dinsos-pkh", "2025Q3") == sorted(
        [("ENTERED", moved_in, None), ("LEFT", moved_out, None)], key=lambda change: change[1]
    )
    # dinkes-pbi: the poorer family's members were in its scope (desil <= 5) before and after,
    # and it reads no desil: nothing. The richer family's members leave it (desil 7 > 5).
    members_out = await fetch(
        url, "SELECT id FROM persons WHERE household_id = $1 ORDER BY id", moved_out
    )
    assert await feed_of(url, "dinkes-pbi", "2025Q3") == [
        ("LEFT", moved_out, member["id"]) for member in members_out
    ]
    assert await feed_of(url, "dp3akb-keluarga", "2025Q3") == []
    assert await feed_of(url, "bps-admin", "2025Q3") == [
        ("UPDATED", household_id, None) for household_id in sorted([moved_in, moved_out])
    ]
    (recorded,) = await fetch(url, "SELECT * FROM releases WHERE id = '2025Q3'")
    assert recorded["households_changed"] == 2
    assert recorded["last_position"] - recorded["first_position"] + 1 == summary.changes
    files = json.loads(recorded["files"])
    assert [file["name"] for file in files] == ["assistance.csv", "households.csv", "persons.csv"]
    assert all(len(file["sha256"]) == 64 for file in files)


async def test_reimporting_unchanged_families_changes_nothing(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    kks = await family_numbers(url, "member_count >= 3", count=20)
    rows = await rows_of(url, kks)
    before = await fetch(
        url,
        "SELECT h.id, h.updated_at, array_agg(p.id ORDER BY p.id) AS members FROM households h"
        " JOIN persons p ON p.household_id = h.id GROUP BY h.id ORDER BY h.id",
    )
    summary = await import_release(url, tmp_path / "same", rows, release="unchanged")
    assert summary.changes == 0
    assert summary.counts.households_changed == summary.counts.persons_changed == 0
    after = await fetch(
        url,
        "SELECT h.id, h.updated_at, array_agg(p.id ORDER BY p.id) AS members FROM households h"
        " JOIN persons p ON p.household_id = h.id GROUP BY h.id ORDER BY h.id",
    )
    assert after == before
    for program in PROGRAMS:
        assert await feed_of(url, program, "unchanged") == []


async def test_members_keep_their_ids_and_a_removed_member_leaves(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    (kk,) = await family_numbers(
        url, "kabupaten_code = '3509' AND welfare_decile <= 4 AND member_count >= 3"
    )
    rows = await rows_of(url, [kk])
    members = sorted(rows["persons"], key=lambda person: person["member_no"])
    first, second, last = members[0], members[1], members[-1]
    ids_before = {
        row["nik"]: row["id"]
        for row in await fetch(url, "SELECT nik, id FROM persons WHERE nik = ANY($1)",
                               [person["nik"] for person in members])
    }  # fmt: skip
    # The two first members swap their numbers, one is renamed, the last one leaves.
    first["member_no"], second["member_no"] = second["member_no"], first["member_no"]
    second["name"] = "Nama Baru Sekali"
    rows["persons"].remove(last)
    household(rows, kk)["member_count"] = len(rows["persons"])
    summary = await import_release(url, tmp_path / "members", rows, release="members")
    assert (summary.counts.persons_changed, summary.counts.persons_removed) == (2, 1)
    ids_after = {
        row["nik"]: row["id"]
        for row in await fetch(url, "SELECT nik, id FROM persons WHERE nik = ANY($1)",
                               [person["nik"] for person in members])
    }  # fmt: skip
    assert ids_after == {nik: ids_before[nik] for nik in ids_before if nik != last["nik"]}
    household_id = (await fetch(url, "SELECT id FROM households WHERE kk_number = $1", kk))[0][0]
    # dinsos-pkh reads members' names: UPDATED. kec-sumbersari does not see the family.
    assert await feed_of(url, "dinsos-pkh", "members") == [("UPDATED", household_id, None)]
    dinkes = await feed_of(url, "dinkes-pbi", "members")
    # dinkes-pbi reads no names or member numbers: only the member who left is news.
    assert dinkes == [("LEFT", household_id, ids_before[last["nik"]])]
    (stored,) = await fetch(url, "SELECT nik FROM program_changes WHERE program = 'dinkes-pbi'"
                            " AND person_id = $1 AND kind = 'LEFT'", ids_before[last["nik"]])  # fmt: skip
    assert stored["nik"] == last["nik"]


async def test_a_rejected_import_records_no_release(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    rows = await rows_of(url, await family_numbers(url, "true", count=2))
    rows["households"][0]["welfare_decile"] = 11
    with pytest.raises(ImportRejected):
        await import_release(url, tmp_path / "bad", rows, release="bad")
    assert await fetch(url, "SELECT id FROM releases WHERE id = 'bad'") == []
    with pytest.raises(ReleaseRefused):
        await import_release(url, tmp_path / "seed", rows, release="seed")
    rows["households"][0]["welfare_decile"] = 2
    await import_release(url, tmp_path / "ok", rows, release="2025Q4")
    with pytest.raises(ReleaseRefused):
        await import_release(url, tmp_path / "again", rows, release="2025Q4")


async def test_updated_at_is_the_release_time_and_moves_only_with_a_change(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    changed, unchanged = await family_numbers(url, "true", count=2)
    rows = await rows_of(url, [changed, unchanged])
    household(rows, changed)["address"] = "Jl. Mawar No. 7"
    before = await fetch(url, "SELECT updated_at FROM households WHERE kk_number = $1", unchanged)
    await import_release(url, tmp_path / "r", rows, release="2026Q1")
    (release,) = await fetch(url, "SELECT imported_at FROM releases WHERE id = '2026Q1'")
    stamped = await fetch(
        url, "SELECT kk_number, updated_at FROM households WHERE kk_number = ANY($1)",
        [changed, unchanged],
    )  # fmt: skip
    times = {row["kk_number"]: row["updated_at"] for row in stamped}
    assert times[changed] == release["imported_at"]
    assert times[unchanged] == before[0]["updated_at"]
    assert isinstance(times[changed], dt.datetime)


async def test_releases_command_lists_newest_first_as_json(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    rows = await rows_of(url, await family_numbers(url, "true"))
    rows["households"][0]["address"] = "Jl. Melati No. 1"
    await import_release(url, tmp_path / "r", rows, release="2025Q3")
    listed = await run_cli(url, "releases", "--json")
    assert listed.returncode == 0, listed.stderr
    releases = json.loads(listed.stdout)
    assert [release["id"] for release in releases][:2] == ["2025Q3", "seed"]
    assert releases[0]["households"] == {"added": 0, "changed": 1, "removed": 0}
    assert releases[0]["files"][0]["sha256"]
