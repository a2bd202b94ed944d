"""Writing a checked import: what changed is worked out first, then only that is written.

The rows are copied into temporary tables, so each step is one statement
however large the files are. Identity lasts across releases: a family is its
No KK, a person their NIK.

1. Differences, before anything is written: the household columns that
   differ (``import_household_diff``), the members added, changed (any
   column, or moved to another family) or removed, matched by NIK
   (``import_person_changes``), and the families whose set of receipts
   differs (``import_receipt_diff``); together, every family with any change
   (``import_changed``, see ``db.releases.import_changes``).
2. The programs' scopes on those families, before.
3. Writes, only of what differs: new families inserted, changed ones updated;
   changed and removed members deleted, changed ones inserted again with
   their own id (so member numbers can be swapped), new ones added; receipts
   replaced only where their set differs. ``updated_at`` is the release's
   time on every family with a change, and only on those; the derived columns
   are recomputed for families whose members or receipts changed.
4. The scopes after, and the program changes from the two (``release_events``).

Re-importing an unchanged family therefore changes nothing: no row, no
``updated_at``, no program change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from db.derived import refresh_household_derived
from db.importer.checks import Batch
from db.importer.layout import ASSISTANCE, HOUSEHOLDS, PERSONS, FileSpec
from db.importer.parse import Record
from db.releases.import_changes import record_import_changes, snapshot
from db.releases.ledger import Counts
from db.releases.scopes import MEMBER_ADDED, MEMBER_REMOVED, EntityScope

MOVED = "household"
"""A member's change of family, among their changed columns."""


def _columns(spec: FileSpec, *, without: tuple[str, ...] = ()) -> str:
    return ", ".join(name for name in spec.names if name not in without)


def _differing(names: list[str], *, new: str, old: str) -> str:
    """``text[]`` of the names whose values differ between rows ``new`` and ``old``."""
    cases = ", ".join(
        f"CASE WHEN {new}.{name} IS DISTINCT FROM {old}.{name} THEN '{name}' END" for name in names
    )
    return f"array_remove(ARRAY[{cases}]::text[], NULL)"


async def _stage(
    connection: asyncpg.Connection, spec: FileSpec, *, source_sql: str, records: list[Record]
) -> None:
    """A temporary table named ``import_<file>`` shaped like ``source_sql``, holding ``records``."""
    table = f"import_{spec.table}"
    await connection.execute(
        f"CREATE TEMP TABLE {table} ON COMMIT DROP AS {source_sql} WITH NO DATA"
    )
    await connection.copy_records_to_table(
        table,
        records=[tuple(record.values[name] for name in spec.names) for record in records],
        columns=list(spec.names),
    )


@dataclass(frozen=True)
class Written:
    counts: Counts


HOUSEHOLD_DATA = [name for name in HOUSEHOLDS.names if name != "kk_number"]
PERSON_DATA = [name for name in PERSONS.names if name != "kk_number"]


async def _stage_all(connection: asyncpg.Connection, batch: Batch) -> None:
    persons = [record for group in batch.persons.values() for record in group]
    receipts = [record for group in (batch.receipts or {}).values() for record in group]
    await _stage(
        connection,
        HOUSEHOLDS,
        source_sql=f"SELECT {_columns(HOUSEHOLDS)} FROM households",
        records=batch.households,
    )
    person_columns = _columns(PERSONS, without=("kk_number",))
    await _stage(
        connection,
        PERSONS,
        source_sql=f"SELECT h.kk_number, {person_columns} FROM persons JOIN households h ON false",
        records=persons,
    )
    await _stage(
        connection,
        ASSISTANCE,
        source_sql="SELECT h.kk_number, program, month, year"
        " FROM assistance_receipts JOIN households h ON false",
        records=receipts,
    )
    await connection.execute("ANALYZE import_households, import_persons, import_assistance")


