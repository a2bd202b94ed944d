"""SQL of the per-client quotas: fixed-window counters in ``rate_counters``.

Each worker adds what it counted since its last sync and reads back the
total of every worker in one statement, so the counters hold across
processes without a round trip per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

REQUESTS_PER_MINUTE = "requests_per_minute"
ROWS_PER_DAY = "rows_per_day"
STATISTICS_MS_PER_DAY = "statistics_ms_per_day"
"""CPU milliseconds of ``householdStats`` disclosure control a client caused in a day."""

_ADD = """
INSERT INTO rate_counters AS c (scope, key, window_start, count)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[])
ON CONFLICT (scope, key, window_start) DO UPDATE SET count = c.count + excluded.count
"""
_READ = """
SELECT scope, key, window_start, count FROM rate_counters
WHERE (scope, window_start) IN (SELECT * FROM unnest($1::text[], $2::timestamptz[]))
"""


async def add_and_read(
    pool: asyncpg.Pool,
    *,
    deltas: Sequence[tuple[str, str, datetime, int]],
    windows: Sequence[tuple[str, datetime]],
) -> list[tuple[str, str, datetime, int]]:
    """Add ``deltas`` (scope, key, window, count), then return every counter of ``windows``.

    One transaction: if anything fails, nothing was added, so the caller may
    safely count the deltas again in its next call.
    """
    async with pool.acquire() as connection, connection.transaction():
        if deltas:
            await connection.execute(_ADD, *(list(column) for column in zip(*deltas, strict=True)))
        rows = await connection.fetch(
            _READ, [scope for scope, _ in windows], [start for _, start in windows]
        )
    return [(row["scope"], row["key"], row["window_start"], row["count"]) for row in rows]


async def forget_before(pool: asyncpg.Pool, *, scopes: Sequence[str], before: datetime) -> None:
    await pool.execute(
        "DELETE FROM rate_counters WHERE scope = ANY($1::text[]) AND window_start < $2",
        list(scopes),
        before,
    )
