"""``regsosek import``: families, members and receipts from CSV or Parquet, all or nothing."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from db.derived import refresh_household_derived
from db.importer import ImportRejected, Unreadable, import_registry
from db.importer.layout import FILES, allowed_values
from tests.db.support import (
    LayoutRows,
    fingerprints,
    layout_rows,
    new_nik,
    run_cli,
    text,
    write_csv,
    write_parquet,
)

NEW_KK = "3509010101209999"


async def _families(url: str, count: int) -> LayoutRows:
    """``count`` families of 3+ members with receipts, as import rows."""
    connection = await asyncpg.connect(url)
    try:
        kks = await connection.fetchval(
            "SELECT array_agg(kk_number ORDER BY id) FROM (SELECT kk_number, id FROM households"
            " WHERE member_count >= 3 AND cardinality(received_programs) >= 2"
            " ORDER BY id LIMIT $1) f",
            count,
        )
        return await layout_rows(connection, kks)
    finally:
        await connection.close()


def _members(rows: LayoutRows, kk: object) -> list[dict[str, Any]]:
    return [person for person in rows["persons"] if person["kk_number"] == kk]


def _new_family(rows: LayoutRows) -> None:
    """Append a new two-member family with one PKH receipt, built on existing rows' shape."""
    household = dict(rows["households"][0], kk_number=NEW_KK, desa_code="3509010001")
    household.update(sls_code="35090100010001", member_count=2, head_name="Budi Santoso")
    rows["households"].append(household)
    template = rows["persons"][0]
    head_born, wife_born = dt.date(1980, 5, 12), dt.date(1985, 7, 1)
    rows["persons"].append(
        dict(template, kk_number=NEW_KK, member_no=1, name="Budi Santoso", sex="MALE",
             birth_date=head_born, relationship_to_head="HEAD", marital_status="MARRIED",
             pregnant=False, nik=new_nik(ordinal=1, born=head_born, female=False, serial=9999))
    )  # fmt: skip
    rows["persons"].append(
        dict(template, kk_number=NEW_KK, member_no=2, name="Siti Aminah", sex="FEMALE",
             birth_date=wife_born, relationship_to_head="SPOUSE", marital_status="MARRIED",
             pregnant=True, nik=new_nik(ordinal=1, born=wife_born, female=True, serial=9999))
    )  # fmt: skip
    rows["assistance"].append({"kk_number": NEW_KK, "program": "PKH", "month": 3, "year": 2022})


def _changed(rows: LayoutRows) -> LayoutRows:
    """A new decile and address for family 0, a member fewer for 1, no receipts for 2, a new one."""
    second, third = (household["kk_number"] for household in rows["households"][1:3])
    rows["households"][0].update(welfare_decile=10, address="Jl. Baru No. 1 RT 001 RW 001")
    last = _members(rows, second)[-1]
    rows["persons"].remove(last)
    rows["households"][1]["member_count"] = len(_members(rows, second))
    rows["assistance"] = [r for r in rows["assistance"] if r["kk_number"] != third]
    _new_family(rows)
    return rows


