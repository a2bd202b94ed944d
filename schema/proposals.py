"""``proposeChange`` and ``proposals``: agencies propose, BPS decides (CONTRACT §11).

A proposal names import-layout columns and values as an import file writes them. It is
checked as the importer checks a file (``db.layout.parse_value``: the same rule and the
same reason), against what the program's policy lets it propose (``policies.proposals``),
and about a household the program may read now (``policies.rows.readable_rows``): a
household outside its scope is refused with the very message of one that does not exist.
A ``USUL`` names a new family (its No KK and desa, inside the policy's region) instead.
The proposal is written beside the registry (``db.proposals``), never into it; a later
proposal about the same family supersedes the pending ones.

``proposals`` pages the program's own proposals (row-level security and the query both
say so) with sealed cursors like every connection.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping
from typing import Any

import asyncpg
from sqlalchemy import BigInteger, bindparam, select

from db.layout import HOUSEHOLDS, PERSONS, BadValue, ColumnSpec, layout_text, parse_value
from db.proposals import NewProposal, StoredProposal, insert_proposal, proposal_page
from errors import BadInput, Forbidden
from policies import Entity, Program, readable_rows
from policies.proposals import ProposalKind
from schema.compiler.cursors import Ordering
from schema.compiler.statement import CompiledStatement, compile_statement
from schema.documents import BoundedCache
from schema.embed import HouseholdRef
from schema.execute import Caller, Subject
from schema.pseudonym_directory import NamedPersons
from schema.scalars import parse_id
from schema.sealed_cursors import CursorKeys, canonical_criteria
from schema.subjects import by_pseudonym, names_persons

NOT_VISIBLE = "No household with that id is visible to your program."
"""The one answer for a household that does not exist and one outside the program's scope."""
NO_PERSON = "No person with that pseudonym is visible to your program."
NO_PERSON_NIK = "No person with that NIK is visible to your program."
SHA256 = re.compile(r"[0-9a-fA-F]{64}")
MAX_CASE_REF = 200
MAX_NOTE = 2000
MAX_VALUES = 100
COLUMNS: Mapping[str, ColumnSpec] = {column.name: column for column in HOUSEHOLDS.columns}
PERSON_COLUMNS: Mapping[str, ColumnSpec] = {
    column.name: column for column in PERSONS.columns if column.name != "kk_number"
}
PERSON_KINDS = frozenset({ProposalKind.REACTIVATE})
"""Kinds of proposal about a person: named by ``nik`` as the program reads it (the NIK, or
its pseudonym), proposing columns of the persons file."""
USUL_REQUIRED = ("kk_number", "desa_code")
"""What a new family must at least name: its No KK (its identity in the release that adds
it) and its desa (inside the region the program may propose families in)."""
BY_ID = Ordering("proposal", ("id",), ("int",), ())


def _household_lookup(program: Program) -> CompiledStatement:
    """``SELECT id, kk_number`` of one household the program may read (``$1``: its id)."""
    rows = readable_rows(Entity.HOUSEHOLD, program=program, name="proposed")
    statement = select(rows.table.c.id, rows.table.c.kk_number).where(
        rows.table.c.id == bindparam("q_id", type_=BigInteger), rows.predicate
    )
    return compile_statement(statement, frozenset())


def checked_values(program: Program, kind: ProposalKind, given: Any) -> list[tuple[str, str]]:
    """The proposed ``(column, value)`` pairs, each checked as the importer checks it."""
    grant = program.proposals
    assert grant is not None
    columns = PERSON_COLUMNS if kind in PERSON_KINDS else COLUMNS
    allowed = set(grant.fields) & set(columns)
    allowed |= {"kk_number"} if kind is ProposalKind.USUL else set()
    if not given:
        raise BadInput("A proposal needs at least one value.")
    if len(given) > MAX_VALUES:
        raise BadInput(f"A proposal holds at most {MAX_VALUES} values.")
    values: list[tuple[str, str]] = []
    seen: set[str] = set()
    for index, item in enumerate(given):
        column, text = item["field"], item["value"]
        if column == "nik" and kind in PERSON_KINDS:
            continue  # the person's name, checked when the person is looked up
        if column not in allowed:
            raise Forbidden(f"values[{index}]: your program may not propose `{column}`.")
        if column in seen:
            raise BadInput(f"values[{index}]: `{column}` is proposed twice.")
        seen.add(column)
        try:
            parsed = parse_value(columns[column], text.strip() or None)
        except BadValue as error:
            raise BadInput(f"values[{index}] ({column}): {error}") from None
        values.append((column, layout_text(parsed)))
    if not values:
        raise BadInput("A proposal needs at least one value besides the person's `nik`.")
    return values


