"""Parsing and checking each row of an import file on its own.

A row becomes a :class:`Record` (typed values keyed by column) only when
every value parses and the row is consistent in itself (an SLS inside its
desa, a NIK whose date part is the person's birth date, pregnancy only for
women, …). Checks that need other rows or the database are in
:mod:`db.importer.checks`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from db import enums
from db.importer.problems import Problem
from db.importer.source import Source
from db.layout import BadValue, FileSpec, Value, parse_value

OLDEST_BIRTH = dt.date(1900, 1, 1)
PROGRESS_STEP = 1000


@dataclass(frozen=True)
class Record:
    line: int
    values: dict[str, Value]

    def text(self, column: str) -> str:
        value = self.values[column]
        assert isinstance(value, str)
        return value

    def __getitem__(self, column: str) -> Value:
        return self.values[column]


def date_part(digits: str, *, women_plus_40: bool) -> tuple[int, int, int] | None:
    """Day, month and two-digit year of a NIK/No KK (positions 7-12), or None if no such date.

    The day of a woman's NIK has 40 added; it is returned as written.
    """
    day, month, year = int(digits[6:8]), int(digits[8:10]), int(digits[10:12])
    calendar_day = day - 40 if women_plus_40 and day > 40 else day
    for century in (1900, 2000):
        try:
            dt.date(century + year, month, calendar_day)
        except ValueError:
            continue
        return day, month, year
    return None


def _household_checks(record: Record) -> list[tuple[str, str]]:
    found = []
    if not record.text("sls_code").startswith(record.text("desa_code")):
        found.append(("sls_code", "must start with the desa_code (an SLS lies inside its desa)"))
    if date_part(record.text("kk_number"), women_plus_40=False) is None:
        found.append(("kk_number", "digits 7-12 are not a date (DDMMYY)"))
    lighting = record["lighting"]
    if record["electricity_wattage"] is not None and lighting not in {
        "PLN_METERED",
        "PLN_UNMETERED",
    }:
        found.append(("electricity_wattage", f"must be empty when lighting is {lighting}"))
    return found


def _person_checks(record: Record) -> list[tuple[str, str]]:
    found = []
    nik = record.text("nik")
    born = record["birth_date"]
    female = record["sex"] == enums.Sex.FEMALE
    assert isinstance(born, dt.date)
    parts = date_part(nik, women_plus_40=True)
    if parts is None:
        found.append(("nik", "digits 7-12 are not a date (DDMMYY, day + 40 for women)"))
    else:
        expected = f"{born.day + (40 if female else 0):02d}{born.month:02d}{born.year % 100:02d}"
        if nik[6:12] != expected:
            found.append(
                (
                    "nik",
                    f"date part {nik[6:12]} does not match birth_date {born.isoformat()} and "
                    f"sex {record['sex']} (expected {expected})",
                )
            )
    if born > dt.date.today() or born < OLDEST_BIRTH:
        found.append(("birth_date", f"{born.isoformat()} is not a plausible date of birth"))
    if record["pregnant"] and not female:
        found.append(("pregnant", "only a woman can be recorded as pregnant"))
    if record["worked_last_week"] is False:
        for column in ("hours_per_week", "industry", "employment_status"):
            if record[column] is not None:
                found.append((column, "must be empty when worked_last_week is false"))
    return found


ROW_CHECKS: dict[str, Callable[[Record], list[tuple[str, str]]]] = {
    "households": _household_checks,
    "persons": _person_checks,
    "assistance": lambda record: [],
}


def parse_source(
    source: Source, spec: FileSpec, *, advance: Callable[[int], object] | None = None
) -> tuple[list[Record], list[Problem]]:
    """Every row of ``source`` that is valid on its own, and a problem for each bad value.

    ``advance(n)`` is called after every ``PROGRESS_STEP`` rows (a progress bar).
    """
    problems, complete = _header_problems(source, spec)
    if not complete:
        return [], problems
    records = []
    for index, raw in enumerate(source.rows, start=1):
        if advance is not None and index % PROGRESS_STEP == 0:
            advance(PROGRESS_STEP)
        if raw.malformed:
            problems.append(source.problem(raw.line, "(row)", reason=raw.malformed))
            continue
        values: dict[str, Value] = {}
        bad = []
        for column in spec.columns:
            try:
                values[column.name] = parse_value(column, raw.values.get(column.name))
            except BadValue as error:
                bad.append(source.problem(raw.line, column.name, reason=str(error)))
        if not bad:
            record = Record(raw.line, values)
            bad = [source.problem(raw.line, c, reason=r) for c, r in ROW_CHECKS[spec.table](record)]
            if not bad:
                records.append(record)
        problems += bad
    if advance is not None:
        advance(len(source.rows) % PROGRESS_STEP)
    return records, problems


def _header_problems(source: Source, spec: FileSpec) -> tuple[list[Problem], bool]:
    """Problems of the header, and whether it has every required column."""
    problems = []
    header = source.header
    header_line = 1 if source.unit == "line" else 0
    for column in spec.columns:
        if column.required and column.name not in header:
            problems.append(
                source.problem(header_line, column.name, reason="missing from the header")
            )
    for index, name in enumerate(header):
        if name not in spec.names:
            problems.append(
                source.problem(header_line, name, reason=f"not a column of the {spec.table} layout")
            )
        elif name in header[:index]:
            problems.append(source.problem(header_line, name, reason="appears twice in the header"))
    complete = all(column.name in header for column in spec.columns if column.required)
    return problems, complete