async def test_a_csv_import_upserts_families_and_replaces_members_and_receipts(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    rows = _changed(await _families(url, 4))
    first, second, third = (household["kk_number"] for household in rows["households"][:3])
    connection = await asyncpg.connect(url)
    try:
        households_before = await connection.fetchval("SELECT count(*) FROM households")
        untouched = await connection.fetchrow(
            "SELECT id, updated_at FROM households WHERE NOT kk_number = ANY($1) LIMIT 1",
            [household["kk_number"] for household in rows["households"]],
        )
        summary = await import_registry(url, write_csv(tmp_path / "csv", rows))
        assert (summary.households_added, summary.households_replaced) == (1, 4)
        assert summary.persons == len(rows["persons"])
        assert summary.receipts == len(rows["assistance"])
        assert await connection.fetchval("SELECT count(*) FROM households") == households_before + 1

        changed = await connection.fetchrow(
            "SELECT welfare_decile, address, updated_at > created_at AS touched"
            " FROM households WHERE kk_number = $1",
            first,
        )
        assert tuple(changed) == (10, "Jl. Baru No. 1 RT 001 RW 001", True)
        fewer = await connection.fetchrow(
            "SELECT h.member_count, count(p.id) AS members FROM households h"
            " JOIN persons p ON p.household_id = h.id WHERE h.kk_number = $1"
            " GROUP BY h.member_count",
            second,
        )
        assert fewer["member_count"] == fewer["members"] == len(_members(rows, second))
        assert (
            await connection.fetchval(
                "SELECT received_programs FROM households WHERE kk_number = $1", third
            )
            == []
        )
        new = await connection.fetchrow(
            "SELECT head_sex, youngest_birth_date, received_programs, member_count"
            " FROM households WHERE kk_number = $1",
            NEW_KK,
        )
        assert tuple(new) == ("MALE", dt.date(1985, 7, 1), ["PKH"], 2)
        assert (
            await connection.fetchval(
                "SELECT updated_at FROM households WHERE id = $1", untouched["id"]
            )
            == untouched["updated_at"]
        )
        async with connection.transaction():
            assert await refresh_household_derived(connection) == 0
    finally:
        await connection.close()


async def test_a_parquet_import_writes_what_the_same_csv_import_writes(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    from_csv, from_parquet = await make_database(), await make_database()
    rows = _changed(await _families(from_csv, 4))
    await import_registry(from_csv, write_csv(tmp_path / "csv", rows))
    summary = await import_registry(from_parquet, write_parquet(tmp_path / "parquet", rows))
    assert summary.files == ("assistance.parquet", "households.parquet", "persons.parquet")
    assert await fingerprints(from_parquet, timestamps=False) == await fingerprints(
        from_csv, timestamps=False
    )


async def test_a_single_persons_file_replaces_the_members_of_registered_families(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    rows = await _families(url, 2)
    kk = rows["households"][0]["kk_number"]
    renamed = [dict(person, name=f"Nama Baru {i}") for i, person in enumerate(_members(rows, kk))]
    write_csv(tmp_path, {"households": [], "persons": renamed, "assistance": []})
    summary = await import_registry(url, tmp_path / "persons.csv")
    assert (summary.households_added, summary.households_replaced) == (0, 0)
    assert summary.persons == len(renamed)
    connection = await asyncpg.connect(url)
    try:
        names = await connection.fetchval(
            "SELECT array_agg(p.name ORDER BY p.member_no) FROM persons p"
            " JOIN households h ON h.id = p.household_id WHERE h.kk_number = $1",
            kk,
        )
    finally:
        await connection.close()
    assert names == [person["name"] for person in renamed]


def _spoil(rows: LayoutRows) -> set[tuple[str, int, str]]:
    """Put one kind of mistake in many rows; return the (file, line, column) each must give."""
    kks = [household["kk_number"] for household in rows["households"]]
    expected: set[tuple[str, int, str]] = set()

    def person_line(person: dict[str, Any]) -> int:
        return rows["persons"].index(person) + 2

    rows["households"][0]["welfare_decile"] = 11
    expected.add(("households.csv", 2, "welfare_decile"))
    rows["households"][1].update(desa_code="3509999001", sls_code="35099990010001")
    expected.add(("households.csv", 3, "desa_code"))
    rows["households"][2]["tenure"] = "CASTLE"
    expected.add(("households.csv", 4, "tenure"))
    rows["households"][5]["member_count"] += 1
    expected.add(("households.csv", 7, "member_count"))

    man = next(p for p in rows["persons"] if p["sex"] == "MALE" and p["kk_number"] == kks[0])
    man["pregnant"] = True
    expected.add(("persons.csv", person_line(man), "pregnant"))
    nameless = next(p for p in _members(rows, kks[0]) if p is not man)
    nameless["name"] = ""
    expected.add(("persons.csv", person_line(nameless), "name"))
    impossible = _members(rows, kks[1])[0]
    impossible["birth_date"] = "1990-02-30"
    expected.add(("persons.csv", person_line(impossible), "birth_date"))
    older = next(p for p in _members(rows, kks[2]) if p["birth_date"].month != 2)
    older["birth_date"] = older["birth_date"].replace(year=older["birth_date"].year - 1)
    expected.add(("persons.csv", person_line(older), "nik"))
    short = _members(rows, kks[3])[0]
    short["nik"] = "12345"
    expected.add(("persons.csv", person_line(short), "nik"))
    second_head = _members(rows, kks[4])[1]
    second_head["relationship_to_head"] = "HEAD"
    expected.add(("persons.csv", person_line(second_head), "relationship_to_head"))
    first, twin = _members(rows, kks[5])[:2]
    twin.update(nik=first["nik"], birth_date=first["birth_date"], sex=first["sex"], pregnant=False)
    expected.add(("persons.csv", person_line(twin), "nik"))
    orphan = dict(first, kk_number="3509010101209998", member_no=1)
    female = first["sex"] == "FEMALE"
    orphan["nik"] = new_nik(ordinal=1, born=first["birth_date"], female=female, serial=9998)
    rows["persons"].append(orphan)
    expected.add(("persons.csv", len(rows["persons"]) + 1, "kk_number"))

    rows["assistance"][0]["month"] = 13
    expected.add(("assistance.csv", 2, "month"))
    rows["assistance"].append(dict(rows["assistance"][1]))
    expected.add(("assistance.csv", len(rows["assistance"]) + 1, "month"))
    return expected


async def test_bad_rows_write_nothing_and_each_is_named_with_line_column_and_reason(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    rows = await _families(url, 6)
    expected = _spoil(rows)
    before = await fingerprints(url)
    with pytest.raises(ImportRejected) as rejected:
        await import_registry(url, write_csv(tmp_path, rows))
    problems = rejected.value.problems
    assert {(p.file, p.line, p.column) for p in problems} == expected
    assert all(problem.reason for problem in problems)
    assert await fingerprints(url) == before

    result = await run_cli(url, "import", str(tmp_path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    for file, line, column in expected:
        assert f"{file} line {line}, column {column}: " in result.stderr
    assert "nothing was written" in result.stderr
    assert await fingerprints(url) == before


async def test_a_dry_run_checks_and_reports_without_writing(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    rows = _changed(await _families(url, 3))
    before = await fingerprints(url)
    summary = await import_registry(url, write_csv(tmp_path, rows), dry_run=True)
    assert (summary.dry_run, summary.households_added, summary.households_replaced) == (
        True, 1, 3,
    )  # fmt: skip
    assert await fingerprints(url) == before
    result = await run_cli(url, "import", str(tmp_path), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would import 4 households (1 new, 3 replaced)" in result.stdout
    assert await fingerprints(url) == before


async def test_unreadable_input_is_one_clear_message(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    with pytest.raises(Unreadable, match="no import file"):
        await import_registry(url, tmp_path)
    wrong_name = tmp_path / "keluarga.csv"
    wrong_name.write_text("kk_number\n")
    with pytest.raises(Unreadable, match="name the file households, persons or assistance"):
        await import_registry(url, wrong_name)
    latin1 = tmp_path / "households.csv"
    latin1.write_bytes("kk_number,address\n3509010101200001,Jalan Sémeru\n".encode("latin-1"))
    with pytest.raises(Unreadable, match="not UTF-8"):
        await import_registry(url, latin1)
    result = await run_cli(url, "import", str(latin1))
    assert result.returncode == 1
    assert result.stderr.strip().startswith("households.csv: not UTF-8")
    assert "Traceback" not in result.stderr


async def test_a_header_without_required_columns_is_reported_on_line_1(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    (tmp_path / "assistance.csv").write_text("kk_number,program,bulan\n3509010101200001,PKH,3\n")
    with pytest.raises(ImportRejected) as rejected:
        await import_registry(url, tmp_path)
    assert {(p.line, p.column, p.reason) for p in rejected.value.problems} == {
        (1, "month", "missing from the header"),
        (1, "year", "missing from the header"),
        (1, "bulan", "not a column of the assistance layout"),
    }


async def test_an_exported_template_filled_in_imports(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    template = tmp_path / "template"
    result = await run_cli(url, "export-template", str(template))
    assert result.returncode == 0, result.stderr
    readme = (template / "README.txt").read_text()
    rows = await _families(url, 1)
    _new_family(rows)
    rows = {table: [r for r in found if r["kk_number"] == NEW_KK] for table, found in rows.items()}
    for spec in FILES:
        header = (template / f"{spec.table}.csv").read_text().strip()
        assert header == ",".join(spec.names)
        for column in spec.columns:
            assert f"\n{column.name}" in readme
            for value, _label in allowed_values(column):
                assert value in readme
        with (template / f"{spec.table}.csv").open("a", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=header.split(","))
            writer.writerows({k: text(v) for k, v in row.items()} for row in rows[spec.table])
    assert "r303" in readme
    assert "Tanah" in readme

    result = await run_cli(url, "import", str(template))
    assert result.returncode == 0, result.stderr
    assert "imported 1 households (1 new, 0 replaced), 2 persons, 1 assistance receipts" in (
        result.stdout
    )
    connection = await asyncpg.connect(url)
    try:
        members = await connection.fetchval(
            "SELECT array_agg(p.name ORDER BY p.member_no) FROM persons p"
            " JOIN households h ON h.id = p.household_id WHERE h.kk_number = $1",
            NEW_KK,
        )
    finally:
        await connection.close()
    assert members == ["Budi Santoso", "Siti Aminah"]