def _kind(program: Program, given: Any) -> ProposalKind:
    kind = ProposalKind(getattr(given, "value", given))
    grant = program.proposals
    if grant is None or kind not in grant.kinds:
        raise Forbidden(f"Your program may not propose {kind.value}.")
    return kind


def _evidence(text: str) -> str:
    if not SHA256.fullmatch(text):
        raise BadInput("`evidenceSha256` must be the evidence file's SHA-256: 64 hex digits.")
    return text.lower()


def _bounded(text: str | None, *, name: str, most: int) -> str | None:
    if text is None or not text.strip():
        return None
    if len(text) > most or "\x00" in text:
        raise BadInput(f"`{name}` must be at most {most} characters.")
    return text.strip()


def proposal_value(stored: StoredProposal) -> dict[str, Any]:
    """A stored proposal as the ``Proposal`` type's full object."""
    settled = None
    if stored.release_id is not None and stored.release_at is not None:
        settled = {"id": stored.release_id, "importedAt": stored.release_at.isoformat()}
    return {
        "id": str(stored.id),
        "kind": stored.kind,
        "status": stored.status.value,
        "values": [{"field": f, "value": v} for f, v in stored.values],
        "caseRef": stored.case_ref,
        "evidenceSha256": stored.evidence_sha256,
        "submittedAt": stored.submitted_at.isoformat(),
        "statusChangedAt": stored.status_at.isoformat(),
        "settledIn": settled,
        "household": (
            HouseholdRef(stored.household_id)
            if stored.household_id is not None and stored.nik is None
            else None
        ),
    }


class ProposeChangeRoot:
    """``proposeChange(input)``: one proposal, written in the request's write transaction."""

    needs_database = True
    embeds_households = True

    def __init__(self, pseudonym_key: bytes) -> None:
        self._persons = NamedPersons(pseudonym_key)
        self._lookups: BoundedCache[Program, CompiledStatement] = BoundedCache(64)
        """Kept per program as the request has it (a purpose may narrow its rows)."""

    async def value(
        self, *, caller: Caller, args: Mapping[str, Any], connection: asyncpg.Connection | None
    ) -> Any:
        assert connection is not None
        program = caller.program
        given = args["input"]
        kind = _kind(program, given["kind"])
        values = checked_values(program, kind, given["values"])
        evidence = _evidence(given["evidenceSha256"])
        case_ref = _bounded(given.get("caseRef"), name="caseRef", most=MAX_CASE_REF)
        note = _bounded(given.get("note"), name="note", most=MAX_NOTE)
        person_id: int | None = None
        household_id: int | None
        nik: str | None = None
        kk_number: str | None = None
        if kind in PERSON_KINDS:
            person_id, household_id, nik = await self._person(connection, program, given)
        else:
            household_id, kk_number = await self._family(
                connection, program=program, kind=kind, given=given, values=values
            )
        stored, _ = await insert_proposal(
            connection,
            NewProposal(
                program=program.name,
                client_id=caller.client_id,
                kind=kind.value,
                household_id=household_id,
                person_id=person_id,
                kk_number=kk_number,
                nik=nik,
                values=tuple(values),
                evidence_sha256=evidence,
                case_ref=case_ref,
                note=note,
            ),
        )
        value = proposal_value(stored)
        value["_person"] = person_id
        return value

    async def _person(
        self, connection: asyncpg.Connection, program: Program, given: Mapping[str, Any]
    ) -> tuple[int, int, str]:
        """The person a proposal names by ``nik`` (as the program reads it): id, household,
        NIK (kept with the proposal: a person's identity across releases)."""
        if given.get("householdId") is not None:
            raise BadInput(
                "A proposal about a person names them by `nik`: leave `householdId` out."
            )
        named = [item["value"] for item in given["values"] if item["field"] == "nik"]
        if len(named) != 1 or not names_persons(program):
            raise BadInput("A proposal about a person names them once, by `nik`.")
        found = await self._persons.find(connection, program, named)
        row = found[0] if found else None
        if row is None:
            raise BadInput(NO_PERSON if by_pseudonym(program) else NO_PERSON_NIK)
        return int(row["id"]), int(row["household_id"]), str(row["nik"])

    async def _family(
        self,
        connection: asyncpg.Connection,
        *,
        program: Program,
        kind: ProposalKind,
        given: Mapping[str, Any],
        values: list[tuple[str, str]],
    ) -> tuple[int | None, str]:
        """The household proposed about (id, No KK), or for USUL the new family's No KK."""
        if kind is ProposalKind.USUL:
            if given.get("householdId") is not None:
                raise BadInput("A USUL proposes a new family: leave `householdId` out.")
            named = dict(values)
            missing = [column for column in USUL_REQUIRED if column not in named]
            if missing:
                raise BadInput(f"A USUL must propose {' and '.join(missing)}.")
            region = program.proposals.region if program.proposals else None
            if region is None or not named["desa_code"].startswith(region):
                raise Forbidden(f"Your program may propose new families only in region {region}.")
            return None, named["kk_number"]
        household = given.get("householdId")
        if household is None:
            raise BadInput(f"A {kind.value} proposal names the household: give `householdId`.")
        row_id = parse_id(household)
        if row_id is None:
            raise BadInput(NOT_VISIBLE)
        lookup = self._lookups.get(program)
        if lookup is None:
            lookup = self._lookups.put(program, _household_lookup(program))
        row = await connection.fetchrow(lookup.sql, *lookup.arguments({"q_id": row_id}))
        if row is None:
            raise BadInput(NOT_VISIBLE)
        return int(row["id"]), str(row["kk_number"])

    def subject(self, value: Any, args: Mapping[str, Any]) -> Subject:
        """The household the proposal is about is named on the request's audit event."""
        person = value.get("_person")
        if person is not None:
            return [], [person]
        reference = value.get("household")
        if isinstance(reference, HouseholdRef):
            return [reference.id], []
        return [], []


