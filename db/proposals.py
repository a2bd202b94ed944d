"""Proposals and their status history (``proposals``, ``proposal_statuses``; migration 0009).

A proposal is written once and never changed; its status is the latest row of its history
(``SUBMITTED`` with the proposal, then ``FORWARDED`` by an export, ``ACCEPTED`` /
``REJECTED`` by the release that settled it, or ``SUPERSEDED`` by a later proposal of the
same program for the same family). The gateway role reads and writes only its own
program's rows (row-level security on ``regsosek.program``); exports and settlement run as
the owner, across programs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import asyncpg
import orjson


class ProposalStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    FORWARDED = "FORWARDED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    SUPERSEDED = "SUPERSEDED"


PENDING = (ProposalStatus.SUBMITTED, ProposalStatus.FORWARDED)
"""Statuses a later proposal supersedes (a settled one stays settled)."""


@dataclass(frozen=True)
class NewProposal:
    """A checked proposal, as ``proposeChange`` writes it."""

    program: str
    client_id: str
    kind: str
    household_id: int | None
    person_id: int | None
    kk_number: str | None
    """The family's No KK (None for a proposal about a person, named by ``nik``)."""
    nik: str | None
    values: tuple[tuple[str, str], ...]
    """(import-layout column, value as the layout writes it), in the order proposed."""
    evidence_sha256: str
    case_ref: str | None
    note: str | None


@dataclass(frozen=True)
class StoredProposal:
    id: int
    program: str
    kind: str
    household_id: int | None
    person_id: int | None
    kk_number: str | None
    nik: str | None
    values: tuple[tuple[str, str], ...]
    evidence_sha256: str
    case_ref: str | None
    note: str | None
    submitted_at: datetime
    status: ProposalStatus
    status_at: datetime
    release_id: str | None
    release_at: datetime | None


CURRENT = """
    SELECT p.id, p.program, p.kind, p.household_id, p.person_id, p.kk_number, p.nik,
           p.proposed, p.evidence_sha256, p.case_ref, p.note, p.submitted_at,
           s.status, s.changed_at, s.release_id, r.imported_at AS release_at
    FROM proposals AS p
    CROSS JOIN LATERAL (
        SELECT status, changed_at, release_id FROM proposal_statuses
        WHERE proposal_id = p.id ORDER BY id DESC LIMIT 1
    ) AS s
    LEFT JOIN releases AS r ON r.id = s.release_id
"""
"""Every proposal with its current status (and the release that settled it)."""


def _stored(row: asyncpg.Record) -> StoredProposal:
    values = tuple((item["field"], item["value"]) for item in orjson.loads(row["proposed"]))
    return StoredProposal(
        id=row["id"],
        program=row["program"],
        kind=row["kind"],
        household_id=row["household_id"],
        person_id=row["person_id"],
        kk_number=row["kk_number"],
        nik=row["nik"],
        values=values,
        evidence_sha256=row["evidence_sha256"],
        case_ref=row["case_ref"],
        note=row["note"],
        submitted_at=row["submitted_at"],
        status=ProposalStatus(row["status"]),
        status_at=row["changed_at"],
        release_id=row["release_id"],
        release_at=row["release_at"],
    )


async def insert_proposal(
    connection: asyncpg.Connection, proposal: NewProposal
) -> tuple[StoredProposal, list[int]]:
    """Write ``proposal`` as SUBMITTED, superseding the program's pending proposals about the
    same family (and person); returns it and the ids it superseded. Runs in the caller's
    transaction."""
    superseded = [
        row["id"]
        for row in await connection.fetch(
            f"""SELECT c.id FROM ({CURRENT}) AS c
                WHERE c.program = $1 AND c.kk_number IS NOT DISTINCT FROM $2
                  AND c.nik IS NOT DISTINCT FROM $3 AND c.status = ANY($4::text[])
                ORDER BY c.id""",
            proposal.program,
            proposal.kk_number,
            proposal.nik,
            list(PENDING),
        )
    ]
    new_id = await connection.fetchval(
        """INSERT INTO proposals (program, client_id, kind, household_id, person_id,
               kk_number, nik, proposed, evidence_sha256, case_ref, note, supersedes)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12)
           RETURNING id""",
        proposal.program,
        proposal.client_id,
        proposal.kind,
        proposal.household_id,
        proposal.person_id,
        proposal.kk_number,
        proposal.nik,
        orjson.dumps([{"field": f, "value": v} for f, v in proposal.values]).decode(),
        proposal.evidence_sha256,
        proposal.case_ref,
        proposal.note,
        superseded[-1] if superseded else None,
    )
    await add_statuses(
        connection,
        [(new_id, proposal.program)],
        status=ProposalStatus.SUBMITTED,
    )
    await add_statuses(
        connection,
        [(old, proposal.program) for old in superseded],
        status=ProposalStatus.SUPERSEDED,
    )
    stored = await proposals_by_id(connection, [new_id])
    return stored[0], superseded


