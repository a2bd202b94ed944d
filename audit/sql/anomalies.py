"""SQL of the anomaly rules of ``auditAnomalies`` and ``regsosek audit report``.

The rules and their thresholds are explained in ``audit.anomaly_rules``;
the thresholds arrive here as parameters. Each statement returns one row per
anomaly: its subject, first and last event, exact event count, the measure
that tripped the rule, and up to ``max_events`` of the events behind it as a
JSON array of ``AnomalyEvent`` objects (never the ids of disclosed rows).
Periods are ``[from, to)``; days are WIB days (see ``audit.sql.reports``).

Every parameter carries an explicit cast (``$7::float8``). PostgreSQL otherwise infers
an uncast parameter's type from its context: in ``w.households >= $7 * s.households``
it typed ``$7`` bigint, and asyncpg sent the share 0.25 as 0, so every client that
read 100 rows in an hour was a "sweep". ``tests/audit/test_anomaly_rules.py`` holds every
statement here to that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

import asyncpg

from audit.sql.projection import event_json as projected
from audit.sql.reports import FAILED_SIGN_IN, REFUSED_SQL
from db.wib import WIB, WIB_SQL

ANOMALY_EVENT: Final = (
    "sequence",
    "occurredAt",
    "endpoint",
    "clientId",
    "program",
    "remoteAddr",
    "operationName",
    "outcome",
    "errorCode",
    "rowCount",
    "fieldPaths",
    "purposeCode",
    "caseRef",
)
"""The fields of one event behind an anomaly, ``AnomalyEvent`` (no ids of disclosed rows):
the purpose and case reference the request named too (CONTRACT §9)."""


def event_json(alias: str) -> str:
    return projected(alias, ANOMALY_EVENT, sequence_as_text=True)


@dataclass(frozen=True, slots=True)
class Found:
    """One anomaly as the SQL found it: who, when, how much, and the events behind it."""

    subject: str
    client_id: str | None
    program: str | None
    remote_addr: str | None
    first_at: datetime
    last_at: datetime
    event_count: int
    measure: float
    baseline: float | None
    day: date | None
    events_json: str
    """A JSON array of up to ``max_events`` ``AnomalyEvent`` objects, in ``seq`` order."""


def _found(row: asyncpg.Record) -> Found:
    return Found(
        subject=row["subject"],
        client_id=row["client_id"],
        program=row["program"],
        remote_addr=row["remote_addr"],
        first_at=row["first_at"],
        last_at=row["last_at"],
        event_count=row["event_count"],
        measure=float(row["measure"]),
        baseline=None if row["baseline"] is None else float(row["baseline"]),
        day=row["day"],
        events_json=row["events"],
    )


_VOLUME: Final = f"""
WITH daily AS (
    SELECT e.client_id, {WIB_SQL.format("e.occurred_at")}::date AS day,
           count(*) AS requests, coalesce(sum(e.row_count), 0) AS rows_disclosed
    FROM audit_events AS e
    WHERE e.endpoint = 'graphql' AND e.client_id IS NOT NULL AND e.program IS NOT NULL
      AND e.occurred_at >= $3::timestamptz AND e.occurred_at < $2::timestamptz
      AND (e.occurred_at >= $1::timestamptz OR {WIB_SQL.format("e.occurred_at")}::date < $4::date)
    GROUP BY e.client_id, day
), clients AS (
    SELECT DISTINCT client_id FROM daily WHERE day >= $4::date
), grid AS (
    SELECT c.client_id, d::date AS day,
           coalesce(x.requests, 0) AS requests, coalesce(x.rows_disclosed, 0) AS rows_disclosed
    FROM clients AS c
    CROSS JOIN generate_series($4::date - {{days}}, $5::date, interval '1 day') AS d
    LEFT JOIN daily AS x ON x.client_id = c.client_id AND x.day = d::date
), scored AS (
    SELECT grid.*,
           avg(requests) OVER w AS base_requests,
           avg(rows_disclosed) OVER w AS base_rows,
           sum(requests) OVER w AS history
    FROM grid
    WINDOW w AS (
        PARTITION BY client_id ORDER BY day ROWS BETWEEN {{days}} PRECEDING AND 1 PRECEDING
    )
), flagged AS (
    SELECT scored.*,
           greatest(
               (day::timestamp - interval '7 hours') AT TIME ZONE 'UTC', $1::timestamptz
           ) AS day_start,
           least(
               (day::timestamp + interval '17 hours') AT TIME ZONE 'UTC', $2::timestamptz
           ) AS day_end,
           requests >= $6::bigint AND requests >= $8::float8 * base_requests AS by_requests
    FROM scored
    WHERE day >= $4::date AND history > 0
      AND ((requests >= $6::bigint AND requests >= $8::float8 * base_requests)
           OR (rows_disclosed >= $7::bigint AND rows_disclosed >= $8::float8 * base_rows))
)
SELECT f.client_id AS subject, f.client_id, agg.program, NULL::text AS remote_addr,
       agg.first_at, agg.last_at, agg.event_count, f.day,
       CASE WHEN f.by_requests THEN f.requests ELSE f.rows_disclosed END AS measure,
       CASE WHEN f.by_requests THEN f.base_requests ELSE f.base_rows END AS baseline,
       f.by_requests, f.requests, f.rows_disclosed, f.base_requests, f.base_rows,
       (SELECT coalesce(json_agg({event_json("p")} ORDER BY p.seq), '[]')::text
        FROM (SELECT * FROM audit_events AS e
              WHERE e.client_id = f.client_id AND e.endpoint = 'graphql'
                AND e.occurred_at >= f.day_start AND e.occurred_at < f.day_end
              ORDER BY e.seq LIMIT $9::bigint) AS p) AS events
