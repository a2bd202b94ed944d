"""SQL of the auditors' reports: the overview of a period and a person's disclosures found
by NIK (the anomaly rules are in ``audit.sql.anomalies``).

Every aggregate is computed in PostgreSQL and comes back as JSON text with the
GraphQL names of ``schema.audit_report_types``: times as
``2026-11-29T15:10:00.000123Z``, days as WIB dates (``2026-11-29``), outcomes
upper-cased (``audit.sql.projection``). Days are days in WIB (UTC+7, no daylight saving), where the
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

from datetime import date, datetime
from typing import Final

import asyncpg

from audit.events import REFUSED
from audit.sql.lookups import persons_named
from audit.sql.projection import DISCLOSURE, TIME_SQL, event_json
from db.wib import WIB_SQL

FAILED_SIGN_IN: Final = (
    "((e.endpoint = 'token' AND e.outcome IN ('unauthenticated', 'rate_limited'))"
    " OR (e.endpoint = 'graphql' AND e.outcome = 'unauthenticated'))"
)
REFUSED_SQL: Final = "(" + ", ".join(f"'{outcome}'" for outcome in sorted(REFUSED)) + ")"

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


# ---- disclosures by purpose and case ---------------------------------------------------

_PURPOSES: Final = """
SELECT coalesce(json_agg(json_build_object(
    'program', program,
    'purposeCode', purpose_code,
    'caseRef', case_ref,
    'requests', requests,
    'rowsDisclosed', rows_disclosed,
    'firstSequence', first_seq::text,
    'lastSequence', last_seq::text
) ORDER BY program, purpose_code NULLS FIRST, case_ref NULLS FIRST), '[]')::text
FROM (
    SELECT e.program, e.purpose_code, e.case_ref, count(*) AS requests,
           coalesce(sum(e.row_count), 0) AS rows_disclosed,
           min(e.seq) AS first_seq, max(e.seq) AS last_seq
    FROM audit_events AS e
    WHERE e.occurred_at >= $1 AND e.occurred_at < $2
      AND e.endpoint = 'graphql' AND e.outcome = 'allowed' AND e.program IS NOT NULL
    GROUP BY e.program, e.purpose_code, e.case_ref
) AS cells
"""


async def purpose_disclosures(
    connection: asyncpg.Connection, *, occurred_from: datetime, occurred_to: datetime
) -> str:
    """The allowed requests of ``[occurred_from, occurred_to)`` per program, purpose code
    and case reference (CONTRACT §9), with the rows they disclosed and their first and last
    sequence numbers, as JSON text."""
    result = await connection.fetchval(_PURPOSES, occurred_from, occurred_to)
    assert isinstance(result, str)
    return result


# ---- a data subject's disclosures ------------------------------------------------------

_PERSON_DISCLOSURE_JSON: Final = event_json(
    "e",
    DISCLOSURE,
    sequence_as_text=True,
    extra={
        "personDisclosed": "e.person_ids && ids.persons",
        "householdDisclosed": "e.household_ids && ids.households",
    },
)

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
        SELECT coalesce(json_agg({_PERSON_DISCLOSURE_JSON} ORDER BY e.seq), '[]')
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