async def _differences(connection: asyncpg.Connection, *, with_receipts: bool) -> None:
    await connection.execute(
        f"""
        CREATE TEMP TABLE import_household_diff ON COMMIT DROP AS
        SELECT s.kk_number, e.id AS household_id, e.id IS NULL AS added,
               CASE WHEN e.id IS NULL THEN '{{}}'::text[]
                    ELSE {_differing(HOUSEHOLD_DATA, new="s", old="e")} END AS columns
        FROM import_households AS s LEFT JOIN households AS e USING (kk_number)
        """
    )
    await connection.execute(
        f"""
        CREATE TEMP TABLE import_person_changes ON COMMIT DROP AS
        SELECT e.id AS person_id, s.nik, s.kk_number, ek.kk_number AS old_kk_number,
               CASE WHEN e.id IS NULL THEN 'added' ELSE 'changed' END AS kind,
               CASE WHEN e.id IS NULL THEN '{{}}'::text[]
                    ELSE array_cat(
                        CASE WHEN s.kk_number IS DISTINCT FROM ek.kk_number
                             THEN ARRAY['{MOVED}'] ELSE '{{}}'::text[] END,
                        {_differing(PERSON_DATA, new="s", old="e")}) END AS columns
        FROM import_persons AS s
        LEFT JOIN persons AS e USING (nik)
        LEFT JOIN households AS ek ON ek.id = e.household_id
        UNION ALL
        SELECT e.id, e.nik, NULL, h.kk_number, 'removed', '{{}}'::text[]
        FROM persons AS e JOIN households AS h ON h.id = e.household_id
        WHERE h.kk_number IN (SELECT kk_number FROM import_persons)
          AND NOT EXISTS (SELECT 1 FROM import_persons AS s WHERE s.nik = e.nik)
        """
    )
    await connection.execute(
        "DELETE FROM import_person_changes WHERE kind = 'changed' AND columns = '{}'"
    )
    receipt = "r.program::text || ':' || r.year || ':' || lpad(r.month::text, 2, '0')"
    await connection.execute(
        f"""
        CREATE TEMP TABLE import_receipt_diff ON COMMIT DROP AS
        WITH families AS (
            SELECT kk_number FROM import_households UNION SELECT kk_number FROM import_assistance
        ), old AS (
            SELECT h.kk_number, array_agg({receipt} ORDER BY {receipt}) AS receipts
            FROM assistance_receipts AS r JOIN households AS h ON h.id = r.household_id
            WHERE h.kk_number IN (SELECT kk_number FROM families)
            GROUP BY h.kk_number
        ), new AS (
            SELECT r.kk_number, array_agg({receipt} ORDER BY {receipt}) AS receipts
            FROM import_assistance AS r GROUP BY r.kk_number
        )
        SELECT f.kk_number FROM families AS f
        LEFT JOIN old USING (kk_number) LEFT JOIN new USING (kk_number)
        WHERE $1 AND coalesce(old.receipts, '{{}}') <> coalesce(new.receipts, '{{}}')
        """.replace("$1", "true" if with_receipts else "false")
    )
    await connection.execute(
        f"""
        CREATE TEMP TABLE import_changed ON COMMIT DROP AS
        WITH households_changed AS (
            SELECT kk_number, household_id, added, columns FROM import_household_diff
            WHERE added OR columns <> '{{}}'
        ), member_markers AS (
            SELECT kk_number, unnest(CASE
                WHEN kind = 'added' OR '{MOVED}' = ANY(columns)
                    THEN array_append(array_remove(columns, '{MOVED}'), '{MEMBER_ADDED}')
                ELSE columns END) AS marker
            FROM import_person_changes WHERE kind <> 'removed'
            UNION ALL
            SELECT old_kk_number, '{MEMBER_REMOVED}' FROM import_person_changes
            WHERE kind = 'removed' OR '{MOVED}' = ANY(columns)
        ), members_changed AS (
            SELECT kk_number, array_agg(DISTINCT marker) AS member_columns
            FROM member_markers GROUP BY kk_number
        ), families AS (
            SELECT kk_number FROM households_changed
            UNION SELECT kk_number FROM members_changed
            UNION SELECT kk_number FROM import_receipt_diff
        )
        SELECT f.kk_number, e.id AS household_id, coalesce(hc.added, false) AS added,
               coalesce(hc.columns, '{{}}') AS columns,
               coalesce(mc.member_columns, '{{}}') AS member_columns,
               f.kk_number IN (SELECT kk_number FROM import_receipt_diff) AS receipts_changed
        FROM families AS f
        LEFT JOIN households AS e USING (kk_number)
        LEFT JOIN households_changed AS hc USING (kk_number)
        LEFT JOIN members_changed AS mc USING (kk_number)
        """
    )


