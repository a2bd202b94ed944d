"""SQL of the auditors' reports: the overview of a period, the anomaly rules, a person's
disclosures found by NIK, and the incremental reads of the chain check.

Every aggregate is computed in PostgreSQL and comes back as JSON text with the
GraphQL names of ``schema.audit_report_types``: times as
``2026-11-29T15:10:00.000123Z``, days as WIB dates (``2026-11-29``), outcomes
upper-cased. Days are days in WIB (UTC+7, no daylight saving), where the
agencies and the Inspektorat work: ``wib_day(t) = ((t AT TIME ZONE 'UTC') +
7 hours)::date``.

Periods are ``[from, to)`` on ``occurred_at``; ``audit_events`` is partitioned
by month and has a BRIN index on ``occurred_at``, so a period reads only its
own blocks. What counts as what (outcomes, failed sign-ins) is fixed here, once:

* a *request* is an event at ``/graphql`` made with a valid token (it has a
  ``program``); *refused* requests are those answered ``FORBIDDEN``,
  ``BAD_USER_INPUT``, ``QUERY_TOO_COMPLEX`` or ``RATE_LIMITED``;
* a *failed sign-in* is a token request refused for its credentials (401
  ``invalid_client``) or throttled after too many of them (429), or a
  ``/graphql`` request without a valid bearer token (401).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Final

import asyncpg

from db.audit_queries import persons_named

TIME_SQL: Final = """to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
WIB_SQL: Final = "((({0}) AT TIME ZONE 'UTC') + interval '7 hours')"
"""The WIB wall-clock time of a ``timestamptz`` (a ``timestamp``)."""

REFUSED_OUTCOMES: Final = ("denied", "invalid", "too_complex", "rate_limited")
FAILED_SIGN_IN: Final = (
    "((e.endpoint = 'token' AND e.outcome IN ('unauthenticated', 'rate_limited'))"
    " OR (e.endpoint = 'graphql' AND e.outcome = 'unauthenticated'))"
)
REFUSED_SQL: Final = "(" + ", ".join(f"'{outcome}'" for outcome in REFUSED_OUTCOMES) + ")"

# ---- the overview ----------------------------------------------------------------------

