"""Merging the audit id indexes' pending lists outside the chain steps.

The GIN indexes on ``audit_events.household_ids`` and ``person_ids`` take new
entries into a pending list; left alone, the list is merged by whichever
insert finds it full, which is the audit writer in the middle of a chain step
(migration 0002 has the measurements). ``PendingListCleaner`` calls
``regsosek_audit_clean_pending()`` every ``every`` seconds on a connection of
its own, so the merge happens beside the chain steps: while it runs, inserts
skip theirs.

The cleaner is housekeeping, not part of the fail-closed path: if it cannot
run (database down, function missing), it logs and tries again later, and
inserts merge the list themselves as they would without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

import asyncpg

from audit.sql.chain import Connect, close_quietly

log = logging.getLogger("regsosek.audit")

CLEAN_SQL: Final = "SELECT regsosek_audit_clean_pending()"
STATEMENT_TIMEOUT: Final = "120s"
"""A merge of a full 32 MB list takes seconds; the request timeout would cut it short."""


class PendingListCleaner:
    """Merges the audit indexes' pending lists every ``every`` seconds."""

    def __init__(self, *, connect: Connect, every: float = 1.0) -> None:
        self._connect = connect
        self._every = every
        self._connection: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.runs = 0
        """Successful calls (for tests and metrics)."""
        self.merged_pages = 0
        """Pending-list pages merged by this process."""

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the cleaner is already started")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-gin-clean")

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._drop()

    async def clean_once(self) -> int:
        """One merge; the pages merged (0 when another process is merging)."""
        if self._connection is None or self._connection.is_closed():
            self._connection = await self._connect()
            await self._connection.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'")
        merged = int(await self._connection.fetchval(CLEAN_SQL) or 0)
        self.runs += 1
        self.merged_pages += merged
        return merged

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.clean_once()
            except Exception as error:  # housekeeping: never let the loop die
                log.warning("audit index merge failed: %s: %s", type(error).__name__, error)
                await self._drop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._every)

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        await close_quietly(connection)
