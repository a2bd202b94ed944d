"""Append-only in the database: the gateway's role may only INSERT and SELECT audit rows, and
triggers refuse UPDATE, DELETE and TRUNCATE to everyone, the owner too, partitions included."""

from __future__ import annotations

import asyncpg
import pytest

from tests.audit.support import ChainDatabase, write_events

CHANGES = (
    "UPDATE {table} SET {column} = {column}",
    "DELETE FROM {table}",
    "TRUNCATE {table}",
)


@pytest.fixture(scope="module")
async def written(module_chain_db: ChainDatabase) -> ChainDatabase:
    chain_db = module_chain_db
    writer = chain_db.writer()
    await writer.start()
    try:
        await write_events(writer, 5)
    finally:
        await writer.close()
    return chain_db


async def targets(connection: asyncpg.Connection) -> list[tuple[str, str]]:
    partition = await connection.fetchval(
        "SELECT inhrelid::regclass::text FROM pg_inherits"
        " WHERE inhparent = 'audit_events'::regclass"
        " AND inhrelid::regclass::text = 'audit_events_'"
        " || to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM')"
    )
    assert partition is not None
    return [
        ("audit_events", "client_id"),
        (partition, "client_id"),
        ("audit_checkpoints", "signature"),
    ]


async def refused(connection: asyncpg.Connection, statement: str) -> asyncpg.PostgresError:
    with pytest.raises(asyncpg.PostgresError) as raised:
        async with connection.transaction():
            await connection.execute(statement)
    return raised.value


async def test_the_gateway_role_cannot_change_audit_rows(written: ChainDatabase) -> None:
    owner = await written.owner()
    gateway = await asyncpg.connect(written.app_url)
    try:
        for table, column in await targets(owner):
            for template in CHANGES:
                error = await refused(gateway, template.format(table=table, column=column))
                assert isinstance(error, asyncpg.InsufficientPrivilegeError), (table, template)
                assert "permission denied" in str(error)
    finally:
        await gateway.close()
        await owner.close()
    assert (await written.verify()).ok


async def test_the_owner_cannot_change_audit_rows_either(written: ChainDatabase) -> None:
    owner = await written.owner()
    try:
        for table, column in await targets(owner):
            for template in CHANGES:
                error = await refused(owner, template.format(table=table, column=column))
                assert "append-only" in str(error), (table, template)
    finally:
        await owner.close()
    report = await written.verify()
    assert report.ok
    assert report.stored_events == 5


async def test_the_gateway_role_may_insert_and_select(written: ChainDatabase) -> None:
    gateway = await asyncpg.connect(written.app_url)
    try:
        assert await gateway.fetchval("SELECT count(*) FROM audit_events") == 5
        assert await gateway.fetchval("SELECT count(*) FROM audit_checkpoints") >= 1
        privileges = await gateway.fetch(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants"
            " WHERE grantee = 'regsosek_app' AND table_name LIKE 'audit%' ORDER BY 1, 2"
        )
    finally:
        await gateway.close()
    assert {(row[0], row[1]) for row in privileges} == {
        ("audit_checkpoints", "INSERT"),
        ("audit_checkpoints", "SELECT"),
        ("audit_events", "INSERT"),
        ("audit_events", "SELECT"),
    }


async def test_the_id_indexes_keep_a_large_pending_list_on_every_partition(
    written: ChainDatabase,
) -> None:
    """A 32 MB list, merged aside by the cleaner, on the parent and each partition (0002)."""
    owner = await written.owner()
    try:
        rows = await owner.fetch(
            "SELECT i.indexrelid::regclass::text AS name, c.reloptions AS options"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_am am ON am.oid = c.relam"
            " WHERE am.amname = 'gin'"
            " AND i.indrelid IN (SELECT 'audit_events'::regclass UNION ALL"
            " SELECT inhrelid FROM pg_inherits WHERE inhparent = 'audit_events'::regclass)"
        )
    finally:
        await owner.close()
    # Two on the parent, two on each partition the writer made (this month and the next).
    assert len(rows) >= 6
    assert {row["name"] for row in rows} >= {
        "ix_audit_events_household_ids",
        "ix_audit_events_person_buckets",
    }
    expected = ["fastupdate=on", "gin_pending_list_limit=32768"]
    assert all(row["options"] == expected for row in rows), rows