FROM flagged AS f
CROSS JOIN LATERAL (
    SELECT min(e.program) AS program, min(e.occurred_at) AS first_at,
           max(e.occurred_at) AS last_at, count(*) AS event_count
    FROM audit_events AS e
    WHERE e.client_id = f.client_id AND e.endpoint = 'graphql'
      AND e.occurred_at >= f.day_start AND e.occurred_at < f.day_end
) AS agg
ORDER BY agg.first_at, f.client_id
"""


@dataclass(frozen=True, slots=True)
class VolumeFound:
    found: Found
    by_requests: bool
    requests: int
    rows_disclosed: int
    base_requests: float
    base_rows: float


async def volume_spikes(
    connection: asyncpg.Connection,
    *,
    occurred_from: datetime,
    occurred_to: datetime,
    first_day: date,
    last_day: date,
    baseline_days: int,
    min_requests: int,
    min_rows: int,
    factor: float,
    max_events: int,
) -> list[VolumeFound]:
    """Clients whose requests or rows on a WIB day of the period are ``factor`` times their
    daily average over the ``baseline_days`` days before (and at least the minimum)."""
    baseline_start = datetime.combine(
        first_day - timedelta(days=baseline_days), datetime.min.time(), tzinfo=WIB
    )
    query = _VOLUME.replace("{days}", str(int(baseline_days)))
    rows = await connection.fetch(
        query,
        occurred_from,
        occurred_to,
        baseline_start,
        first_day,
        last_day,
        min_requests,
        min_rows,
        factor,
        max_events,
    )
    return [
        VolumeFound(
            found=_found(row),
            by_requests=row["by_requests"],
            requests=row["requests"],
            rows_disclosed=row["rows_disclosed"],
            base_requests=float(row["base_requests"] or 0),
            base_rows=float(row["base_rows"] or 0),
        )
        for row in rows
    ]


_OFF_HOURS: Final = f"""
WITH x AS (
    SELECT e.*, {WIB_SQL.format("e.occurred_at")} AS local_at
    FROM audit_events AS e
    WHERE e.occurred_at >= $1::timestamptz AND e.occurred_at < $2::timestamptz
      AND e.endpoint = 'graphql' AND e.outcome = 'allowed' AND e.row_count > 0
      AND e.client_id IS NOT NULL
), off AS (
    SELECT x.*, x.local_at::date AS day,
           row_number() OVER (PARTITION BY x.client_id, x.local_at::date ORDER BY x.seq) AS rn
    FROM x
    WHERE NOT (extract(isodow FROM x.local_at)::int = ANY ($3::int[]))
       OR x.local_at::time < $4::time OR x.local_at::time >= $5::time
)
SELECT client_id AS subject, client_id, min(program) AS program, NULL::text AS remote_addr,
       min(occurred_at) AS first_at, max(occurred_at) AS last_at, count(*) AS event_count,
       day, sum(row_count) AS rows_disclosed, count(*) AS measure, NULL::float8 AS baseline,
       coalesce(
           json_agg({event_json("off")} ORDER BY seq) FILTER (WHERE rn <= $6::bigint), '[]'
       )::text AS events
