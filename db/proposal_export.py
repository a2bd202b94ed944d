"""``regsosek proposals export``: the pending proposals, for BPS/Kemensos, in the import layout.

The export directory holds

* ``households.csv``: one row per proposal about a family, in the import layout
  (``db.layout``): the family as the registry holds it with the proposed values in place
  (a ``USUL``: the new family's proposed columns, the rest empty);
* ``persons.csv``: for proposals about a person (``REACTIVATE``), every member of the
  person's family as the registry holds them (a persons file replaces a family's members
  as a set), with the proposed values in place on the person.
  A release that accepts a proposal carries these values; the import of that release
  settles it (``db.proposals.settle_forwarded``);
* ``manifest.json``: the export's id and time, the file's SHA-256, and for each proposal
  its id, program, kind, family, line in ``households.csv``, proposed and previous
  values, evidence hash, case reference and note.

Every exported proposal becomes FORWARDED (with the export's id) in the transaction that
read it, committed only after the files are written and the export is on the audit trail.
Runs as the owner.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from db.engine import plain_url
from db.layout import HOUSEHOLDS, PERSONS, layout_text
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


async def _members(
    connection: asyncpg.Connection, person_ids: list[int]
) -> dict[int, list[dict[str, str]]]:
    """For each person, every member of their family as persons-file rows (member order)."""
    columns = ", ".join("m." + name for name in PERSONS.names[1:])
    rows = await connection.fetch(
        f"""SELECT p.id AS proposed, h.kk_number, {columns}
            FROM persons p JOIN households h ON h.id = p.household_id
            JOIN persons m ON m.household_id = h.id
            WHERE p.id = ANY($1::bigint[]) ORDER BY p.id, m.member_no""",
        person_ids,
    )
    members: dict[int, list[dict[str, str]]] = {}
    for row in rows:
        members.setdefault(row["proposed"], []).append(
            {name: layout_text(_plain(row[name])) for name in PERSONS.names}
        )
    return members


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


@dataclass(frozen=True)
class Registry:
    """What the registry holds of the exported proposals' families and persons."""

    households: dict[int, dict[str, str]]
    members: dict[int, list[dict[str, str]]]


def _entry(proposal: StoredProposal, *, file: str, line: int, before: dict[str, str]) -> Any:
    return {
        "id": proposal.id,
        "program": proposal.program,
        "kind": proposal.kind,
        "kkNumber": proposal.kk_number or before.get("kk_number"),
        "nik": proposal.nik,
        "householdId": proposal.household_id,
        "file": file,
        "line": line,
        "values": [{"field": f, "value": v} for f, v in proposal.values],
        "previous": [{"field": f, "value": before.get(f)} for f, _ in proposal.values],
        "evidenceSha256": proposal.evidence_sha256,
        "caseRef": proposal.case_ref,
        "note": proposal.note,
        "submittedAt": proposal.submitted_at.isoformat(),
    }


def _write(
    directory: Path,
    *,
    export_id: str,
    since: datetime | None,
    proposals: list[StoredProposal],
    registry: Registry,
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    household_rows: list[list[str]] = []
    person_rows: list[list[str]] = []
    for proposal in proposals:
        if proposal.nik is None:
            before = registry.households.get(proposal.household_id or -1, {})
            row = {**before, "kk_number": proposal.kk_number or "", **dict(proposal.values)}
            household_rows.append([row.get(name, "") for name in HOUSEHOLDS.names])
            line = len(household_rows) + 1
            entries.append(_entry(proposal, file="households.csv", line=line, before=before))
            continue
        family = registry.members.get(proposal.person_id or -1, [])
        person = next((m for m in family if m["nik"] == proposal.nik), {})
        line = 0
        for member in family:
            row = {**member, **dict(proposal.values)} if member is person else member
            person_rows.append([row.get(name, "") for name in PERSONS.names])
            if member is person:
                line = len(person_rows) + 1
        entries.append(_entry(proposal, file="persons.csv", line=line, before=person))
    files = []
    for name, header, rows in (
        ("households.csv", HOUSEHOLDS.names, household_rows),
        ("persons.csv", PERSONS.names, person_rows),
    ):
        if not rows and name == "persons.csv":
            continue
        path = directory / name
        with path.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(header)
            writer.writerows(rows)
        files.append(
            {
                "name": name,
                "rows": len(rows),
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            }
        )
    manifest = {
        "export": export_id,
        "exportedAt": datetime.now(UTC).isoformat(),
        "since": since.isoformat() if since else None,
        "layout": "regsosek import layout (regsosek export-template)",
        "files": files,
        "proposals": entries,
    }
    (directory / MANIFEST).write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )


Audit = Callable[[str, list[StoredProposal]], Awaitable[None]]
"""Records an export (its id, its proposals) on the audit trail; raises when it cannot."""


async def export_proposals(
    url: str, *, out: Path, since: datetime | None, audit: Audit
) -> ExportSummary:
    """Write the SUBMITTED proposals (since ``since``) to ``out`` and mark them FORWARDED.

    ``audit`` records the export before it commits: if it raises, nothing is marked and the
    files written are removed (no audit event, no export)."""
    export_id = export_id_now()
    connection = await asyncpg.connect(plain_url(url))
    written = [out / name for name in ("households.csv", "persons.csv", MANIFEST)]
    existed = {path for path in written if path.exists()}
    try:
        async with connection.transaction():
            proposals = await pending_proposals(connection, since=since)
            registry = Registry(
                households=await _current_rows(
                    connection,
                    [p.household_id for p in proposals if p.household_id and p.nik is None],
                ),
                members=await _members(
                    connection, [p.person_id for p in proposals if p.person_id is not None]
                ),
            )
            _write(out, export_id=export_id, since=since, proposals=proposals, registry=registry)
            await add_statuses(
                connection,
                [(p.id, p.program) for p in proposals],
                status=ProposalStatus.FORWARDED,
                export_id=export_id,
            )
            try:
                await audit(export_id, proposals)
            except BaseException:
                for path in written:
                    if path not in existed:
                        path.unlink(missing_ok=True)
                raise
    finally:
        await connection.close()
    return ExportSummary(export_id, out, tuple(proposals))
