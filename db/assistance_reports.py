"""Assistance reports (``assistance_reports``; migration 0009): what programs report delivered.

Beside, not inside, the registry's ``assistance_receipts`` (BPS's records): a report names
the household (and, when the program named a person, the person), the assistance program,
the period and the benefit. Append-only; the gateway role writes and reads only its own
program's rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class NewReport:
    household_id: int
    person_id: int | None
    assistance_program: str
    year: int
    month: int
    benefit: str | None


async def insert_reports(
    connection: asyncpg.Connection, *, program: str, client_id: str, reports: list[NewReport]
) -> int:
    """Write every report (in the caller's transaction); returns how many."""
    await connection.executemany(
        """INSERT INTO assistance_reports (program, client_id, household_id, person_id,
               assistance_program, year, month, benefit)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        [
            (
                program,
                client_id,
                report.household_id,
                report.person_id,
                report.assistance_program,
                report.year,
                report.month,
                report.benefit,
            )
            for report in reports
        ],
    )
    return len(reports)
