"""SQL of what auditors read: ``auditEvents`` pages and a household's ``disclosures``.

Both build their JSON in PostgreSQL and return it as text, with the GraphQL
names of ``shared/CONTRACT.md`` §5 (``sequence``, ``occurredAt``, …): ids as
strings (GraphQL ``ID``), times as ``2026-11-29T15:10:00.000123Z``, outcomes
upper-cased (``ALLOWED``, ``RATE_LIMITED`` …). They run as the gateway role,
which may SELECT audit events; a household's members are found through
``regsosek_household_member_ids``, since that role reads no person rows here.

Whether the caller may read audit events at all is the policy's decision
(``Query.auditEvents`` / ``Query.disclosures``), made before these run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg

from audit.sql.projection import DISCLOSURE, event_json

_EVENT_JSON: Final = event_json(
    "e",
    (
        "sequence",
        "occurredAt",
        "clientId",
        "agency",
        "program",
        "agreement",
        "purpose",
        "operationName",
        "documentHash",
        "outcome",
        "errorCode",
        "fieldPaths",
        "householdIds",
        "personIds",
        "purposeCode",
        "caseRef",
        "traceId",
    ),
)

_CURSOR: Final = "({mark} || encode(int8send({seq}), 'hex'))"
"""A cursor placeholder: the request's mark, then the ``seq`` as a keyset position (sealed
by ``schema.sealed_cursors`` before the page leaves the gateway)."""


def persons_named(alias: str, persons: str) -> str:
    """SQL: event ``alias`` names any of the person ids ``persons`` (a bigint[] expression).

    The index holds persons by bucket of 16 ids (migration 0003): the first test finds the
    candidate events through it, the second keeps those that name one of the persons.
    """
    return (
        f"(regsosek_id_buckets({alias}.person_ids) && regsosek_id_buckets({persons})"
        f" AND {alias}.person_ids && {persons})"
    )


@dataclass(frozen=True, slots=True)
class AuditEventFilter:
    """``AuditFilter``: every field set must match; ``occurred_to`` is exclusive."""

    client_id: str | None = None
    program: str | None = None
    agency: str | None = None
    outcome: str | None = None
    """Lower-case, as stored (``allowed``, ``denied`` …)."""
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    household_id: int | None = None
    """Events that disclosed this household or any of its (current) members."""


def _where(event_filter: AuditEventFilter, params: list[Any]) -> list[str]:
    """The filter's conditions on ``audit_events AS e``, appending their values to ``params``."""

    def param(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    conditions: list[str] = []
    for column, value in (
        ("client_id", event_filter.client_id),
        ("program", event_filter.program),
        ("agency", event_filter.agency),
        ("outcome", event_filter.outcome),
    ):
        if value is not None:
            conditions.append(f"e.{column} = {param(value)}")
    if event_filter.occurred_from is not None:
        conditions.append(f"e.occurred_at >= {param(event_filter.occurred_from)}")
    if event_filter.occurred_to is not None:
        conditions.append(f"e.occurred_at < {param(event_filter.occurred_to)}")
    if event_filter.household_id is not None:
        household = param(event_filter.household_id)
        members = f"(SELECT regsosek_household_member_ids({household}::bigint))"
        conditions.append(
            f"(e.household_ids @> ARRAY[{household}::bigint] OR {persons_named('e', members)})"
        )
    return conditions


async def audit_events_page(
    connection: asyncpg.Connection,
    *,
    event_filter: AuditEventFilter,
    first: int,
    after_seq: int | None,
    cursor_mark: str,
    with_total: bool = True,
    with_edges: bool = True,
) -> str:
    """One ``AuditEventConnection`` as JSON text: events in ``seq`` order after ``after_seq``.

    ``{"totalCount", "pageInfo": {"hasNextPage", "endCursor"}, "nodes", "edges"}``;
    ``totalCount`` (all events matching the filter, whatever the page) is null
    unless ``with_total``, ``edges`` is null unless ``with_edges``. Cursors are
    placeholders behind ``cursor_mark``, to be sealed (``CursorScope.seal_marked``).
    """
    params: list[Any] = []
    conditions = _where(event_filter, params)
    filtered = " AND ".join(conditions) or "true"
    page_conditions = list(conditions)
    if after_seq is not None:
        params.append(after_seq)
        page_conditions.append(f"e.seq > ${len(params)}")
    params.append(first + 1)
    limit = f"${len(params)}"
    params.append(first)
    size = f"${len(params)}"
    params.append(cursor_mark)
    mark = f"${len(params)}::text"
    total = f"(SELECT count(*) FROM audit_events AS e WHERE {filtered})" if with_total else "NULL"
    edges = (
        "(SELECT coalesce(json_agg(json_build_object("
        f"'cursor', {_CURSOR.format(mark=mark, seq='p.seq')}, 'node', p.node)"
        " ORDER BY p.seq), '[]')"
        " FROM shown AS p)"
        if with_edges
        else "NULL"
    )
    query = f"""
WITH page AS (
    SELECT e.seq, {_EVENT_JSON} AS node
    FROM audit_events AS e
    WHERE {" AND ".join(page_conditions) or "true"}
    ORDER BY e.seq
    LIMIT {limit}
), shown AS (
    SELECT * FROM page ORDER BY seq LIMIT {size}
)
SELECT json_build_object(
    'totalCount', {total},
    'pageInfo', json_build_object(
        'hasNextPage', (SELECT count(*) FROM page) > {size},
        'endCursor', (SELECT {_CURSOR.format(mark=mark, seq="max(seq)")} FROM shown)
    ),
    'nodes', (SELECT coalesce(json_agg(node ORDER BY seq), '[]') FROM shown),
    'edges', {edges}
)::text
"""
    result = await connection.fetchval(query, *params)
    assert isinstance(result, str)
    return result


_DISCLOSURE_JSON: Final = event_json(
    "e",
    DISCLOSURE,
    extra={
        "householdDisclosed": "e.household_ids @> ARRAY[$1::bigint]",
        "personIds": """ARRAY(
        SELECT p::text FROM unnest(e.person_ids) AS p
        WHERE p = ANY ((SELECT ids FROM members)::bigint[]) ORDER BY p
    )""",
    },
)

_DISCLOSURES: Final = f"""
WITH members AS (SELECT regsosek_household_member_ids($1::bigint) AS ids)
SELECT coalesce(json_agg({_DISCLOSURE_JSON} ORDER BY e.seq), '[]')::text
FROM audit_events AS e
WHERE e.outcome = 'allowed'
  AND (e.household_ids @> ARRAY[$1::bigint] OR {persons_named("e", "(SELECT ids FROM members)")})
"""


async def household_disclosures(connection: asyncpg.Connection, *, household_id: int) -> str:
    """Every allowed event that disclosed any field of the household or of a member, as JSON text.

    A list of ``{sequence, occurredAt, clientId, agency, program, agreement,
    purpose, fieldPaths, householdDisclosed, personIds}`` in ``seq`` order;
    ``personIds`` are the members whose fields that event disclosed.
    """
    result = await connection.fetchval(_DISCLOSURES, household_id)
    assert isinstance(result, str)
    return result
