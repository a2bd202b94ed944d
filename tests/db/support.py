"""Helpers for the registry data tests: table fingerprints and files in the import layout."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pyarrow as pa
import pyarrow.parquet as pq

from db.importer.layout import ASSISTANCE, HOUSEHOLDS, PERSONS

REPO = Path(__file__).resolve().parents[2]
REGISTRY = ("regions", "households", "persons", "assistance_receipts")
TIMESTAMPS = ("created_at", "updated_at")
LayoutRows = dict[str, list[dict[str, Any]]]


async def fingerprint(connection: asyncpg.Connection, table: str, *, timestamps: bool) -> str:
    """A hash of every row of ``table`` in key order (with or without the timestamp columns)."""
    columns = [
        row["column_name"]
        for row in await connection.fetch(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
            table,
        )
        if timestamps or row["column_name"] not in TIMESTAMPS
    ]
    key = "code" if table == "regions" else "id"
    return str(
        await connection.fetchval(
            f"SELECT md5(coalesce(string_agg(row({', '.join(columns)})::text, E'\\n'"
            f" ORDER BY {key}), '')) FROM {table}"
        )
    )


async def fingerprints(url: str, *, timestamps: bool = True) -> dict[str, str]:
    connection = await asyncpg.connect(url)
    try:
        return {t: await fingerprint(connection, t, timestamps=timestamps) for t in REGISTRY}
    finally:
        await connection.close()


async def layout_rows(connection: asyncpg.Connection, kks: list[str]) -> LayoutRows:
    """The families ``kks`` as they stand in the registry, as rows of the import layout."""
    households = await connection.fetch(
        f"SELECT {', '.join(HOUSEHOLDS.names)} FROM households"
        " WHERE kk_number = ANY($1) ORDER BY id",
        kks,
    )
    person_columns = ", ".join("p." + name for name in PERSONS.names[1:])
    persons = await connection.fetch(
        f"SELECT h.kk_number, {person_columns} FROM persons p"
        " JOIN households h ON h.id = p.household_id"
        " WHERE h.kk_number = ANY($1) ORDER BY h.id, p.member_no",
        kks,
    )
    receipts = await connection.fetch(
        "SELECT h.kk_number, r.program, r.month, r.year FROM assistance_receipts r"
        " JOIN households h ON h.id = r.household_id"
        " WHERE h.kk_number = ANY($1) ORDER BY r.id",
        kks,
    )
    return {
        "households": [dict(row) for row in households],
        "persons": [dict(row) for row in persons],
        "assistance": [dict(row) for row in receipts],
    }


def text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def write_csv(directory: Path, rows: LayoutRows) -> Path:
    """One CSV file per table (header on line 1, so row i of a table is on line i + 2)."""
    directory.mkdir(parents=True, exist_ok=True)
    for spec in (HOUSEHOLDS, PERSONS, ASSISTANCE):
        with (directory / f"{spec.table}.csv").open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(spec.names)
            for row in rows[spec.table]:
                writer.writerow([text(row.get(name)) for name in spec.names])
    return directory


def write_parquet(directory: Path, rows: LayoutRows) -> Path:
    """One Parquet file per table, with typed columns (integers, booleans, dates)."""
    directory.mkdir(parents=True, exist_ok=True)
    for spec in (HOUSEHOLDS, PERSONS, ASSISTANCE):
        columns = {name: [row.get(name) for row in rows[spec.table]] for name in spec.names}
        pq.write_table(pa.table(columns), directory / f"{spec.table}.parquet")
    return directory


def new_nik(*, ordinal: int, born: dt.date, female: bool, serial: int) -> str:
    """A well-formed NIK for a Jember kecamatan ordinal (day + 40 for women)."""
    day = born.day + (40 if female else 0)
    return f"3509{ordinal:02d}{day:02d}{born.month:02d}{born.year % 100:02d}{serial:04d}"


async def run_cli(
    database_url: str | None, *arguments: str, environment: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``regsosek ARGUMENTS`` in a child process against ``database_url`` (None: unset)."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    env.update(environment or {})
    command = [sys.executable, "-c", "from api.cli import main; main()", *arguments]
    return await asyncio.to_thread(
        subprocess.run, command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
