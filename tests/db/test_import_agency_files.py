"""Files as agencies have them: ';'-separated CSV from Excel in the id-ID locale, the
questionnaire's numeric codes instead of the value names, and files large enough to need
a progress bar."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
from rich.console import Console

from db.enums import Tenure
from db.importer import ImportRejected, import_registry
from db.importer.layout import ASSISTANCE, HOUSEHOLDS, PERSONS, allowed_values
from db.importer.registry import PROGRESS_ROWS
from db.importer.template import readme_text
from tests.db.support import LayoutRows, fingerprints, layout_rows, run_cli, text, write_csv


async def _rows(url: str, count: int) -> LayoutRows:
    connection = await asyncpg.connect(url)
    try:
        kks = await connection.fetchval(
            "SELECT array_agg(kk_number ORDER BY id) FROM"
            " (SELECT kk_number, id FROM households ORDER BY id LIMIT $1) f",
            count,
        )
        return await layout_rows(connection, kks)
    finally:
        await connection.close()


def _write(directory: Path, rows: LayoutRows, *, separator: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for spec in (HOUSEHOLDS, PERSONS, ASSISTANCE):
        with (directory / f"{spec.table}.csv").open("w", newline="", encoding="utf-8-sig") as file:
            writer = csv.writer(file, delimiter=separator)
            writer.writerow(spec.names)
            for row in rows[spec.table]:
                writer.writerow([text(row.get(name)) for name in spec.names])
    return directory


async def test_a_semicolon_separated_file_imports_as_the_comma_one_and_says_so(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    first, second = await make_database(), await make_database()
    rows = await _rows(first, 3)
    rows["households"][0]["address"] = "Jl. Mawar; Gg. Melati No. 3"  # a ';' inside a value
    await import_registry(first, write_csv(tmp_path / "comma", rows))
    summary = await import_registry(second, _write(tmp_path / "semicolon", rows, separator=";"))
    assert await fingerprints(first, timestamps=False) == await fingerprints(
        second, timestamps=False
    )
    assert any("households.csv is separated by ';'" in note for note in summary.notes)
    result = await run_cli(second, "import", str(tmp_path / "semicolon"), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "households.csv is separated by ';', not commas" in result.stderr
    assert "missing from the header" not in result.stderr


async def test_numeric_questionnaire_codes_are_accepted_beside_the_names(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    by_name, by_code = await make_database(), await make_database()
    rows = await _rows(by_name, 3)
    for household in rows["households"]:
        household["tenure"] = "OWN"
    await import_registry(by_name, write_csv(tmp_path / "names", rows))
    for household in rows["households"]:
        household["tenure"] = "1"  # r301a: 1 = Milik sendiri
    for person in rows["persons"]:
        person["sex"] = "1" if person["sex"] == "MALE" else "2"  # r405
    await import_registry(by_code, write_csv(tmp_path / "codes", rows))
    assert await fingerprints(by_name, timestamps=False) == await fingerprints(
        by_code, timestamps=False
    )
    rows["households"][0]["tenure"] = str(len(Tenure) + 1)
    result = await run_cli(by_code, "import", str(write_csv(tmp_path / "bad", rows)), "--dry-run")
    assert result.returncode == 1
    assert "tenure: must be one of OWN, CONTRACT" in result.stderr
    assert f"or its questionnaire code 1-{len(Tenure)}; not '{len(Tenure) + 1}'" in result.stderr


def test_the_template_readme_gives_each_values_code_and_the_separator_rule() -> None:
    readme = readme_text()
    assert "separated by ';'" in readme
    assert "questionnaire's numeric" in readme
    tenure = next(column for column in HOUSEHOLDS.columns if column.name == "tenure")
    for code, (value, label) in enumerate(allowed_values(tenure), start=1):
        assert f"{code:>2}  {value:<32} {label}" in readme


async def test_a_file_of_more_than_10000_rows_shows_a_progress_bar(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    rows = await _rows(url, 1)
    household = rows["households"][0]
    big = {"households": [household] * (PROGRESS_ROWS + 1), "persons": [], "assistance": []}
    small = {"households": [household] * 10, "persons": [], "assistance": []}
    shown = {}
    for name, layout in (("big", big), ("small", small)):
        directory = tmp_path / name
        write_csv(directory, layout)
        (directory / "persons.csv").unlink()
        (directory / "assistance.csv").unlink()
        screen = io.StringIO()
        console = Console(file=screen, force_terminal=True, width=120)
        with pytest.raises(ImportRejected):  # the repeated family is refused: still a bar
            await import_registry(url, directory, dry_run=True, progress=console)
        shown[name] = screen.getvalue()
    assert "checking households.csv" in shown["big"]
    assert f"{PROGRESS_ROWS + 1}/{PROGRESS_ROWS + 1}" in shown["big"]
    assert "checking" not in shown["small"]
