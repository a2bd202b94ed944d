"""SQL of the breach impact pack (``regsosek audit breach``, ``audit.breach``).

Read in one snapshot: the window's place in the chain, the client's disclosing events in
it, and every household and person those events name, by id (the registry identity an
Inspektorat officer needs, No KK and NIK, is ``audit.sql.breach_registry``'s, read as the
owner for the pack: this module is on the request path of ``breachPack``). A
*disclosing* event is one that recorded ids, whatever its outcome: the ledger's entries
are the definition of what left, and a breach notice errs on the side of telling.

Every parameter carries an explicit cast (see ``audit.sql.anomalies``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import asyncpg

_IN_WINDOW: Final = "e.occurred_at >= $2::timestamptz AND e.occurred_at < $3::timestamptz"
CLIENT: Final = f"e.client_id = $1::text AND {_IN_WINDOW}"


@dataclass(frozen=True, slots=True)
class WindowRange:
    """The sequence numbers of every event (any client) in the window."""

    first_seq: int | None
    last_seq: int | None
    events: int


async def window_range(
    connection: asyncpg.Connection, *, start: datetime, end: datetime
) -> WindowRange:
    row = await connection.fetchrow(
        "SELECT min(e.seq) AS first_seq, max(e.seq) AS last_seq, count(*) AS events"
        " FROM audit_events AS e"
        " WHERE e.occurred_at >= $1::timestamptz AND e.occurred_at < $2::timestamptz",
        start,
        end,
    )
    assert row is not None
    return WindowRange(row["first_seq"], row["last_seq"], row["events"])


async def client_outcomes(
    connection: asyncpg.Connection, *, client_id: str, start: datetime, end: datetime
) -> dict[str, int]:
    """The client's events in the window by outcome (disclosing or not)."""
    rows = await connection.fetch(
        "SELECT e.outcome, count(*) AS n FROM audit_events AS e"
        f" WHERE {CLIENT} GROUP BY e.outcome ORDER BY e.outcome",
        client_id,
        start,
        end,
    )
    return {row["outcome"]: int(row["n"]) for row in rows}


_EVENTS: Final = f"""
SELECT e.seq, e.occurred_at, e.endpoint, e.outcome, e.program, e.agency, e.agreement,
       e.purpose, e.purpose_code, e.case_ref, e.operation_name, e.remote_addr,
       e.field_paths, cardinality(e.household_ids) AS households,
       cardinality(e.person_ids) AS persons
FROM audit_events AS e
WHERE {CLIENT} AND (cardinality(e.household_ids) > 0 OR cardinality(e.person_ids) > 0)
ORDER BY e.seq
"""


async def disclosing_events(
    connection: asyncpg.Connection, *, client_id: str, start: datetime, end: datetime
) -> list[asyncpg.Record]:
    """The client's events in the window that recorded households or persons, in ``seq`` order."""
    return list(await connection.fetch(_EVENTS, client_id, start, end))


SUBJECTS: Final = """
WITH ev AS (
    SELECT e.seq, e.occurred_at, e.purpose_code, e.case_ref, e.{ids} AS ids
    FROM audit_events AS e
    WHERE {client} AND cardinality(e.{ids}) > 0
), per AS (
    SELECT s.id, min(ev.occurred_at) AS first_at, max(ev.occurred_at) AS last_at,
           count(*) AS events, array_agg(ev.seq ORDER BY ev.seq) AS seqs,
           coalesce(array_agg(DISTINCT ev.purpose_code)
                    FILTER (WHERE ev.purpose_code IS NOT NULL), '{{}}') AS purposes,
           coalesce(array_agg(DISTINCT ev.case_ref)
                    FILTER (WHERE ev.case_ref IS NOT NULL), '{{}}') AS case_refs
    FROM ev CROSS JOIN LATERAL unnest(ev.ids) AS s(id)
    GROUP BY s.id
)
{select}
ORDER BY per.id
"""
"""Each household or person the client's events in the window named (``{ids}``: the id
column), with its first and last time, its events' ``seqs``, purposes and case references;
``{select}`` reads ``per`` (and, in ``audit.sql.breach_registry``, the registry)."""
ID_LISTS: Final = {"households": "household_ids", "persons": "person_ids"}
_IDS_ONLY: Final = {
    kind: SUBJECTS.format(ids=column, client=CLIENT, select="SELECT per.* FROM per")
    for kind, column in ID_LISTS.items()
}


async def stream_subjects(
    connection: asyncpg.Connection,
    *,
    kind: str,
    client_id: str,
    start: datetime,
    end: datetime,
    batch_size: int = 20_000,
) -> AsyncIterator[list[asyncpg.Record]]:
    """Every household (``kind="households"``) or person (``"persons"``) the client's events
    in the window named, in id order, by id only (no registry table is read: the console's
    summary counts). The caller holds the snapshot's transaction."""
    async for rows in stream_statement(
        connection,
        _IDS_ONLY[kind],
        client_id=client_id,
        start=start,
        end=end,
        batch_size=batch_size,
    ):
        yield rows


async def stream_statement(
    connection: asyncpg.Connection,
    statement: str,
    *,
    client_id: str,
    start: datetime,
    end: datetime,
    batch_size: int,
) -> AsyncIterator[list[asyncpg.Record]]:
    """A ``SUBJECTS`` statement's rows for the client and window, ``batch_size`` at a time."""
    cursor = await connection.cursor(statement, client_id, start, end)
    while rows := await cursor.fetch(batch_size):
        yield rows


async def client_record(connection: asyncpg.Connection, *, client_id: str) -> asyncpg.Record | None:
    """The client's registration: name, program, whether it is enabled and since when not."""
    return await connection.fetchrow(
        "SELECT client_id, name, program, enabled, disabled_at FROM oauth_clients"
        " WHERE client_id = $1::text",
        client_id,
    )