FROM off
GROUP BY client_id, day
ORDER BY min(occurred_at), client_id
"""


async def off_hours_access(
    connection: asyncpg.Connection,
    *,
    occurred_from: datetime,
    occurred_to: datetime,
    weekdays: Sequence[int],
    office_start: Any,
    office_end: Any,
    max_events: int,
) -> list[tuple[Found, int]]:
    """Per client and WIB day: allowed requests that disclosed rows outside office hours
    (``weekdays`` ISO 1–7, ``[office_start, office_end)`` WIB), with the rows they disclosed."""
    rows = await connection.fetch(
        _OFF_HOURS,
        occurred_from,
        occurred_to,
        list(weekdays),
        office_start,
        office_end,
        max_events,
    )
    return [(_found(row), int(row["rows_disclosed"])) for row in rows]


_BURST: Final = f"""
WITH x AS (
    SELECT e.*, {{subject}} AS subject
    FROM audit_events AS e
    WHERE e.occurred_at >= $1::timestamptz AND e.occurred_at < $2::timestamptz
      AND {{condition}}
), counted AS (
    SELECT x.*, count(*) OVER (
        PARTITION BY x.subject ORDER BY x.occurred_at
        RANGE BETWEEN $3::interval PRECEDING AND CURRENT ROW
    ) AS in_window
    FROM x
), ends AS (
    SELECT subject, occurred_at AS end_at FROM counted WHERE in_window >= $4::bigint
), members AS (
    SELECT c.* FROM counted AS c
    WHERE EXISTS (
        SELECT 1 FROM ends
        WHERE ends.subject = c.subject
          AND c.occurred_at BETWEEN ends.end_at - $3::interval AND ends.end_at
    )
), marked AS (
    SELECT m.*,
           CASE WHEN lag(m.occurred_at) OVER s IS NULL
                  OR m.occurred_at - lag(m.occurred_at) OVER s > $3::interval
                THEN 1 ELSE 0 END AS starts
    FROM members AS m
    WINDOW s AS (PARTITION BY m.subject ORDER BY m.occurred_at, m.seq)
), islands AS (
    SELECT marked.*,
           sum(starts) OVER (PARTITION BY subject ORDER BY occurred_at, seq) AS island
    FROM marked
), numbered AS (
    SELECT islands.*,
           row_number() OVER (PARTITION BY subject, island ORDER BY seq) AS rn
    FROM islands
)
SELECT subject, min(client_id) AS client_id, min(program) AS program,
       min(remote_addr) AS remote_addr,
       min(occurred_at) AS first_at, max(occurred_at) AS last_at, count(*) AS event_count,
       NULL::date AS day, max(in_window) AS measure, NULL::float8 AS baseline,
       coalesce(
           json_agg({event_json("numbered")} ORDER BY seq) FILTER (WHERE rn <= $5::bigint), '[]'
       )::text AS events
