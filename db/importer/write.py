"""Writing a checked import: staging tables, then set-based upserts in the caller's transaction.

The rows are copied into temporary tables first, so each step below is one
statement however large the files are:

1. families upserted by No KK (``updated_at = now()`` on replacement, so
   incremental pulls see them);
2. the members of every family the persons file names deleted and
   re-inserted from the file;
3. with an assistance file, the receipts of every family it or the
   households file names deleted and re-inserted;
4. ``updated_at`` set on families whose members or receipts changed, and the
   derived columns recomputed (``db.derived``).
"""

from __future__ import annotations

import asyncpg

from db.derived import refresh_household_derived
from db.importer.checks import Batch
from db.importer.layout import ASSISTANCE, HOUSEHOLDS, PERSONS, FileSpec
from db.importer.parse import Record


def _columns(spec: FileSpec, *, without: tuple[str, ...] = ()) -> str:
    return ", ".join(name for name in spec.names if name not in without)


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


async def write_batch(connection: asyncpg.Connection, batch: Batch) -> None:
    """Apply a checked batch; must run inside a transaction (the staging tables drop at commit)."""
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
    household_columns = _columns(HOUSEHOLDS)
    updates = ", ".join(
        f"{name} = EXCLUDED.{name}" for name in HOUSEHOLDS.names if name != "kk_number"
    )
    upserted = await connection.fetch(
        f"""
        WITH derived AS (
            SELECT kk_number, max(birth_date) AS youngest,
                   (array_agg(sex) FILTER (WHERE relationship_to_head = 'HEAD'))[1] AS head_sex
            FROM import_persons GROUP BY kk_number
        )
        INSERT INTO households ({household_columns}, head_sex, youngest_birth_date)
        SELECT {", ".join("s." + name for name in HOUSEHOLDS.names)},
               coalesce(d.head_sex, e.head_sex), coalesce(d.youngest, e.youngest_birth_date)
        FROM import_households s
        LEFT JOIN derived d ON d.kk_number = s.kk_number
        LEFT JOIN households e ON e.kk_number = s.kk_number
        ON CONFLICT (kk_number) DO UPDATE SET {updates}, updated_at = now()
        RETURNING id
        """
    )
    await connection.execute(
        """
        DELETE FROM persons p USING households h
        WHERE p.household_id = h.id AND h.kk_number IN (SELECT kk_number FROM import_persons)
        """
    )
    await connection.execute(
        f"""
        INSERT INTO persons (household_id, {person_columns})
        SELECT h.id, {", ".join("s." + name for name in PERSONS.names[1:])}
        FROM import_persons s JOIN households h ON h.kk_number = s.kk_number
        ORDER BY h.id, s.member_no
        """
    )
    if batch.receipts is not None:
        await connection.execute(
            """
            DELETE FROM assistance_receipts r USING households h
            WHERE r.household_id = h.id AND h.kk_number IN (
                SELECT kk_number FROM import_households
                UNION SELECT kk_number FROM import_assistance
            )
            """
        )
        await connection.execute(
            """
            INSERT INTO assistance_receipts (household_id, program, month, year)
            SELECT h.id, s.program, s.month, s.year
            FROM import_assistance s JOIN households h ON h.kk_number = s.kk_number
            ORDER BY h.id, s.program, s.year, s.month
            """
        )
    touched = await connection.fetch(
        """
        UPDATE households SET updated_at = now()
        WHERE kk_number IN (
            SELECT kk_number FROM import_persons UNION SELECT kk_number FROM import_assistance
        )
        RETURNING id
        """
    )
    ids = {row["id"] for row in upserted} | {row["id"] for row in touched}
    await refresh_household_derived(connection, sorted(ids))