class ProposalsRoot:
    """``proposals(filter, first, after)``: the program's own proposals, in id order."""

    needs_database = True
    embeds_households = True

    def __init__(self, cursor_keys: CursorKeys) -> None:
        self.cursor_keys = cursor_keys

    async def value(
        self, *, caller: Caller, args: Mapping[str, Any], connection: asyncpg.Connection | None
    ) -> Any:
        assert connection is not None
        given = args.get("filter") or {}
        status = getattr(given.get("status"), "value", given.get("status"))
        kind = getattr(given.get("kind"), "value", given.get("kind"))
        first = args.get("first")
        first = 50 if first is None else first
        if not 0 <= first <= 1000:
            raise BadInput("`first` must be between 0 and 1000.")
        cursors = self.cursor_keys.for_program(caller.program.name).scope(
            connection="proposals",
            ordering=BY_ID.tag,
            criteria=lambda: canonical_criteria({"status": status, "kind": kind}),
        )
        after = args.get("after")
        after_id = 0 if after is None else BY_ID.key(cursors.open(after, size=BY_ID.size))[0]
        page = await proposal_page(
            connection,
            program=caller.program.name,
            after_id=after_id,
            first=first,
            status=status,
            kind=kind,
        )
        nodes = [proposal_value(stored) for stored in page.proposals]
        edges = [
            {"cursor": cursors.seal(struct.pack(">q", stored.id)), "node": dict(node)}
            for stored, node in zip(page.proposals, nodes, strict=True)
        ]
        return {
            "totalCount": page.total,
            "pageInfo": {
                "hasNextPage": page.has_next,
                "hasPreviousPage": after is not None,
                "startCursor": edges[0]["cursor"] if edges else None,
                "endCursor": edges[-1]["cursor"] if edges else None,
            },
            "nodes": nodes,
            "edges": edges,
        }

    def subject(self, value: Any, args: Mapping[str, Any]) -> Subject:
        """The households the page's proposals are about are named on the audit event."""
        ids = [
            node["household"].id
            for node in value["nodes"]
            if isinstance(node.get("household"), HouseholdRef)
        ]
        return ids, []
