"""``regsosek releases``: the recorded releases, newest first."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from api.cli.common import console, load_settings, run

if TYPE_CHECKING:
    from db.releases.ledger import ReleaseRow


async def _releases(url: str) -> list[ReleaseRow]:
    import asyncpg

    from db.engine import plain_url
    from db.releases.ledger import list_releases

    connection = await asyncpg.connect(plain_url(url))
    try:
        return await list_releases(connection)
    finally:
        await connection.close()


def _as_json(row: ReleaseRow) -> dict[str, object]:
    counts = row.counts
    return {
        "id": row.id,
        "kind": row.kind,
        "importedAt": row.imported_at.isoformat(),
        "files": row.files,
        "households": {
            "added": counts.households_added,
            "changed": counts.households_changed,
            "removed": counts.households_removed,
        },
        "persons": {
            "added": counts.persons_added,
            "changed": counts.persons_changed,
            "removed": counts.persons_removed,
        },
        "programChanges": row.changes,
    }


def releases(
    as_json: bool = typer.Option(False, "--json", help="One JSON array (newest first)."),
) -> None:
    """List the releases (seed, imports, policy changes), newest first."""
    from api.database import owner_database_url

    with owner_database_url(load_settings()) as url:
        rows = run(_releases(url))
    if as_json:
        typer.echo(json.dumps([_as_json(row) for row in rows], ensure_ascii=False))
        return
    table = Table(title="releases (newest first)")
    for column in ("id", "kind", "imported at", "households +/~/-", "persons +/~/-", "changes"):
        table.add_column(column)
    for row in rows:
        counts = row.counts
        table.add_row(
            row.id,
            row.kind,
            row.imported_at.isoformat(timespec="seconds"),
            f"{counts.households_added}/{counts.households_changed}/{counts.households_removed}",
            f"{counts.persons_added}/{counts.persons_changed}/{counts.persons_removed}",
            f"{row.changes:,}",
        )
    console.print(table)
