"""``regsosek_audit_append`` (migration 0011): the chain step inside PostgreSQL hashes exactly
as ``audit.chain`` does, keeps times in order, refuses an unsigned month's successor, and
its migration comes and goes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest
from alembic import command

from audit.chain import STORED_COLUMNS, contents_hash
from audit.events import event_row
from audit.sql import chain as chain_sql
from audit.writer import append_batch
from db import migrate
from tests.audit.support import ChainDatabase, sample_event

SEPTEMBER_END = datetime(2026, 9, 30, 23, 59, 59, 999_999, tzinfo=UTC)

ODD_EVENTS = [
    sample_event(1),
    sample_event(
        2,
        operation_name="Ünïcödé \\ \" ' \t\n {a,b} 🙂",
        field_paths=['a."b"', "c\\d", "e,f", "{g}", "NULL", ""],
        household_ids=[],
        person_ids=[],
        agency=None,
        document_hash=None,
    ),
    sample_event(
        3,
        purpose_code="PKH-VERIF",
        case_ref='case "7" \\ ß',
        trace_id="AB" * 16,
        sealed_until=date(2027, 1, 31),
        household_ids=[2**62, 1, 5, 5],
    ),
    sample_event(4, sealed_until=date(2026, 10, 1), row_count=0, error_code="FORBIDDEN"),
]


async def append(connection: asyncpg.Connection, times: list[datetime], start: int = 0) -> int:
    rows = [
        event_row(event, seq=0, occurred_at=at)
        for event, at in zip(ODD_EVENTS[start:], times, strict=False)
    ]
    appended = await chain_sql.append_events(connection, append_batch(rows))
    return appended.first_seq


async def test_stored_hashes_verify_with_the_audit_verifier(chain_db: ChainDatabase) -> None:
    connection = await asyncpg.connect(chain_db.app_url)
    try:
        base = datetime.now(UTC)
        await chain_sql.ensure_partition(connection, base)
        # The third event's time lies before the second's: it is stored with the second's.
        times = [base, base + timedelta(microseconds=7), base, base + timedelta(seconds=1)]
        assert await append(connection, times) == 1
        row = await connection.fetchrow(
            "SELECT first_seq, head_seq FROM regsosek_audit_append("
            + ", ".join(["$1"] + ["'{}'"] * 25)
            + ")",
            chain_sql.CHAIN_LOCK,
        )
        assert tuple(row) == (5, 4), "an empty batch writes nothing and reports the head"
    finally:
        await connection.close()
    stored = await chain_db.fetch(
        f"SELECT {', '.join(STORED_COLUMNS)} FROM audit_events ORDER BY seq"
    )
    assert [row["seq"] for row in stored] == [1, 2, 3, 4]
    assert [row["occurred_at"] for row in stored] == [times[0], times[1], times[1], times[3]]
    assert all(contents_hash(row) == row["hash"] for row in stored)
    assert stored[1]["field_paths"] == sorted(['a."b"', "c\\d", "e,f", "{g}", "NULL", ""])
    assert stored[2]["household_ids"] == [1, 5, 2**62]
    assert stored[2]["trace_id"] == "ab" * 16
    report = await chain_db.verify()
    assert report.ok, report.damage
    assert (report.events_valid, report.head_seq) == (4, 4)


async def test_a_new_month_after_an_unsigned_one_is_refused_and_nothing_written(
    chain_db: ChainDatabase,
) -> None:
    connection = await asyncpg.connect(chain_db.app_url)
    try:
        for month in (SEPTEMBER_END, SEPTEMBER_END + timedelta(days=1)):
            await chain_sql.ensure_partition(connection, month)
        await append(connection, [SEPTEMBER_END])
        with pytest.raises(asyncpg.SerializationError):
            await append(connection, [SEPTEMBER_END + timedelta(microseconds=1)], start=1)
        assert await connection.fetchval("SELECT count(*) FROM audit_events") == 1
        # Still September, or signed first: accepted.
        await append(connection, [SEPTEMBER_END - timedelta(hours=1)], start=1)
        assert await connection.fetchval("SELECT max(occurred_at) FROM audit_events") == (
            SEPTEMBER_END
        )
    finally:
        await connection.close()


async def test_the_gateway_role_may_only_execute_it_through_its_grant(
    chain_db: ChainDatabase,
) -> None:
    rows = await chain_db.fetch(
        "SELECT has_function_privilege('regsosek_app', p.oid, 'EXECUTE') AS app,"
        " has_function_privilege('public', p.oid, 'EXECUTE') AS public,"
        " p.prosecdef FROM pg_proc AS p WHERE p.proname = 'regsosek_audit_append'"
    )
    assert [tuple(row) for row in rows] == [(True, False, False)]


async def test_migration_0011_downgrades_and_upgrades_again(
    new_database: Callable[[], Awaitable[str]],
) -> None:
    url = await new_database()
    functions = (
        "SELECT array_agg(proname::text ORDER BY proname) FROM pg_proc"
        " WHERE proname IN ('regsosek_audit_append', 'regsosek_audit_extends_head')"
    )

    async def present() -> list[str]:
        connection = await asyncpg.connect(url)
        try:
            names: list[str] = await connection.fetchval(functions)
            return names
        finally:
            await connection.close()

    both = ["regsosek_audit_append", "regsosek_audit_extends_head"]
    assert await present() == both
    config = migrate.alembic_config(url)
    await asyncio.to_thread(command.downgrade, config, "0010")
    assert await present() == ["regsosek_audit_extends_head"]
    await asyncio.to_thread(command.upgrade, config, "head")
    assert await present() == both