async def _write_households(connection: asyncpg.Connection, *, at: datetime) -> None:
    columns = _columns(HOUSEHOLDS)
    await connection.execute(
        f"""
        WITH derived AS (
            SELECT kk_number, max(birth_date) AS youngest,
                   (array_agg(sex) FILTER (WHERE relationship_to_head = 'HEAD'))[1] AS head_sex
            FROM import_persons GROUP BY kk_number
        )
        INSERT INTO households ({columns}, head_sex, youngest_birth_date, updated_at)
        SELECT {", ".join("s." + name for name in HOUSEHOLDS.names)},
               d.head_sex, d.youngest, $1
        FROM import_households AS s
        JOIN import_household_diff AS x USING (kk_number)
        LEFT JOIN derived AS d USING (kk_number)
        WHERE x.added
        ORDER BY s.kk_number
        """,
        at,
    )
    updates = ", ".join(f"{name} = s.{name}" for name in HOUSEHOLD_DATA)
    await connection.execute(
        f"""
        UPDATE households AS e SET {updates}, updated_at = $1
        FROM import_households AS s JOIN import_household_diff AS x USING (kk_number)
        WHERE e.kk_number = s.kk_number AND NOT x.added AND x.columns <> '{{}}'
        """,
        at,
    )
    await connection.execute(
        "UPDATE import_changed AS c SET household_id = h.id FROM households AS h"
        " WHERE c.household_id IS NULL AND h.kk_number = c.kk_number"
    )


async def _write_persons(connection: asyncpg.Connection) -> None:
    columns = ", ".join(PERSON_DATA)
    values = ", ".join("s." + name for name in PERSON_DATA)
    await connection.execute(
        "DELETE FROM persons WHERE id IN"
        " (SELECT person_id FROM import_person_changes WHERE kind IN ('changed', 'removed'))"
    )
    await connection.execute(
        f"""
        INSERT INTO persons (id, household_id, {columns})
        SELECT c.person_id, h.id, {values}
        FROM import_person_changes AS c
        JOIN import_persons AS s USING (nik)
        JOIN households AS h ON h.kk_number = s.kk_number
        WHERE c.kind = 'changed'
        """
    )
    await connection.execute(
        f"""
        INSERT INTO persons (household_id, {columns})
        SELECT h.id, {values}
        FROM import_person_changes AS c
        JOIN import_persons AS s USING (nik)
        JOIN households AS h ON h.kk_number = s.kk_number
        WHERE c.kind = 'added'
        ORDER BY h.id, s.member_no
        """
    )
    await connection.execute(
        "UPDATE import_person_changes AS c SET person_id = p.id FROM persons AS p"
        " WHERE c.kind = 'added' AND p.nik = c.nik"
    )


async def _write_receipts(connection: asyncpg.Connection) -> None:
    await connection.execute(
        """
        DELETE FROM assistance_receipts AS r USING households AS h
        WHERE r.household_id = h.id AND h.kk_number IN (SELECT kk_number FROM import_receipt_diff)
        """
    )
    await connection.execute(
        """
        INSERT INTO assistance_receipts (household_id, program, month, year)
        SELECT h.id, s.program, s.month, s.year
        FROM import_assistance AS s JOIN households AS h ON h.kk_number = s.kk_number
        WHERE s.kk_number IN (SELECT kk_number FROM import_receipt_diff)
        ORDER BY h.id, s.program, s.year, s.month
        """
    )


async def _counts(connection: asyncpg.Connection) -> Counts:
    row = await connection.fetchrow(
        """
        SELECT (SELECT count(*) FROM import_changed WHERE added) AS households_added,
               (SELECT count(*) FROM import_changed WHERE NOT added) AS households_changed,
               count(*) FILTER (WHERE kind = 'added') AS persons_added,
               count(*) FILTER (WHERE kind = 'changed') AS persons_changed,
               count(*) FILTER (WHERE kind = 'removed') AS persons_removed
        FROM import_person_changes
        """
    )
    return Counts(
        households_added=row["households_added"],
        households_changed=row["households_changed"],
        persons_added=row["persons_added"],
        persons_changed=row["persons_changed"],
        persons_removed=row["persons_removed"],
    )


async def write_batch(
    connection: asyncpg.Connection,
    batch: Batch,
    *,
    at: datetime,
    scopes: list[EntityScope],
) -> Written:
    """Apply a checked batch as of ``at`` (the release's time) and record its program changes
    in ``release_events``; must run inside the release's transaction (the staging tables drop
    at commit)."""
    await _stage_all(connection, batch)
    await _differences(connection, with_receipts=batch.receipts is not None)
    await connection.execute("ANALYZE import_changed, import_person_changes")
    await snapshot(connection, scopes, stage="before")
    await _write_households(connection, at=at)
    await _write_persons(connection)
    await _write_receipts(connection)
    await connection.execute(
        "UPDATE households SET updated_at = $1"
        " WHERE id IN (SELECT household_id FROM import_changed) AND updated_at <> $1",
        at,
    )
    derived = await connection.fetch(
        "SELECT household_id FROM import_changed"
        " WHERE added OR receipts_changed OR member_columns <> '{}'"
    )
    await refresh_household_derived(connection, sorted(row[0] for row in derived))
    await snapshot(connection, scopes, stage="after")
    await record_import_changes(connection, scopes)
    return Written(counts=await _counts(connection))
