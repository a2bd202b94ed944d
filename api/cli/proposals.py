"""``regsosek proposals export``: forward the agencies' pending proposals to BPS/Kemensos.

Writes the import layout's ``households.csv`` and a ``manifest.json``
(``db.proposal_export``), marks the proposals FORWARDED, and records the export on the
audit chain, one event per proposing program naming its households. The import of the
release that decides them (``regsosek import PATH --release ID``) settles each one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import console, errors, load_settings, run

app = typer.Typer(no_args_is_help=True, help="Proposals of agencies (usul, sanggah, koreksi).")


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        errors.print(f"--since {text!r} is not an ISO 8601 date or date-time", markup=False)
        raise typer.Exit(1) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command("export")
def export_command(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the files to.")],
    since: str | None = typer.Option(
        None, "--since", help="Only proposals submitted at or after this ISO 8601 time."
    ),
) -> None:
    """Write the pending proposals in the import layout plus a manifest; mark them FORWARDED."""
    from api.cli.records import program_events, record_events
    from api.database import owner_database_url
    from db.proposal_export import export_proposals
    from db.proposals import StoredProposal
    from errors import GatewayError

    settings = load_settings()
    moment = _since(since)
    with owner_database_url(settings) as url:

        async def audit(export_id: str, proposals: list[StoredProposal]) -> None:
            events = program_events(
                operation=f"proposals export {export_id}",
                request_id=export_id,
                field_paths=["proposals.export"],
                subjects=[(p.program, p.household_id, p.person_id) for p in proposals],
            )
            await record_events(settings, owner_url=url, events=events)

        try:
            summary = run(export_proposals(url, out=out, since=moment, audit=audit))
        except GatewayError as failed:
            errors.print(
                f"{failed.message}: the audit trail could not record the export;"
                " nothing was forwarded",
                markup=False,
            )
            raise typer.Exit(1) from None
    console.print(
        f"{summary.export_id}: {len(summary.proposals)} proposal(s) forwarded to {out}"
        " (households.csv, persons.csv, manifest.json)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
