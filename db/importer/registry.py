"""``regsosek import``: households, persons and assistance from CSV or Parquet.

Every row of every file is checked before anything is written: a value that
does not parse, a row inconsistent in itself, a problem across rows or
files, or a clash with the registry. Any problem rejects the whole import
(:class:`ImportRejected` lists them all, with file, line, column and
reason). A clean import is written in one transaction, under a lock that
keeps other writers out between the checks and the writes. See
:mod:`db.importer.checks` for what replaces what.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from db.engine import plain_url
from db.importer.checks import Batch, by_family, check_registry, check_rows
from db.importer.layout import DIGIT_COLUMNS, FILES, FileSpec
from db.importer.parse import parse_source
from db.importer.problems import ImportRejected, Problem, Unreadable
from db.importer.source import SUFFIXES, Source, read_source
from db.importer.write import write_batch

PROGRESS_ROWS = 10_000
"""Files with more rows than this show a progress bar while their rows are checked."""


@dataclass(frozen=True)
class ImportSummary:
    files: tuple[str, ...]
    households_added: int
    households_replaced: int
    persons: int
    receipts: int
    dry_run: bool
    notes: tuple[str, ...] = ()
    """How files were read that the operator should know (a ';' separator)."""


def find_files(path: Path) -> dict[str, Path]:
    """The layout's files at ``path``: a directory holding them, or one file named for its table."""
    tables = {spec.table for spec in FILES}
    if path.is_dir():
        found: dict[str, Path] = {}
        for table in sorted(tables):
            candidates = [path / f"{table}{suffix}" for suffix in SUFFIXES]
            present = [candidate for candidate in candidates if candidate.is_file()]
            if len(present) > 1:
                raise Unreadable(f"{path}: both {present[0].name} and {present[1].name}; keep one")
            if present:
                found[table] = present[0]
        if not found:
            names = ", ".join(f"{table}.csv" for table in sorted(tables))
            raise Unreadable(f"{path}: no import file in it (expected {names} or .parquet)")
        return found
    if not path.exists():
        raise Unreadable(f"{path}: no such file or directory")
    table = path.stem.lower()
    if table not in tables or path.suffix.lower() not in SUFFIXES:
        raise Unreadable(
            f"{path.name}: name the file households, persons or assistance (.csv or .parquet)"
        )
    return {table: path}


@contextmanager
def _progress(console: Any, *, rows: int) -> Iterator[Any]:
    """A rich progress bar on ``console`` when there are more than ``PROGRESS_ROWS`` rows."""
    if console is None or rows <= PROGRESS_ROWS:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        yield bar


def _read(
    files: dict[str, Path], *, progress: Any = None
) -> tuple[dict[str, Source], Batch, list[Problem]]:
    specs: dict[str, FileSpec] = {spec.table: spec for spec in FILES}
    sources = {table: read_source(path) for table, path in files.items()}
    batch = Batch()
    problems: list[Problem] = []
    parsed = {}
    with _progress(progress, rows=sum(len(s.rows) for s in sources.values())) as bar:
        for table, source in sources.items():
            advance = None
            if bar is not None:
                task = bar.add_task(f"checking {source.name}", total=len(source.rows))
                advance = functools.partial(bar.advance, task)
            records, found = parse_source(source, specs[table], advance=advance)
            parsed[table] = records
            problems += found
    batch.households = parsed.get("households", [])
    batch.persons = by_family(parsed.get("persons", []))
    if "assistance" in parsed:
        batch.receipts = by_family(parsed["assistance"])
    if "households" in sources:
        batch.named = _valid_kks(sources["households"])
    if "persons" in sources:
        bad_lines = {
            problem.line for problem in problems if problem.file == sources["persons"].name
        }
        batch.incomplete = _valid_kks(sources["persons"], only=bad_lines)
    return sources, batch, problems


def _valid_kks(source: Source, *, only: set[int] | None = None) -> set[str]:
    """The well-formed No KKs named in ``source`` (on the lines in ``only``, when given)."""
    named = (
        raw.values.get("kk_number") or "" for raw in source.rows if only is None or raw.line in only
    )
    return {
        kk
        for kk in named
        if len(kk) == DIGIT_COLUMNS["kk_number"] and kk.isascii() and kk.isdigit()
    }


async def import_registry(
    url: str, path: Path, *, dry_run: bool = False, progress: Any = None
) -> ImportSummary:
    """Check the files at ``path`` and, unless ``dry_run``, load them in one transaction.

    Raises :class:`Unreadable` for input that cannot be read and
    :class:`ImportRejected` (nothing written) for any bad row. ``progress``: a
    rich console on which files of more than ``PROGRESS_ROWS`` rows show a bar.
    """
    files = find_files(path)
    sources, batch, problems = _read(files, progress=progress)
    problems += check_rows(batch, sources)
    connection = await asyncpg.connect(plain_url(url))
    try:
        async with connection.transaction(readonly=dry_run):
            if not dry_run:
                await connection.execute(
                    "LOCK TABLE households, persons, assistance_receipts"
                    " IN SHARE ROW EXCLUSIVE MODE"
                )
            problems += await check_registry(connection, batch, sources=sources)
            if problems:
                raise ImportRejected(problems, notes=_notes(sources))
            if not dry_run:
                await write_batch(connection, batch)
    finally:
        await connection.close()
    replaced = sum(1 for record in batch.households if record.text("kk_number") in batch.existing)
    return ImportSummary(
        files=tuple(sorted(file.name for file in files.values())),
        households_added=len(batch.households) - replaced,
        households_replaced=replaced,
        persons=sum(len(group) for group in batch.persons.values()),
        receipts=sum(len(group) for group in (batch.receipts or {}).values()),
        dry_run=dry_run,
        notes=_notes(sources),
    )


def _notes(sources: dict[str, Source]) -> tuple[str, ...]:
    return tuple(source.note for source in sources.values() if source.note)
