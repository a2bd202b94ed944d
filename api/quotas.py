"""Per-client quotas from the policy: requests per minute, rows disclosed per day, and
CPU seconds per day of ``householdStats`` disclosure control (``schema.protection``).

Counting is in memory per worker; every second a background task adds this
worker's counts to the shared counters in PostgreSQL and reads back every
worker's totals. A request is refused (RATE_LIMITED, with ``Retry-After``)
when the shared total plus this worker's unsynced count has reached the
quota. The shared view is at most a second old, so several workers together
can overshoot a quota by what they admit in that second; a request can
overshoot ``rows_per_day`` by the rows of its own page (and concurrent
requests of one client by theirs, since rows are counted once they are
disclosed). Days are days in WIB (UTC+7), where the agencies work.

The statistics budget is charged after each uncached protection with the CPU
time it took; ``admit_statistics`` refuses a new one once the day's budget is
spent (cached statistics cost nothing and are still served). Like the rows, a
client can overshoot it by the protections it has running.

Within a worker, ``admit`` checks and counts without awaiting, so concurrent
requests cannot both take the last unit. Counts being written by a sync stay
counted (``_inflight``) until the shared totals that include them are read
back; a sync that fails is rolled back as a whole and its counts are kept for
the next one, so no count is lost and none is added twice.

Why PostgreSQL and not Redis: the gateway already depends on it, the counters
sit beside the audit trail they summarise, and a sync per second per worker
is far below what it absorbs; one moving part fewer to run in every kabupaten.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from db import quota_store
from db.quota_store import REQUESTS_PER_MINUTE, ROWS_PER_DAY, STATISTICS_MS_PER_DAY
from db.wib import WIB
from errors import RateLimited
from policies import Program

log = logging.getLogger("regsosek.quotas")
Key = tuple[str, str, datetime]


def minute_window(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def day_window(now: datetime) -> datetime:
    local = now.astimezone(WIB)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


@dataclass
class QuotaKeeper:
    pool: asyncpg.Pool
    sync_seconds: float = 1.0
    _pending: dict[Key, int] = field(default_factory=lambda: defaultdict(int))
    _inflight: dict[Key, int] = field(default_factory=lambda: defaultdict(int))
    _shared: dict[Key, int] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="quota-sync")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self.sync()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            log.warning("quota counters not saved at shutdown")

    def _used(self, key: Key) -> int:
        return self._shared.get(key, 0) + self._inflight.get(key, 0) + self._pending.get(key, 0)

    def admit(self, program: Program, *, client_id: str, now: datetime | None = None) -> None:
        """Count one request, or refuse it when a quota of the client is used up."""
        now = now or datetime.now(UTC)
        minute = (REQUESTS_PER_MINUTE, client_id, minute_window(now))
        day = (ROWS_PER_DAY, client_id, day_window(now))
        if self._used(minute) >= program.quota.requests_per_minute:
            wait = 60 - now.second
            raise RateLimited(
                f"Your client may send {program.quota.requests_per_minute} requests a minute.",
                retry_after=wait,
            )
        if self._used(day) >= program.quota.rows_per_day:
            wait = int((day[2] + timedelta(days=1) - now).total_seconds()) + 1
            raise RateLimited(
                f"Your client may receive {program.quota.rows_per_day} rows a day (WIB).",
                retry_after=wait,
            )
        self._pending[minute] += 1

    def admit_statistics(
        self, program: Program, *, client_id: str, now: datetime | None = None
    ) -> None:
        """Refuse a new statistics protection once the client's CPU budget of the day is spent."""
        now = now or datetime.now(UTC)
        day = (STATISTICS_MS_PER_DAY, client_id, day_window(now))
        budget = program.quota.statistics_seconds_per_day
        if self._used(day) >= budget * 1000:
            wait = int((day[2] + timedelta(days=1) - now).total_seconds()) + 1
            raise RateLimited(
                f"Your client may use {budget} CPU seconds a day (WIB) computing new statistics;"
                " statistics already computed are still served.",
                retry_after=wait,
            )

    def charge_statistics(
        self, *, client_id: str, seconds: float, now: datetime | None = None
    ) -> None:
        """Count the CPU one protection took against the client's statistics budget."""
        day = (STATISTICS_MS_PER_DAY, client_id, day_window(now or datetime.now(UTC)))
        self._pending[day] += max(1, round(seconds * 1000))

    def disclosed(self, *, client_id: str, rows: int, now: datetime | None = None) -> None:
        if rows:
            self._pending[(ROWS_PER_DAY, client_id, day_window(now or datetime.now(UTC)))] += rows

    async def sync(self) -> None:
        """Add this worker's counts to the shared ones; read every worker's totals back."""
        now = datetime.now(UTC)
        pending, self._pending = self._pending, defaultdict(int)
        # Still counted by ``admit`` while the database adds them to the shared totals.
        for key, count in pending.items():
            self._inflight[key] += count
        deltas = [
            (scope, key, start, count) for (scope, key, start), count in pending.items() if count
        ]
        windows = [
            (REQUESTS_PER_MINUTE, minute_window(now)),
            (ROWS_PER_DAY, day_window(now)),
            (STATISTICS_MS_PER_DAY, day_window(now)),
        ]
        try:
            rows = await quota_store.add_and_read(self.pool, deltas=deltas, windows=windows)
        except BaseException:
            for key, count in pending.items():
                self._pending[key] += count
            raise
        finally:
            for key, count in pending.items():
                self._inflight[key] -= count
                if not self._inflight[key]:
                    del self._inflight[key]
        current = {start for _, start in windows}
        self._shared = {(s, k, w): c for s, k, w, c in rows if w in current}

    async def _run(self) -> None:
        cleaned = datetime.now(UTC)
        while True:
            await asyncio.sleep(self.sync_seconds)
            try:
                await self.sync()
                if datetime.now(UTC) - cleaned > timedelta(hours=1):
                    cleaned = datetime.now(UTC)
                    await quota_store.forget_before(
                        self.pool,
                        scopes=(REQUESTS_PER_MINUTE, ROWS_PER_DAY, STATISTICS_MS_PER_DAY),
                        before=day_window(cleaned) - timedelta(days=2),
                    )
            except Exception as error:
                # Whatever failed, the task must live on: quotas are counted locally meanwhile.
                log.warning(
                    "quota counters could not be synchronised (%s); retrying",
                    type(error).__name__,
                )