FROM numbered
GROUP BY subject, island
ORDER BY min(occurred_at), subject
"""

_DENIAL_BURST: Final = _BURST.replace("{subject}", "e.client_id").replace(
    "{condition}",
    f"e.endpoint = 'graphql' AND e.client_id IS NOT NULL AND e.outcome IN {REFUSED_SQL}",
)
_SIGN_IN_BURST: Final = _BURST.replace(
    "{subject}", "coalesce('client ' || e.client_id, 'address ' || e.remote_addr, 'unknown')"
).replace("{condition}", FAILED_SIGN_IN)


async def bursts(
    connection: asyncpg.Connection,
    *,
    kind: str,
    occurred_from: datetime,
    occurred_to: datetime,
    window: timedelta,
    threshold: int,
    max_events: int,
) -> list[Found]:
    """Runs of at least ``threshold`` events of one subject within ``window``, merged while
    they keep coming; ``measure`` is the most events in one window.

    ``kind="refused"``: refused ``/graphql`` requests, by client.
    ``kind="sign_in"``: failed sign-ins, by the client id asserted, else by address.
    """
    query = {"refused": _DENIAL_BURST, "sign_in": _SIGN_IN_BURST}[kind]
    rows = await connection.fetch(query, occurred_from, occurred_to, window, threshold, max_events)
    return [_found(row) for row in rows]


_SWEEP: Final = f"""
WITH x AS (
    SELECT e.seq, e.occurred_at, e.client_id, e.program, e.household_ids, e.person_ids
    FROM audit_events AS e
    WHERE e.occurred_at >= $1::timestamptz AND e.occurred_at < $2::timestamptz
      AND e.endpoint = 'graphql' AND e.outcome = 'allowed' AND e.row_count > 0
      AND e.client_id IS NOT NULL AND e.program = ANY ($3::text[])
), scopes AS (
    SELECT * FROM unnest($3::text[], $4::bigint[], $5::bigint[])
        AS s(program, households, persons)
), bins AS (
    SELECT x.*, b.start_at
    FROM x CROSS JOIN LATERAL (VALUES
        (date_bin($6::interval, x.occurred_at, $1::timestamptz)),
        (date_bin($6::interval, x.occurred_at, $1::timestamptz + $6::interval / 2))
    ) AS b(start_at)
), household_counts AS (
    SELECT client_id, start_at, count(DISTINCT h) AS n
    FROM bins CROSS JOIN LATERAL unnest(bins.household_ids) AS h
    GROUP BY client_id, start_at
), person_counts AS (
    SELECT client_id, start_at, count(DISTINCT p) AS n
    FROM bins CROSS JOIN LATERAL unnest(bins.person_ids) AS p
    GROUP BY client_id, start_at
), windows AS (
    SELECT w.client_id, w.start_at, w.program,
           coalesce(hc.n, 0) AS households, coalesce(pc.n, 0) AS persons
    FROM (SELECT client_id, start_at, min(program) AS program FROM bins
          GROUP BY client_id, start_at) AS w
    LEFT JOIN household_counts AS hc USING (client_id, start_at)
    LEFT JOIN person_counts AS pc USING (client_id, start_at)
), flagged AS (
    SELECT w.*,
           greatest(
               CASE WHEN s.households > 0 THEN w.households::float8 / s.households END,
               CASE WHEN s.persons > 0 THEN w.persons::float8 / s.persons END
           ) AS share,
           s.households AS scope_households, s.persons AS scope_persons
    FROM windows AS w JOIN scopes AS s USING (program)
    WHERE (s.households > 0 AND w.households >= $8::bigint
           AND w.households >= $7::float8 * s.households)
       OR (s.persons > 0 AND w.persons >= $8::bigint AND w.persons >= $7::float8 * s.persons)
), marked AS (
    SELECT f.*,
           CASE WHEN lag(f.start_at) OVER s IS NULL
                  OR f.start_at > lag(f.start_at) OVER s + $6::interval
                THEN 1 ELSE 0 END AS starts
    FROM flagged AS f
    WINDOW s AS (PARTITION BY f.client_id ORDER BY f.start_at)
), islands AS (
    SELECT marked.*, sum(starts) OVER (PARTITION BY client_id ORDER BY start_at) AS island
    FROM marked
), spans AS (
    SELECT client_id, island, min(program) AS program,
           min(start_at) AS span_start, max(start_at) + $6::interval AS span_end,
           max(share) AS share, max(households) AS households, max(persons) AS persons,
           max(scope_households) AS scope_households, max(scope_persons) AS scope_persons
    FROM islands
    GROUP BY client_id, island
)
SELECT sp.client_id AS subject, sp.client_id, sp.program, NULL::text AS remote_addr,
       agg.first_at, agg.last_at, agg.event_count, NULL::date AS day,
       sp.share AS measure, NULL::float8 AS baseline,
       sp.households, sp.persons, sp.scope_households, sp.scope_persons,
       (SELECT coalesce(json_agg({event_json("p")} ORDER BY p.seq), '[]')::text
        FROM (SELECT * FROM audit_events AS e
              WHERE e.client_id = sp.client_id AND e.endpoint = 'graphql'
                AND e.outcome = 'allowed' AND e.row_count > 0
                AND e.occurred_at >= greatest(sp.span_start, $1::timestamptz)
                AND e.occurred_at < least(sp.span_end, $2::timestamptz)
              ORDER BY e.seq LIMIT $9::bigint) AS p) AS events
FROM spans AS sp
CROSS JOIN LATERAL (
    SELECT min(e.occurred_at) AS first_at, max(e.occurred_at) AS last_at, count(*) AS event_count
    FROM audit_events AS e
    WHERE e.client_id = sp.client_id AND e.endpoint = 'graphql'
      AND e.outcome = 'allowed' AND e.row_count > 0
      AND e.occurred_at >= greatest(sp.span_start, $1::timestamptz)
      AND e.occurred_at < least(sp.span_end, $2::timestamptz)
) AS agg
ORDER BY agg.first_at, sp.client_id
"""


@dataclass(frozen=True, slots=True)
class SweepFound:
    found: Found
    households: int
    persons: int
    scope_households: int
    scope_persons: int


async def scope_sweeps(
    connection: asyncpg.Connection,
    *,
    occurred_from: datetime,
    occurred_to: datetime,
    scopes: Sequence[tuple[str, int, int]],
    window: timedelta,
    share: float,
    min_rows: int,
    max_events: int,
) -> list[SweepFound]:
    """Clients that disclosed at least ``share`` of their program's scope (distinct
    households, or distinct persons) within one ``window``, windows starting every half
    window from ``occurred_from``; overlapping flagged windows are one anomaly.

    ``scopes``: ``(program, households in scope, persons in scope)``.
    """
    if not scopes:
        return []
    rows = await connection.fetch(
        _SWEEP,
        occurred_from,
        occurred_to,
        [scope[0] for scope in scopes],
        [scope[1] for scope in scopes],
        [scope[2] for scope in scopes],
        window,
        share,
        min_rows,
        max_events,
    )
    return [
        SweepFound(
            found=_found(row),
            households=row["households"],
            persons=row["persons"],
            scope_households=row["scope_households"],
            scope_persons=row["scope_persons"],
        )
        for row in rows
    ]
