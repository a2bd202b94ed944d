"""``regsosek import-regions``: an official BPS region master file, upserted by code.

The file has the columns ``code,parent_code,level,name`` (header on line
1); ``level`` is provinsi, kabupaten (or kota), kecamatan or desa (or
kelurahan), in any case. Every row is checked first: digits only, a code
length that matches the level (2, 4, 7, 10), a parent one level up whose
code is the code's prefix and which is in the file or already in the
registry, a non-blank name, no code twice. Any bad row rejects the file
(:class:`ImportRejected`, nothing written). A good file is upserted in one
statement: new codes added, changed names or parents updated, the rest
left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

import asyncpg

from db.engine import plain_url
from db.enums import RegionLevel
from db.importer.problems import ImportRejected, Problem
from db.importer.source import RawRow, Source, read_source

COLUMNS = ("code", "parent_code", "level", "name")
LEVEL_NAMES = {
    "provinsi": RegionLevel.PROVINSI,
    "kabupaten": RegionLevel.KABUPATEN,
    "kota": RegionLevel.KABUPATEN,
    "kecamatan": RegionLevel.KECAMATAN,
    "desa": RegionLevel.DESA,
    "kelurahan": RegionLevel.DESA,
}
CODE_LENGTH = {
    RegionLevel.PROVINSI: 2,
    RegionLevel.KABUPATEN: 4,
    RegionLevel.KECAMATAN: 7,
    RegionLevel.DESA: 10,
}
LEVEL_ABOVE = {
    RegionLevel.KABUPATEN: RegionLevel.PROVINSI,
    RegionLevel.KECAMATAN: RegionLevel.KABUPATEN,
    RegionLevel.DESA: RegionLevel.KECAMATAN,
}


@dataclass(frozen=True)
class RegionRow:
    line: int
    code: str
    parent_code: str | None
    level: RegionLevel
    name: str


@dataclass(frozen=True)
class RegionsSummary:
    added: int
    updated: int
    unchanged: int


def _digits(value: str | None) -> TypeGuard[str]:
    return value is not None and value.isascii() and value.isdigit()


def _check_row(source: Source, raw: RawRow) -> tuple[RegionRow | None, list[Problem]]:
    """The row if it is valid on its own (parents are checked later), and its problems."""
    values = raw.values
    if raw.malformed:
        return None, [source.problem(raw.line, "(row)", reason=raw.malformed)]
    found = []
    code, parent, level_name, name = (values.get(column) for column in COLUMNS)
    level = LEVEL_NAMES.get((level_name or "").lower())
    if not _digits(code):
        found.append(("code", f"must be digits, not {code!r}" if code else "a value is required"))
    if level is None:
        choices = ", ".join(LEVEL_NAMES)
        found.append(("level", f"must be one of {choices}; not {level_name!r}"))
    elif _digits(code) and len(code) != CODE_LENGTH[level]:
        found.append(
            ("code", f"a {level_name} code has {CODE_LENGTH[level]} digits, not {len(code)}")
        )
    if level is RegionLevel.PROVINSI and parent:
        found.append(("parent_code", "a provinsi has no parent"))
    elif level is not None and level is not RegionLevel.PROVINSI:
        expected = CODE_LENGTH[LEVEL_ABOVE[level]]
        if not _digits(parent):
            found.append(("parent_code", "a value is required" if not parent else "must be digits"))
        elif len(parent) != expected:
            found.append(("parent_code", f"must be the {expected}-digit code of the level above"))
        elif _digits(code) and not code.startswith(parent):
            found.append(("parent_code", f"{parent} is not the beginning of code {code}"))
    if not name:
        found.append(("name", "a value is required"))
    problems = [source.problem(raw.line, column, reason=reason) for column, reason in found]
    if problems or code is None or level is None or name is None:
        return None, problems
    return RegionRow(raw.line, code, parent, level, name), []


def check_regions(source: Source) -> tuple[list[RegionRow], list[Problem]]:
    """Rows valid on their own and every problem found without the registry."""
    missing = [column for column in COLUMNS if column not in source.header]
    problems = [source.problem(1, column, reason="missing from the header") for column in missing]
    problems += [
        source.problem(1, column, reason="not a column of a region master file")
        for column in source.header
        if column not in COLUMNS
    ]
    if missing:
        return [], problems
    rows: list[RegionRow] = []
    first_line: dict[str, int] = {}
    for raw in source.rows:
        row, found = _check_row(source, raw)
        problems += found
        code = raw.values.get("code")
        if code and code in first_line:
            problems.append(
                source.problem(raw.line, "code", reason=f"same code as line {first_line[code]}")
            )
        elif code:
            first_line[code] = raw.line
            if row is not None:
                rows.append(row)
    return rows, problems


async def import_regions(url: str, path: Path) -> RegionsSummary:
    """Check the whole file, then upsert it in one transaction; :class:`ImportRejected` if bad."""
    source = read_source(path)
    rows, problems = check_regions(source)
    in_file = {raw.values.get("code") for raw in source.rows}
    connection = await asyncpg.connect(plain_url(url))
    try:
        async with connection.transaction():
            await connection.execute("LOCK TABLE regions IN SHARE ROW EXCLUSIVE MODE")
            wanted = sorted({row.parent_code for row in rows if row.parent_code} - in_file)
            known = {
                record["code"]
                for record in await connection.fetch(
                    "SELECT code FROM regions WHERE code = ANY($1::text[])", wanted
                )
            }
            problems += [
                source.problem(
                    row.line,
                    "parent_code",
                    reason=f"no region {row.parent_code} in the file or registry",
                )
                for row in rows
                if row.parent_code and row.parent_code not in in_file | known
            ]
            if problems:
                raise ImportRejected(problems)
            changed = await connection.fetch(
                """
                INSERT INTO regions (code, parent_code, level, name)
                SELECT * FROM unnest($1::text[], $2::text[], $3::region_level[], $4::text[])
                    AS r(code, parent_code, level, name)
                ORDER BY length(code), code
                ON CONFLICT (code) DO UPDATE
                SET parent_code = EXCLUDED.parent_code, level = EXCLUDED.level, name = EXCLUDED.name
                WHERE (regions.parent_code, regions.level, regions.name)
                      IS DISTINCT FROM (EXCLUDED.parent_code, EXCLUDED.level, EXCLUDED.name)
                RETURNING (xmax = 0) AS added
                """,
                [row.code for row in rows],
                [row.parent_code for row in rows],
                [row.level.value for row in rows],
                [row.name for row in rows],
            )
    finally:
        await connection.close()
    added = sum(1 for record in changed if record["added"])
    return RegionsSummary(
        added=added, updated=len(changed) - added, unchanged=len(rows) - len(changed)
    )
