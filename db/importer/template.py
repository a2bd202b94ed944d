"""``regsosek export-template``: header-only CSV files in the import layout, and a README."""

from __future__ import annotations

import csv
from pathlib import Path

from db.importer.layout import FILES, ColumnSpec, allowed_values
from db.layout import FALSE, TRUE

README = "README.txt"

INTRODUCTION = """\
Regsosek registry import layout
===============================

Fill households.csv, persons.csv and assistance.csv (UTF-8, comma-separated,
header on line 1; Parquet files with the same column names work too) and load
them with `regsosek import DIR` (add --dry-run to check without writing).
A file separated by ';' (what Excel saves as CSV in the id-ID locale) or by
tabs is read as such, and the import says so.

* A family is identified by its No KK (kk_number). A family in households.csv
  replaces the registry's family with that No KK, or is added.
* The rows of persons.csv with a family's No KK replace that family's members
  as a set. A family in households.csv without rows in persons.csv keeps its
  registered members; a new family must bring its members.
* When assistance.csv is part of the import, the receipts of every family it
  or households.csv names are replaced by its rows (none: no receipts).
* Every row is checked first; any bad row means nothing is written, and each
  problem is printed with its file, line, column and reason.
* An empty value means "none" and is allowed only where a column is optional.
  Booleans are true/false (also 1/0, yes/no, ya/tidak); dates are YYYY-MM-DD.
* A coded column takes the value's name (OWN) or the questionnaire's numeric
  code as BPS raw files carry it (1 for Milik sendiri in tenure [r301a]): the
  code is the number shown beside each value below.
* A NIK is 16 digits: 6 region digits, the birth date as DDMMYY with 40 added
  to the day for women, and a 4-digit serial; its date part must agree with
  birth_date and sex. Each family has exactly one HEAD, member_count members
  numbered 1..member_count, and every NIK belongs to one person only.
"""


def _describe(column: ColumnSpec) -> list[str]:
    presence = "required" if column.required else "optional (may be empty)"
    code = f" [{column.code}]" if column.code else ""
    lines = [f"{column.name}{code}", f"    {column.description}"]
    lines.append(f"    type: {column.type_text()}, {presence}")
    values = allowed_values(column)
    if values:
        lines.append("    values (code, name, label):")
        lines += [
            f"      {code:>2}  {value:<32} {label}"
            for code, (value, label) in enumerate(values, start=1)
        ]
    return lines


def readme_text() -> str:
    sections = [INTRODUCTION]
    booleans = f"{'/'.join(sorted(TRUE))} or {'/'.join(sorted(FALSE))}"
    for spec in FILES:
        title = f"{spec.table}.csv"
        lines = [title, "-" * len(title), spec.description, ""]
        for column in spec.columns:
            lines += _describe(column)
        sections.append("\n".join(lines))
    sections.append(f"Accepted boolean spellings: {booleans}.")
    return "\n\n".join(sections) + "\n"


def export_template(directory: Path) -> list[Path]:
    """Write the header-only CSV files and README.txt into ``directory`` (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in FILES:
        path = directory / f"{spec.table}.csv"
        with path.open("w", newline="", encoding="utf-8") as file:
            csv.writer(file).writerow(spec.names)
        written.append(path)
    readme = directory / README
    readme.write_text(readme_text(), encoding="utf-8")
    written.append(readme)
    return written
