"""The audit id indexes' pending lists are merged aside, by the gateway's own role, one process
at a time, and the indexes still find every event afterwards."""

from __future__ import annotations

import asyncio

import asyncpg

from audit.maintenance import PendingListCleaner
from audit.sql.chain import connector
from audit.sql.lookups import persons_named
from tests.audit.support import ChainDatabase, sample_event

CLEAN_LOCK_SQL = (
    "SELECT pg_advisory_xact_lock(('x' || left(encode(sha256('regsosek.audit.gin-clean'),"
    " 'hex'), 16))::bit(64)::bigint)"
)


async def write_wide_events(chain_db: ChainDatabase, count: int) -> None:
    """``count`` events of 50 households and 150 persons each (plenty of index entries)."""
    writer = chain_db.writer()
    await writer.start()
    try:
        for index in range(count):
            first = index * 50
            await writer.record(
                sample_event(
                    index,
                    household_ids=list(range(first, first + 50)),
                    person_ids=list(range(first * 3, first * 3 + 150)),
                )
            )
    finally:
        await writer.close()


CONDITIONS = {
    "household_ids": "household_ids @> ARRAY[$1::bigint]",
    "person_ids": persons_named("audit_events", "ARRAY[$1::bigint]"),
}


async def events_with(chain_db: ChainDatabase, column: str, value: int) -> int:
    """Events whose ``column`` holds ``value``, found through its GIN index."""
    query = f"SELECT count(*) FROM audit_events WHERE {CONDITIONS[column]}"
    owner = await chain_db.owner()
    try:
        async with owner.transaction():
            await owner.execute("SET LOCAL enable_seqscan = off")
            plan = "\n".join(row[0] for row in await owner.fetch(f"EXPLAIN {query}", value))
            index = "household_ids_idx" if column == "household_ids" else "id_buckets_idx"
            assert "Bitmap Index Scan" in plan
            assert index in plan, plan
            return int(await owner.fetchval(query, value))
    finally:
        await owner.close()


async def test_the_gateway_role_merges_the_pending_lists(chain_db: ChainDatabase) -> None:
    await write_wide_events(chain_db, 40)
    cleaner = PendingListCleaner(connect=connector(chain_db.app_url))
    try:
        assert await cleaner.clean_once() > 0
        assert await cleaner.clean_once() == 0  # nothing left to merge
    finally:
        await cleaner.close()
    assert cleaner.runs == 2
    # The merged index still finds every event: household 1,234 is in event 24,
    # person 4,000 in event 26 (persons first*3 .. first*3 + 149, first = 50 * index).
    assert await events_with(chain_db, "household_ids", 1_234) == 1
    assert await events_with(chain_db, "person_ids", 4_000) == 1
    assert await events_with(chain_db, "household_ids", 99_999) == 0
    assert (await chain_db.verify()).ok


async def test_one_process_merges_at_a_time(chain_db: ChainDatabase) -> None:
    await write_wide_events(chain_db, 10)
    other = await chain_db.owner()
    cleaner = PendingListCleaner(connect=connector(chain_db.app_url))
    try:
        async with other.transaction():
            await other.execute(CLEAN_LOCK_SQL)  # another process is merging
            assert await cleaner.clean_once() == 0
        assert await cleaner.clean_once() > 0
    finally:
        await cleaner.close()
        await other.close()


async def test_the_cleaner_runs_beside_the_writer_and_survives_failures(
    chain_db: ChainDatabase,
) -> None:
    attempts = 0
    connect = connector(chain_db.app_url)

    async def flaky_connect() -> asyncpg.Connection:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise OSError("connection refused")  # the database is down at first
        return await connect()

    cleaner = PendingListCleaner(connect=flaky_connect, every=0.05)
    cleaner.start()
    try:
        await write_wide_events(chain_db, 20)
        for _ in range(100):
            if cleaner.merged_pages > 0:
                break
            await asyncio.sleep(0.05)
    finally:
        await cleaner.close()
    assert attempts >= 2
    assert cleaner.merged_pages > 0
    assert await events_with(chain_db, "household_ids", 999) == 1
