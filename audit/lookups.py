"""What auditors (program ``inspektorat-audit``) read: the functions behind
``auditEvents`` and ``disclosures``.

They validate arguments; the SQL, which builds the JSON in PostgreSQL, is in
``audit.sql.lookups``. Cursors are sealed and opened by the caller
(``audit.roots``), like every cursor, with ``schema.sealed_cursors``. The
caller (the GraphQL edge) has already decided that the program may read these
root fields, and its read transaction is the one passed in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import asyncpg

from audit.events import Outcome
from audit.sql.lookups import (
    AuditEventFilter,
    audit_events_page,
    household_disclosures,
)
from errors import BadInput

MAX_PAGE: Final = 1000

__all__ = [
    "MAX_PAGE",
    "AuditEventFilter",
    "audit_events",
    "disclosures",
    "make_filter",
]


def make_filter(
    *,
    client_id: str | None = None,
    program: str | None = None,
    agency: str | None = None,
    outcome: str | None = None,
    occurred_from: datetime | None = None,
    occurred_to: datetime | None = None,
    household_id: int | None = None,
) -> AuditEventFilter:
    """An ``AuditFilter`` from GraphQL arguments; outcomes in either case (``ALLOWED``)."""
    if outcome is not None:
        try:
            outcome = Outcome(outcome.lower()).value
        except ValueError:
            raise BadInput("Unknown outcome.") from None
    for moment in (occurred_from, occurred_to):
        if moment is not None and moment.tzinfo is None:
            raise BadInput("Times need a time zone (for example 2026-11-29T08:00:00Z).")
    return AuditEventFilter(
        client_id=client_id,
        program=program,
        agency=agency,
        outcome=outcome,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
        household_id=household_id,
    )


async def audit_events(
    connection: asyncpg.Connection,
    *,
    event_filter: AuditEventFilter | None = None,
    first: int = 50,
    after_seq: int | None = None,
    cursor_mark: str,
    with_total: bool = True,
    with_edges: bool = True,
) -> str:
    """An ``AuditEventConnection`` as JSON text (see ``audit.sql.lookups.audit_events_page``),
    its cursors placeholders behind ``cursor_mark``."""
    if not 0 <= first <= MAX_PAGE:
        raise BadInput(f"first must be between 0 and {MAX_PAGE}.")
    return await audit_events_page(
        connection,
        event_filter=event_filter or AuditEventFilter(),
        first=first,
        after_seq=after_seq,
        cursor_mark=cursor_mark,
        with_total=with_total,
        with_edges=with_edges,
    )


async def disclosures(connection: asyncpg.Connection, *, household_id: int) -> str:
    """Every allowed event that disclosed the household or a member, as a JSON array (text)."""
    return await household_disclosures(connection, household_id=household_id)
