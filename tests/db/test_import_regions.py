"""``regsosek import-regions``: a BPS region master file, validated whole, upserted by code."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from api.cli.db import upgrade_database
from db.importer import ImportRejected, Unreadable, import_regions
from tests.db.support import fingerprints, run_cli

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "regions"


async def test_a_master_file_adds_new_codes_and_updates_changed_names(
    make_database: Callable[[], Awaitable[str]],
) -> None:
    url = await make_database()
    summary = await import_regions(url, FIXTURES / "good.csv")
    assert (summary.added, summary.updated, summary.unchanged) == (4, 2, 3)
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT code, parent_code, level::text, name FROM regions"
            " WHERE code IN ('3509010001', '3509010006', '3510', '3510010001') ORDER BY code"
        )
    finally:
        await connection.close()
    assert [tuple(row) for row in rows] == [
        ("3509010001", "3509010", "DESA", "PASEBAN"),
        ("3509010006", "3509010", "DESA", "KRATON"),
        ("3510", "35", "KABUPATEN", "KABUPATEN BANYUWANGI"),
        ("3510010001", "3510010", "DESA", "SARONGAN"),
    ]
    again = await import_regions(url, FIXTURES / "good.csv")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 9)


async def test_a_master_file_loads_into_an_empty_registry(empty_database: str) -> None:
    await upgrade_database(empty_database)
    summary = await import_regions(empty_database, FIXTURES / "good.csv")
    assert (summary.added, summary.updated, summary.unchanged) == (9, 0, 0)


async def test_a_bad_master_file_writes_nothing_and_names_every_bad_row(
    make_database: Callable[[], Awaitable[str]],
) -> None:
    url = await make_database()
    before = await fingerprints(url)
    with pytest.raises(ImportRejected) as rejected:
        await import_regions(url, FIXTURES / "bad.csv")
    found = {(problem.line, problem.column) for problem in rejected.value.problems}
    assert found == {
        (4, "code"),
        (5, "code"),
        (6, "parent_code"),
        (7, "parent_code"),
        (8, "name"),
        (9, "level"),
        (10, "parent_code"),
        (12, "code"),
        (13, "parent_code"),
        (14, "(row)"),
    }
    assert all(problem.file == "bad.csv" and problem.reason for problem in rejected.value.problems)
    assert await fingerprints(url) == before


async def test_a_file_without_the_master_file_header_is_refused(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    path = tmp_path / "regions.csv"
    path.write_text("kode,induk,tingkat,nama\n35,,provinsi,JAWA TIMUR\n")
    with pytest.raises(ImportRejected) as rejected:
        await import_regions(url, path)
    missing = {p.column for p in rejected.value.problems if p.reason == "missing from the header"}
    assert missing == {"code", "parent_code", "level", "name"}
    with pytest.raises(Unreadable):
        await import_regions(url, tmp_path / "absent.csv")


async def test_cli_prints_each_bad_row_and_exits_1(
    make_database: Callable[[], Awaitable[str]],
) -> None:
    url = await make_database()
    result = await run_cli(url, "import-regions", str(FIXTURES / "bad.csv"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "bad.csv line 6, column parent_code: 3508 is not the beginning of code 3509030" in (
        result.stderr
    )
    assert "bad.csv line 12, column code: same code as line 11" in result.stderr
    assert "10 problem(s) in 10 row(s); nothing was written" in result.stderr

    result = await run_cli(url, "import-regions", str(FIXTURES / "good.csv"))
    assert result.returncode == 0, result.stderr
    assert "regions: 4 added, 2 updated, 3 unchanged" in result.stdout
