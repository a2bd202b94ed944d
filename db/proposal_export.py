"""``regsosek proposals export``: the pending proposals, for BPS/Kemensos, in the import layout.

The export directory holds

* ``households.csv``: one row per proposal, in the import layout (``db.layout``): the
  family as the registry holds it with the proposed values in place (a ``USUL``: the new
  family's proposed columns, the rest empty). A release that accepts a proposal carries
  these values; the import of that release settles it (``db.proposals.settle_forwarded``);
* ``manifest.json``: the export's id and time, the file's SHA-256, and for each proposal
  its id, program, kind, family, line in ``households.csv``, proposed and previous
  values, evidence hash, case reference and note.

Every exported proposal becomes FORWARDED (with the export's id) in the transaction that
read it, committed only after the files are written. Runs as the owner.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from db.engine import plain_url
from db.layout import HOUSEHOLDS, layout_text
from db.proposals import ProposalStatus, StoredProposal, add_statuses, pending_proposals

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ExportSummary:
    export_id: str
    directory: Path
    proposals: tuple[StoredProposal, ...]


def export_id_now() -> str:
    return "export-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


async def _current_rows(
    connection: asyncpg.Connection, household_ids: list[int]
) -> dict[int, dict[str, str]]:
    rows = await connection.fetch(
        f"SELECT id, {', '.join(HOUSEHOLDS.names)} FROM households WHERE id = ANY($1::bigint[])",
        household_ids,
    )
    return {
        row["id"]: {name: layout_text(_plain(row[name])) for name in HOUSEHOLDS.names}
        for row in rows
    }


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


def _write(
    directory: Path,
    *,
    export_id: str,
    since: datetime | None,
    proposals: list[StoredProposal],
    current: dict[int, dict[str, str]],
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    households = directory / "households.csv"
    with households.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(HOUSEHOLDS.names)
        for line, proposal in enumerate(proposals, start=2):
            before = current.get(proposal.household_id or -1, {})
            row = {**before, "kk_number": proposal.kk_number, **dict(proposal.values)}
            writer.writerow([row.get(name, "") for name in HOUSEHOLDS.names])
            entries.append(
                {
                    "id": proposal.id,
                    "program": proposal.program,
                    "kind": proposal.kind,
                    "kkNumber": proposal.kk_number,
                    "householdId": proposal.household_id,
                    "line": line,
                    "values": [{"field": f, "value": v} for f, v in proposal.values],
                    "previous": [{"field": f, "value": before.get(f)} for f, _ in proposal.values],
                    "evidenceSha256": proposal.evidence_sha256,
                    "caseRef": proposal.case_ref,
                    "note": proposal.note,
                    "submittedAt": proposal.submitted_at.isoformat(),
                }
            )
    manifest = {
        "export": export_id,
        "exportedAt": datetime.now(UTC).isoformat(),
        "since": since.isoformat() if since else None,
        "layout": "regsosek import layout (regsosek export-template)",
        "files": [
            {
                "name": households.name,
                "rows": len(proposals),
                "sha256": hashlib.sha256(households.read_bytes()).hexdigest(),
            }
        ],
        "proposals": entries,
    }
    (directory / MANIFEST).write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )


async def export_proposals(url: str, *, out: Path, since: datetime | None) -> ExportSummary:
    """Write the SUBMITTED proposals (since ``since``) to ``out`` and mark them FORWARDED."""
    export_id = export_id_now()
    connection = await asyncpg.connect(plain_url(url))
    try:
        async with connection.transaction():
            proposals = await pending_proposals(connection, since=since)
            current = await _current_rows(
                connection, [p.household_id for p in proposals if p.household_id is not None]
            )
            _write(out, export_id=export_id, since=since, proposals=proposals, current=current)
            await add_statuses(
                connection,
                [(p.id, p.program) for p in proposals],
                status=ProposalStatus.FORWARDED,
                export_id=export_id,
            )
    finally:
        await connection.close()
    return ExportSummary(export_id, out, tuple(proposals))