_SUMMARY: Final = f"""
WITH e AS (
    SELECT e.seq, e.endpoint, e.client_id, e.program, e.outcome, e.row_count, e.field_paths,
           {WIB_SQL.format("e.occurred_at")}::date AS day,
           {FAILED_SIGN_IN} AS failed_sign_in
    FROM audit_events AS e
    WHERE e.occurred_at >= $1 AND e.occurred_at < $2
), cells AS (
    SELECT day, program,
           count(*) FILTER (WHERE endpoint = 'graphql') AS requests,
           count(*) FILTER (WHERE endpoint = 'graphql' AND outcome = 'allowed') AS allowed,
           count(*) FILTER (WHERE endpoint = 'graphql' AND outcome IN {REFUSED_SQL}) AS refused,
           count(*) FILTER (WHERE endpoint = 'graphql' AND outcome = 'denied') AS denied,
           count(*) FILTER (WHERE endpoint = 'graphql' AND outcome = 'rate_limited') AS limited,
           coalesce(sum(row_count) FILTER (
               WHERE endpoint = 'graphql' AND outcome = 'allowed'), 0) AS rows_disclosed,
           count(*) FILTER (WHERE endpoint = 'token' AND outcome = 'allowed') AS tokens
    FROM e
    WHERE program IS NOT NULL AND NOT failed_sign_in
    GROUP BY day, program
), failures AS (
    SELECT day, endpoint, client_id, count(*) AS attempts
    FROM e WHERE failed_sign_in
    GROUP BY day, endpoint, client_id
), fields AS (
    SELECT program, path, count(*) AS requests
    FROM e CROSS JOIN LATERAL unnest(e.field_paths) AS path
    WHERE endpoint = 'graphql' AND outcome = 'allowed' AND program IS NOT NULL
    GROUP BY program, path
)
SELECT json_build_object(
    'from', {TIME_SQL.format("$1::timestamptz")},
    'to', {TIME_SQL.format("$2::timestamptz")},
    'days', (
        SELECT coalesce(json_agg(to_char(d, 'YYYY-MM-DD') ORDER BY d), '[]')
        FROM generate_series($3::date, $4::date, interval '1 day') AS d
    ),
    'programs', (SELECT coalesce(json_agg(DISTINCT program ORDER BY program), '[]') FROM cells),
    'totals', json_build_object(
        'events', (SELECT count(*) FROM e),
        'requests', (SELECT coalesce(sum(requests), 0) FROM cells),
        'allowed', (SELECT coalesce(sum(allowed), 0) FROM cells),
        'refused', (SELECT coalesce(sum(refused), 0) FROM cells),
        'denied', (SELECT coalesce(sum(denied), 0) FROM cells),
        'rateLimited', (SELECT coalesce(sum(limited), 0) FROM cells),
        'rowsDisclosed', (SELECT coalesce(sum(rows_disclosed), 0) FROM cells),
        'tokensIssued', (SELECT coalesce(sum(tokens), 0) FROM cells),
        'failedSignIns', (SELECT coalesce(sum(attempts), 0) FROM failures)
    ),
    'programDays', (
        SELECT coalesce(json_agg(json_build_object(
            'day', to_char(day, 'YYYY-MM-DD'),
            'program', program,
            'requests', requests,
            'allowed', allowed,
            'refused', refused,
            'denied', denied,
            'rateLimited', limited,
            'rowsDisclosed', rows_disclosed,
            'tokensIssued', tokens
        ) ORDER BY day, program), '[]')
        FROM cells
    ),
    'failedSignIns', (
        SELECT coalesce(json_agg(json_build_object(
            'day', to_char(day, 'YYYY-MM-DD'),
            'endpoint', upper(endpoint),
            'clientId', client_id,
            'attempts', attempts
        ) ORDER BY day, endpoint, client_id NULLS FIRST), '[]')
        FROM failures
    ),
    'fieldsDisclosed', (
        SELECT coalesce(json_agg(json_build_object(
            'program', program, 'fieldPath', path, 'requests', requests
        ) ORDER BY program, path), '[]')
        FROM fields
    )
)::text
"""


async def period_summary(
    connection: asyncpg.Connection,
    *,
    occurred_from: datetime,
    occurred_to: datetime,
    first_day: date,
    last_day: date,
) -> str:
    """The overview of ``[occurred_from, occurred_to)`` as ``AuditSummary`` JSON text.

    ``first_day``..``last_day`` are the WIB days the period touches (the chart's axis).
    """
    result = await connection.fetchval(_SUMMARY, occurred_from, occurred_to, first_day, last_day)
    assert isinstance(result, str)
    return result


async def count_in_scope(
    connection: asyncpg.Connection, *, program: str, sql: str, arguments: Sequence[Any]
) -> int:
    """Run a count of the rows ``program`` may read (``sql`` applies its predicate), with
    ``regsosek.program`` set to it for the statement, so row-level security agrees.

    The transaction's own ``regsosek.program`` is restored afterwards.
    """
    previous = await connection.fetchval("SELECT current_setting('regsosek.program', true)")
    await connection.execute("SELECT set_config('regsosek.program', $1, true)", program)
    try:
        count = await connection.fetchval(sql, *arguments)
    finally:
        await connection.execute("SELECT set_config('regsosek.program', $1, true)", previous or "")
    return int(count or 0)


# ---- a data subject's disclosures ------------------------------------------------------

