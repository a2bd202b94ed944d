"""``reportAssistance``: who received what and when, as a program reports it (CONTRACT §11).

Each row names its subject the way the program reads it: a household id, or, for a
program that reads ``Person.nik`` as PSEUDONYM (dinkes-pbi), the person's pseudonym as
that program reads it. The gateway resolves a pseudonym by recomputing the program's own
keyed HMAC over the persons the program may read (``policies.rows.readable_rows``), in
PostgreSQL, so the NIK never leaves the database; another program's pseudonym resolves to
no one, and is refused like an id that does not exist. The period and program are checked
by the importer's rules for the ``assistance`` file (same reasons), and the assistance
program must be one the program's policy lets it report (``reports: assistance:``,
``policies.reports``): each program reports its own assistance, no one else's.

All or nothing per call: every row is checked first; any error and nothing is written, and
each bad row's ``index`` and reason are answered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg
from sqlalchemy import BigInteger, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY

from db.assistance_reports import NewReport, insert_reports
from db.layout import ASSISTANCE, BadValue, parse_value
from errors import BadInput
from policies import Entity, Program, readable_rows
from schema.compiler.statement import CompiledStatement, compile_statement
from schema.documents import BoundedCache
from schema.execute import Caller, Subject
from schema.proposals import NO_PERSON, NOT_VISIBLE
from schema.pseudonym_directory import NamedPersons
from schema.scalars import parse_id
from schema.subjects import by_pseudonym

MAX_ROWS = 1000
MAX_BENEFIT = 200
COLUMNS = {column.name: column for column in ASSISTANCE.columns}


def _households(program: Program) -> CompiledStatement:
    """The ids among ``$1`` of households the program may read."""
    rows = readable_rows(Entity.HOUSEHOLD, program=program, name="reported")
    wanted = bindparam("q_ids", type_=ARRAY(BigInteger))
    statement = select(rows.table.c.id).where(rows.table.c.id == wanted.any_(), rows.predicate)
    return compile_statement(statement, frozenset())


def _period(row: Mapping[str, Any]) -> tuple[tuple[str, int, int] | None, str | None]:
    """(program, year, month) checked as the importer checks an assistance row, or a reason."""
    values = {}
    for column in ("program", "year", "month"):
        given = row[column]
        text = str(getattr(given, "value", given))
        try:
            values[column] = parse_value(COLUMNS[column], text)
        except BadValue as error:
            return None, f"{column}: {error}"
    return (str(values["program"]), int(values["year"]), int(values["month"])), None  # type: ignore[arg-type]


def _not_reportable(program: Program, assistance: str) -> str | None:
    """Why ``program`` may not report ``assistance``, or None when its policy lets it."""
    allowed = sorted(program.reports.assistance) if program.reports is not None else []
    if assistance in allowed:
        return None
    named = ", ".join(allowed) or "none"
    return f"program: {program.name} may not report {assistance} (its policy reports: {named})"


class ReportAssistanceRoot:
    """``reportAssistance(input)``: all rows in the request's write transaction, or none."""

    needs_database = True

    def __init__(self, pseudonym_key: bytes) -> None:
        self._persons = NamedPersons(pseudonym_key)
        self._households: BoundedCache[Program, CompiledStatement] = BoundedCache(64)

    def _households_statement(self, program: Program) -> CompiledStatement:
        """Kept per program as the request has it (a purpose may narrow its rows)."""
        found = self._households.get(program)
        if found is None:
            found = self._households.put(program, _households(program))
        return found

    async def value(
        self, *, caller: Caller, args: Mapping[str, Any], connection: asyncpg.Connection | None
    ) -> Any:
        assert connection is not None
        rows = list(args["input"])
        if len(rows) > MAX_ROWS:
            raise BadInput(f"Report at most {MAX_ROWS} rows per call.")
        subjects = await self._subjects(connection, caller.program, rows)
        errors: list[dict[str, Any]] = []
        reports: list[NewReport] = []
        for index, row in enumerate(rows):
            subject = subjects.get(str(row["subject"]))
            period, reason = _period(row)
            benefit = row.get("benefit")
            if subject is None:
                reason = NO_PERSON if by_pseudonym(caller.program) else NOT_VISIBLE
            elif reason is None and period is not None:
                reason = _not_reportable(caller.program, period[0])
            if reason is None and benefit is not None and len(benefit) > MAX_BENEFIT:
                reason = f"benefit: must be at most {MAX_BENEFIT} characters"
            if reason is not None or subject is None or period is None:
                errors.append({"index": index, "message": reason})
                continue
            household_id, person_id = subject
            program, year, month = period
            reports.append(NewReport(household_id, person_id, program, year, month, benefit))
        if errors:
            return {"accepted": 0, "errors": errors, "_named": ([], [])}
        accepted = await insert_reports(
            connection, program=caller.program.name, client_id=caller.client_id, reports=reports
        )
        named = (
            sorted({r.household_id for r in reports}),
            sorted({r.person_id for r in reports if r.person_id is not None}),
        )
        return {"accepted": accepted, "errors": [], "_named": named}

    async def _subjects(
        self, connection: asyncpg.Connection, program: Program, rows: list[Mapping[str, Any]]
    ) -> dict[str, tuple[int, int | None]]:
        """Each subject the program may name, as (household id, person id or None)."""
        given = sorted({str(row["subject"]) for row in rows})
        if by_pseudonym(program):
            found = await self._persons.find(connection, program, given)
            return {row["token"]: (int(row["household_id"]), int(row["id"])) for row in found}
        statement = self._households_statement(program)
        ids = {text: parse_id(text) for text in given}
        wanted = sorted({i for i in ids.values() if i is not None})
        found = await connection.fetch(statement.sql, *statement.arguments({"q_ids": wanted}))
        visible = {int(row["id"]) for row in found}
        return {text: (i, None) for text, i in ids.items() if i is not None and i in visible}

    def subject(self, value: Any, args: Mapping[str, Any]) -> Subject:
        """The households and persons a report names are on the request's audit event."""
        households, persons = value["_named"]
        return list(households), list(persons)