async def add_statuses(
    connection: asyncpg.Connection,
    proposals: list[tuple[int, str]],
    *,
    status: ProposalStatus,
    release_id: str | None = None,
    export_id: str | None = None,
) -> None:
    """A new status for each ``(proposal id, program)``: the history grows, nothing changes."""
    if not proposals:
        return
    await connection.executemany(
        """INSERT INTO proposal_statuses (proposal_id, program, status, release_id, export_id)
           VALUES ($1, $2, $3, $4, $5)""",
        [(pid, program, status.value, release_id, export_id) for pid, program in proposals],
    )


async def proposals_by_id(connection: asyncpg.Connection, ids: list[int]) -> list[StoredProposal]:
    rows = await connection.fetch(f"{CURRENT} WHERE p.id = ANY($1::bigint[]) ORDER BY p.id", ids)
    return [_stored(row) for row in rows]


@dataclass(frozen=True)
class ProposalPage:
    proposals: list[StoredProposal]
    total: int
    has_next: bool


async def proposal_page(
    connection: asyncpg.Connection,
    *,
    program: str,
    after_id: int,
    first: int,
    status: str | None,
    kind: str | None,
) -> ProposalPage:
    """The program's own proposals after ``after_id``, in id order (keyset page)."""
    where = """c.program = $1 AND ($2::text IS NULL OR c.status = $2)
               AND ($3::text IS NULL OR c.kind = $3)"""
    rows = await connection.fetch(
        f"SELECT * FROM ({CURRENT}) AS c WHERE {where} AND c.id > $4 ORDER BY c.id LIMIT $5",
        program,
        status,
        kind,
        after_id,
        first + 1,
    )
    total = await connection.fetchval(
        f"SELECT count(*) FROM ({CURRENT}) AS c WHERE {where}", program, status, kind
    )
    return ProposalPage([_stored(row) for row in rows[:first]], int(total), len(rows) > first)


def _columns(row: asyncpg.Record) -> dict[str, Any]:
    return dict(row.items())


async def pending_proposals(
    connection: asyncpg.Connection, *, since: datetime | None
) -> list[StoredProposal]:
    """Every program's SUBMITTED proposals (submitted at or after ``since``), in id order:
    what an export forwards. Runs as the owner."""
    rows = await connection.fetch(
        f"""SELECT * FROM ({CURRENT}) AS c
            WHERE c.status = 'SUBMITTED' AND ($1::timestamptz IS NULL OR c.submitted_at >= $1)
            ORDER BY c.id""",
        since,
    )
    return [_stored(row) for row in rows]


async def forwarded_proposals(
    connection: asyncpg.Connection, *, kk_numbers: list[str], niks: list[str]
) -> list[StoredProposal]:
    """The FORWARDED proposals about the families ``kk_numbers`` and the persons ``niks``
    (a release's), in id order."""
    rows = await connection.fetch(
        f"""SELECT * FROM ({CURRENT}) AS c
            WHERE c.status = 'FORWARDED'
              AND (c.kk_number = ANY($1::text[]) OR c.nik = ANY($2::text[]))
            ORDER BY c.id""",
        kk_numbers,
        niks,
    )
    return [_stored(row) for row in rows]


@dataclass(frozen=True)
class Settled:
    """A forwarded proposal a release settled."""

    id: int
    program: str
    household_id: int | None
    person_id: int | None
    status: ProposalStatus


async def settle_forwarded(
    connection: asyncpg.Connection,
    *,
    release_id: str,
    families: dict[str, dict[str, str]],
    persons: dict[str, dict[str, str]],
) -> list[Settled]:
    """Settle the FORWARDED proposals about the families and persons a release carries.

    ``families``: each family of the release's households file by No KK, ``persons`` each
    person of its persons file by NIK, their columns as the layout writes them. A proposal
    is ACCEPTED when the release carries every value it proposed, REJECTED when it carries
    the family (the person) with any other value; proposals about rows the release does not
    carry stay FORWARDED. Runs in the import's transaction.
    """
    settled: list[Settled] = []
    forwarded = await forwarded_proposals(connection, kk_numbers=list(families), niks=list(persons))
    for proposal in forwarded:
        if proposal.nik is not None:
            row = persons.get(proposal.nik)
        else:
            row = families.get(proposal.kk_number or "")
        if row is None:
            continue
        accepted = all(row.get(column) == value for column, value in proposal.values)
        status = ProposalStatus.ACCEPTED if accepted else ProposalStatus.REJECTED
        settled.append(
            Settled(
                id=proposal.id,
                program=proposal.program,
                household_id=proposal.household_id,
                person_id=proposal.person_id,
                status=status,
            )
        )
    for status in (ProposalStatus.ACCEPTED, ProposalStatus.REJECTED):
        await add_statuses(
            connection,
            [(s.id, s.program) for s in settled if s.status is status],
            status=status,
            release_id=release_id,
        )
    return settled
