"""``regsosek import``: households, persons and assistance from CSV or Parquet.

Every row of every file is checked before anything is written: a value that
does not parse, a row inconsistent in itself, a problem across rows or
files, or a clash with the registry. Any problem rejects the whole import
(:class:`ImportRejected` lists them all, with file, line, column and
reason). A clean import is written in one transaction, under a lock that
keeps other writers out between the checks and the writes, and is recorded
as a release (its id, time, each file's SHA-256, what was added, changed and
removed) with each program's changes (``db.releases``). A rejected import
records nothing. See :mod:`db.importer.checks` for what replaces what and
:mod:`db.importer.write` for how identity is kept.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from db.engine import plain_url
from db.importer.checks import Batch, by_family, check_registry, check_rows
from db.importer.layout import DIGIT_COLUMNS, FILES, FileSpec
from db.importer.parse import Record, parse_source
from db.importer.problems import ImportRejected, Problem, Unreadable
from db.importer.source import SUFFIXES, Source, read_source
from db.importer.write import write_batch
from db.layout import layout_text
from db.models.releases import ReleaseKind
from db.proposals import Settled, settle_forwarded
from db.releases.deliveries import schedule_deliveries
from db.releases.ledger import (
    Counts,
    ReleaseRefused,
    begin_release,
    check_release_id,
    create_events_table,
    lock_registry,
    publish_events,
    release_exists,
)
from db.releases.scopes import ScopesNotRecorded, applied_scopes

OnSettled = Callable[[str, list[Settled]], Awaitable[None]]
"""Records the proposals a release settled; raises when it cannot (the import then fails)."""
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
    release: str
    counts: Counts
    changes: int
    """Program changes the release recorded (0 for a dry run)."""
    notes: tuple[str, ...] = ()
    """How files were read that the operator should know (a ';' separator)."""
    settled: tuple[Settled, ...] = ()
    """Forwarded proposals the release settled (ACCEPTED or REJECTED)."""


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


def file_digests(files: dict[str, Path]) -> list[dict[str, object]]:
    """Each file's name, size and SHA-256, as the release records them."""
    digests = []
    for path in sorted(files.values()):
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
        digests.append(
            {"name": path.name, "bytes": path.stat().st_size, "sha256": digest.hexdigest()}
        )
    return digests


def default_release_id() -> str:
    """A release id for an import that names none: ``import-<UTC time>``."""
    return "import-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


async def import_registry(
    url: str,
    path: Path,
    *,
    dry_run: bool = False,
    release: str | None = None,
    progress: Any = None,
    on_settled: OnSettled | None = None,
) -> ImportSummary:
    """Check the files at ``path`` and, unless ``dry_run``, load them in one transaction
    recorded as release ``release`` (default ``import-<UTC time>``).

    Raises :class:`Unreadable` for input that cannot be read,
    :class:`ImportRejected` (nothing written) for any bad row, and
    :class:`ReleaseRefused` for a release id that is malformed, reserved or taken.
    ``progress``: a rich console on which files of more than ``PROGRESS_ROWS`` rows show a
    bar. ``on_settled`` records the proposals the release settled (the audit trail) before
    the import commits; if it raises, nothing is written.
    """
    release_id = check_release_id(release or default_release_id())
    files = find_files(path)
    sources, batch, problems = _read(files, progress=progress)
    problems += check_rows(batch, sources)
    counts, changes, settled = Counts(), 0, []
    connection = await asyncpg.connect(plain_url(url))
    try:
        async with connection.transaction(readonly=dry_run):
            if not dry_run:
                await lock_registry(connection)
            elif await release_exists(connection, release_id):
                raise ReleaseRefused(f"release {release_id!r} is already recorded")
            problems += await check_registry(connection, batch, sources=sources)
            if problems:
                raise ImportRejected(problems, notes=_notes(sources))
            if not dry_run:
                recorded = await begin_release(
                    connection,
                    release_id=release_id,
                    kind=ReleaseKind.IMPORT,
                    files=file_digests(files),
                )
                await create_events_table(connection)
                try:
                    scopes = await applied_scopes(connection)
                except ScopesNotRecorded as missing:
                    raise ReleaseRefused(str(missing)) from None
                written = await write_batch(
                    connection, batch, at=recorded.imported_at, scopes=scopes
                )
                recorded.counts = counts = written.counts
                await publish_events(connection, recorded)
                await schedule_deliveries(connection, recorded)
                changes = recorded.changes
                settled = await settle_forwarded(
                    connection,
                    release_id=release_id,
                    families=_as_layout(batch.households, key="kk_number"),
                    persons=_as_layout(
                        [record for group in batch.persons.values() for record in group],
                        key="nik",
                    ),
                )
                if settled and on_settled is not None:
                    await on_settled(release_id, settled)
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
        release=release_id,
        counts=counts,
        changes=changes,
        notes=_notes(sources),
        settled=tuple(settled),
    )


def _as_layout(records: list[Record], *, key: str) -> dict[str, dict[str, str]]:
    """The release's rows by ``key`` (No KK, NIK), each column as the layout writes it."""
    return {
        record.text(key): {column: layout_text(value) for column, value in record.values.items()}
        for record in records
    }


def _notes(sources: dict[str, Source]) -> tuple[str, ...]:
    return tuple(source.note for source in sources.values() if source.note)
