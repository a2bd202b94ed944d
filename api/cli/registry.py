"""Registry data commands: ``seed``, ``import-regions``, ``export-template``, ``import``.

Each runs as the owner (``DATABASE_URL``, or the embedded PostgreSQL when it
is unset). Bad input, a refused seed or an unreachable or unmigrated
database end in a one-line message and exit status 1, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import console, errors, load_settings, run

if TYPE_CHECKING:
    from db.importer import ImportRejected
    from db.importer.registry import OnSettled
    from db.proposals import Settled

DEFAULT_SEED = 20221015


def _fail(message: str) -> typer.Exit:
    errors.print(message, markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(1)


@contextmanager
def _owner_database() -> Iterator[str]:
    """The owner's URL, with database failures turned into one-line messages."""
    import asyncpg

    from api.cli.checks import owner_database

    settings = load_settings()
    try:
        with owner_database(settings) as url:
            yield url
    except asyncpg.PostgresError as error:
        raise _fail(f"the database refused the change, nothing was written: {error}") from None


def seed(
    households: int = typer.Option(..., "--households", min=0, help="Number of families."),
    seed: int = typer.Option(
        DEFAULT_SEED, "--seed", help="Random seed: the same seed, the same rows."
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Delete every household, person and receipt first."
    ),
) -> None:
    """Load deterministic synthetic Kabupaten Jember data (regions, families, members, receipts)."""
    try:
        from db.seed import RegistryNotEmpty, seed_registry
    except ImportError:
        raise _fail(
            "the seeder needs the demo extra (pip install 'regsosek-gateway[demo]')"
        ) from None

    with _owner_database() as url:
        try:
            summary = run(
                seed_registry(url, households=households, seed=seed, progress=True, replace=replace)
            )
        except RegistryNotEmpty as error:
            raise _fail(f"seed refused: {error}") from None
    console.print(
        f"seeded {summary.households:,} households, {summary.persons:,} persons and "
        f"{summary.assistance_receipts:,} assistance receipts "
        f"({summary.regions_added} regions added) in {summary.seconds:.1f} s",
        soft_wrap=True,
    )


def import_regions_command(
    file: Annotated[
        Path, typer.Argument(help="BPS region master file: code,parent_code,level,name.")
    ],
) -> None:
    """Upsert an official BPS region master file; any bad row rejects the whole file."""
    from db.importer import ImportRejected, Unreadable, import_regions

    with _owner_database() as url:
        try:
            summary = run(import_regions(url, file))
        except Unreadable as error:
            raise _fail(str(error)) from None
        except ImportRejected as rejected:
            raise _report(rejected) from None
    console.print(
        f"regions: {summary.added} added, {summary.updated} updated, {summary.unchanged} unchanged"
    )


def export_template_command(
    directory: Annotated[Path, typer.Argument(help="Directory to write the template into.")],
) -> None:
    """Write header-only CSV files in the import layout and a README describing every column."""
    from db.importer import export_template

    try:
        written = export_template(directory)
    except OSError as error:
        raise _fail(f"cannot write the template into {directory}: {error.strerror}") from None
    for path in written:
        console.print(str(path), markup=False, highlight=False)


def import_command(
    path: Annotated[
        Path, typer.Argument(help="A households/persons/assistance file, or a directory.")
    ],
    dry_run: bool = typer.Option(False, "--dry-run", help="Check everything, write nothing."),
    release: str | None = typer.Option(
        None, "--release", help="Release id to record (default: import-<UTC time>)."
    ),
) -> None:
    """Import households, persons and assistance (CSV or Parquet); any bad row writes nothing.

    The import is recorded as a release: each file's SHA-256, what was added, changed and
    removed, and each program's changes (who entered or left its scope).
    """
    from db.importer import ImportRejected, Unreadable, import_registry
    from db.releases.ledger import ReleaseRefused
    from errors import GatewayError

    with _owner_database() as url:
        try:
            summary = run(
                import_registry(
                    url,
                    path,
                    dry_run=dry_run,
                    release=release,
                    progress=errors,
                    on_settled=_settlement_auditor(url),
                )
            )
        except (Unreadable, ReleaseRefused) as error:
            raise _fail(str(error)) from None
        except ImportRejected as rejected:
            raise _report(rejected) from None
        except GatewayError as failed:
            raise _fail(
                f"{failed.message}: the audit trail could not record the proposals this release"
                " settles; nothing was imported"
            ) from None
    if summary.settled:
        _print_settlement(summary.release, summary.settled)
    for note in summary.notes:
        errors.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    verb = "would import" if summary.dry_run else "imported"
    console.print(
        f"{verb} {summary.households_added + summary.households_replaced:,} households "
        f"({summary.households_added:,} new, {summary.households_replaced:,} replaced), "
        f"{summary.persons:,} persons, {summary.receipts:,} assistance receipts "
        f"from {', '.join(summary.files)}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if not summary.dry_run:
        counts = summary.counts
        console.print(
            f"release {summary.release}: households {counts.households_added:,} added, "
            f"{counts.households_changed:,} changed, {counts.households_removed:,} removed; "
            f"persons {counts.persons_added:,} added, {counts.persons_changed:,} changed, "
            f"{counts.persons_removed:,} removed; {summary.changes:,} program change(s)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def _settlement_auditor(url: str) -> OnSettled:
    """Puts each proposal a release settles on the audit chain (one event per program)."""

    async def record(release: str, settled: list[Settled]) -> None:
        from api.cli.records import program_events, record_events

        events = program_events(
            operation=f"proposals settled in release {release}",
            request_id=f"settle-{release}",
            field_paths=["proposals.status"],
            subjects=[(s.program, s.household_id, s.person_id) for s in settled],
        )
        await record_events(load_settings(), owner_url=url, events=events)

    return record


def _print_settlement(release: str, settled: tuple[Settled, ...]) -> None:
    from db.proposals import ProposalStatus

    accepted = sum(1 for s in settled if s.status is ProposalStatus.ACCEPTED)
    console.print(
        f"proposals settled by release {release}: {accepted} accepted,"
        f" {len(settled) - accepted} rejected",
        markup=False,
        highlight=False,
    )


def _report(rejected: ImportRejected) -> typer.Exit:
    for note in getattr(rejected, "notes", ()):
        errors.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    for problem in rejected.problems:
        errors.print(str(problem), markup=False, highlight=False, soft_wrap=True)
    return _fail(str(rejected))
