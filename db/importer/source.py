"""Reading import files (CSV or Parquet) into rows of text, with their line numbers.

Every value becomes text (or None when empty), whatever the file format, so
one set of parsers validates both. CSV files are UTF-8 (a byte-order mark
is allowed) with the header on line 1; a row's number is the line on which
it starts. Parquet rows are numbered from 1.

CSV files are comma-separated, but Excel in the id-ID locale (and others
whose decimal mark is a comma) saves "CSV" separated by ``;``: the separator
is read off the header line (``,``, ``;`` or a tab, whichever splits it into
more columns), and a file not separated by commas says so
(:attr:`Source.note`), so that neither a silent guess nor 35 "missing from
the header" lines is what the operator sees.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from db.importer.problems import Problem, Unreadable

Row = dict[str, str | None]
SUFFIXES = (".csv", ".parquet")
SEPARATORS = {",": "','", ";": "';'", "\t": "a tab"}


@dataclass(frozen=True)
class RawRow:
    line: int
    values: Row
    malformed: str | None = None
    """Why the row's shape is wrong (a CSV row with too many or too few fields)."""


@dataclass
class Source:
    """One input file, read whole."""

    path: Path
    unit: str
    """How a position in the file is named: "line" (CSV) or "row" (Parquet)."""
    header: list[str]
    rows: list[RawRow] = field(default_factory=list)
    note: str | None = None
    """What the operator should know about how the file was read (a ';' separator)."""

    @property
    def name(self) -> str:
        return self.path.name

    def problem(self, line: int, column: str, *, reason: str) -> Problem:
        return Problem(file=self.name, unit=self.unit, line=line, column=column, reason=reason)


def read_source(path: Path) -> Source:
    """The file's header and rows; :class:`Unreadable` when it cannot be read at all."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".parquet":
        return _read_parquet(path)
    raise Unreadable(f"{path.name}: not a .csv or .parquet file")


def separator_of(header_line: str) -> str:
    """A CSV file's separator, read off its header line (a comma unless another splits more)."""
    counts = {separator: header_line.count(separator) for separator in SEPARATORS}
    best = max(counts, key=lambda separator: (counts[separator], separator == ","))
    return best if counts[best] > 0 else ","


def _read_csv(path: Path) -> Source:
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            separator = separator_of(file.readline())
            file.seek(0)  # (utf-8-sig drops the byte-order mark again)
            reader = csv.reader(file, delimiter=separator)
            header = next(reader, None)
            if header is None:
                raise Unreadable(f"{path.name}: empty file (the header belongs on line 1)")
            source = Source(path, "line", [name.strip() for name in header])
            if separator != ",":
                source.note = (
                    f"{path.name} is separated by {SEPARATORS[separator]}, not commas (as Excel"
                    " saves CSV in the id-ID locale): read it that way"
                )
            line = reader.line_num + 1
            for values in reader:
                if any(value.strip() for value in values):
                    source.rows.append(_csv_row(source, line, values))
                line = reader.line_num + 1
    except UnicodeDecodeError as error:
        raise Unreadable(f"{path.name}: not UTF-8 text ({error.reason})") from None
    except csv.Error as error:
        raise Unreadable(f"{path.name}: not valid CSV ({error})") from None
    except OSError as error:
        raise Unreadable(f"{path.name}: cannot be read ({error.strerror})") from None
    return source


def _csv_row(source: Source, line: int, values: list[str]) -> RawRow:
    row: Row = {}
    for index, name in enumerate(source.header):
        value = values[index].strip() if index < len(values) else None
        row[name] = value or None
    malformed = None
    if len(values) != len(source.header):
        malformed = f"{len(values)} fields where the header has {len(source.header)}"
    return RawRow(line, row, malformed)


def _read_parquet(path: Path) -> Source:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise Unreadable(
            f"{path.name}: reading Parquet needs the import extra"
            " (pip install 'regsosek-gateway[import]'); CSV files need nothing more"
        ) from None

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise Unreadable(f"{path.name}: not a readable Parquet file ({error})") from None
    source = Source(path, "row", list(table.column_names))
    for number, record in enumerate(table.to_pylist(), start=1):
        values = {name: _text(value) for name, value in record.items()}
        source.rows.append(RawRow(number, values))
    return source


def _text(value: object) -> str | None:
    """A Parquet value as the text a CSV file would hold."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    return text or None