_PERSON_DISCLOSURES: Final = f"""
WITH found AS (
    SELECT person_id, household_id FROM regsosek_person_ids_by_nik($1)
), ids AS (
    SELECT coalesce(array_agg(DISTINCT person_id), '{{}}') AS persons,
           coalesce(array_agg(DISTINCT household_id), '{{}}') AS households
    FROM found
)
SELECT json_build_object(
    'found', (SELECT count(*) > 0 FROM found),
    'personIds', (SELECT coalesce(json_agg(person_id::text ORDER BY person_id), '[]') FROM found),
    'householdIds', (
        SELECT coalesce(json_agg(DISTINCT household_id::text), '[]') FROM found
    ),
    'disclosures', (
        SELECT coalesce(json_agg(json_build_object(
            'sequence', e.seq::text,
            'occurredAt', {TIME_SQL.format("e.occurred_at")},
            'clientId', e.client_id,
            'agency', e.agency,
            'program', e.program,
            'agreement', e.agreement,
            'purpose', e.purpose,
            'fieldPaths', e.field_paths,
            'personDisclosed', e.person_ids && ids.persons,
            'householdDisclosed', e.household_ids && ids.households
        ) ORDER BY e.seq), '[]')
        FROM audit_events AS e, ids
        WHERE e.outcome = 'allowed'
          AND ({persons_named("e", "ids.persons")} OR e.household_ids && ids.households)
    )
)::text
"""


async def person_disclosures(connection: asyncpg.Connection, *, nik: str) -> str:
    """Every allowed event that disclosed the person holding ``nik`` or their household.

    ``{found, personIds, householdIds, disclosures: [{sequence, occurredAt, clientId,
    agency, program, agreement, purpose, fieldPaths, personDisclosed,
    householdDisclosed}]}``. The person is found by ``regsosek_person_ids_by_nik``
    (SECURITY DEFINER): only ids come back, never the person's other fields.
    """
    result = await connection.fetchval(_PERSON_DISCLOSURES, nik)
    assert isinstance(result, str)
    return result


# ---- the chain check, incrementally ----------------------------------------------------

_CHECKPOINTS_AFTER: Final = """
SELECT c.id, c.seq, c.head_hash, c.event_count, c.created_at, c.kid, c.signature,
       k.public_jwk::text
FROM audit_checkpoints AS c LEFT JOIN signing_keys AS k USING (kid)
WHERE c.id > $1
ORDER BY c.id
"""


async def checkpoints_after(
    connection: asyncpg.Connection, *, after_id: int
) -> list[asyncpg.Record]:
    """Checkpoints with ``id > after_id`` in id order, each with its key's public JWK (text)."""
    return list(await connection.fetch(_CHECKPOINTS_AFTER, after_id))


async def event_hashes(connection: asyncpg.Connection, *, seq: int) -> list[bytes]:
    """The stored hash of every row holding ``seq`` (one, unless the chain was tampered with)."""
    rows = await connection.fetch("SELECT hash FROM audit_events WHERE seq = $1", seq)
    return [row[0] for row in rows]


async def events_at(
    connection: asyncpg.Connection, *, columns: Sequence[str], seq: int
) -> list[asyncpg.Record]:
    """Every stored row holding ``seq`` (one, unless the chain was tampered with)."""
    query = f"SELECT {', '.join(columns)} FROM audit_events WHERE seq = $1"
    return list(await connection.fetch(query, seq))


async def events_after(
    connection: asyncpg.Connection, *, columns: Sequence[str], after_seq: int, limit: int
) -> list[asyncpg.Record]:
    """Up to ``limit`` stored events with ``seq > after_seq`` in ``(seq, occurred_at)`` order."""
    query = (
        f"SELECT {', '.join(columns)} FROM audit_events WHERE seq > $1"
        " ORDER BY seq, occurred_at LIMIT $2"
    )
    return list(await connection.fetch(query, after_seq, limit))


async def last_sequence(connection: asyncpg.Connection) -> int:
    """The highest stored ``seq`` (0 when there is none)."""
    value = await connection.fetchval("SELECT max(seq) FROM audit_events")
    return int(value or 0)
