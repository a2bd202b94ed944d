"""SQL of the subject report (CONTRACT §10): find a person by NIK or a family by No KK,
its members as an auditor sees them, and every disclosure of them, seals applied.

The gateway role reads no registry rows as the auditor program, so the subject is found
through SECURITY DEFINER functions that return ids (``regsosek_person_ids_by_nik``,
``regsosek_subject_by_kk``) and members masked (``regsosek_subject_members``: member
number, NIK with its last four digits, name as initials). Nothing else of the registry is read.

Seals are applied here, in the statement: an entry whose ``sealed_until`` is on or after
the report's day leaves PostgreSQL only as a count per seal date, never as a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import asyncpg
import orjson

from audit.sql.lookups import persons_named
from audit.sql.projection import DISCLOSURE, event_json

SUBJECT_BY_NIK: Final = """
SELECT coalesce(array_agg(DISTINCT person_id), '{}') AS persons,
       coalesce(array_agg(DISTINCT household_id), '{}') AS households
FROM regsosek_person_ids_by_nik($1)
"""

SUBJECT_BY_KK: Final = """
SELECT coalesce(array_agg(DISTINCT household_id), '{}') AS households,
       coalesce((SELECT array_agg(DISTINCT p) FROM regsosek_subject_by_kk($1) AS k,
                 unnest(k.person_ids) AS p), '{}') AS persons
FROM regsosek_subject_by_kk($1)
"""

MEMBERS: Final = """
SELECT coalesce(json_agg(json_build_object(
    'personId', person_id::text,
    'householdId', household_id::text,
    'memberNo', member_no,
    'nikMasked', nik_masked,
    'initials', initials
) ORDER BY household_id, member_no, person_id), '[]')::text
FROM regsosek_subject_members($1::bigint[])
"""

_ENTRY_JSON: Final = event_json(
    "e",
    (*DISCLOSURE, "operationName"),
    sequence_as_text=True,
    extra={
        "householdDisclosed": "e.household_ids && $2::bigint[]",
        "personIds": "ARRAY(SELECT p::text FROM unnest(e.person_ids) AS p"
        " WHERE p = ANY ($1::bigint[]) ORDER BY p)",
    },
)

ENTRIES: Final = f"""
WITH named AS (
    SELECT e.* FROM audit_events AS e
    WHERE e.outcome = 'allowed'
      AND ({persons_named("e", "$1::bigint[]")} OR e.household_ids && $2::bigint[])
)
SELECT json_build_object(
    'entries', (
        SELECT coalesce(json_agg({_ENTRY_JSON} ORDER BY e.seq), '[]') FROM named AS e
        WHERE e.sealed_until IS NULL OR e.sealed_until < $3::date
    ),
    'sealed', (
        SELECT coalesce(json_agg(json_build_object(
            'until', to_char(until, 'YYYY-MM-DD'), 'count', entries
        ) ORDER BY until), '[]')
        FROM (
            SELECT e.sealed_until AS until, count(*) AS entries FROM named AS e
            WHERE e.sealed_until >= $3::date GROUP BY e.sealed_until
        ) AS seals
    )
)::text
"""


@dataclass(frozen=True, slots=True)
class SubjectIds:
    """The ids a subject report is about: the person(s) and household(s)."""

    household_ids: list[int]
    person_ids: list[int]

    @property
    def found(self) -> bool:
        return bool(self.household_ids or self.person_ids)


async def subject_by_nik(connection: asyncpg.Connection, *, nik: str) -> SubjectIds:
    """The person holding ``nik`` and their household (ids only)."""
    row = await connection.fetchrow(SUBJECT_BY_NIK, nik)
    assert row is not None
    return SubjectIds(sorted(row["households"]), sorted(row["persons"]))


async def subject_by_kk(connection: asyncpg.Connection, *, kk_number: str) -> SubjectIds:
    """The household holding ``kk_number`` and its members (ids only)."""
    row = await connection.fetchrow(SUBJECT_BY_KK, kk_number)
    assert row is not None
    return SubjectIds(sorted(row["households"]), sorted(row["persons"]))


async def subject_members(
    connection: asyncpg.Connection, *, household_ids: list[int]
) -> list[dict[str, Any]]:
    """The members of ``household_ids``: ``{personId, householdId, memberNo, nikMasked,
    initials}``, in roster order."""
    text = await connection.fetchval(MEMBERS, household_ids)
    result: list[dict[str, Any]] = orjson.loads(text)
    return result


async def subject_entries(
    connection: asyncpg.Connection, *, subject: SubjectIds, today: date
) -> dict[str, Any]:
    """``{entries, sealed}``: every allowed event that named the subject's persons or
    households, those sealed through ``today`` or later only counted (``[{until, count}]``)."""
    text = await connection.fetchval(ENTRIES, subject.person_ids, subject.household_ids, today)
    result: dict[str, Any] = orjson.loads(text)
    return result
