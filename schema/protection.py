"""Where ``householdStats``' disclosure control runs, and who waits for it.

Protecting a new population (``schema.suppression.protect``) is pure-Python
CPU work: tenths of a second to seconds. A program that may filter its
statistics on something that is not a dimension (``hasMemberAgedUnder``,
``receivesProgram``) can ask for a new population with every request, so the
work must not hold up anyone else:

* It runs in a small pool of worker processes (``ProtectionPool``), at a
  lower CPU priority (``nice`` 10 below the gateway), never on a thread of the
  event loop's process: the gateway's requests and PostgreSQL go first on a
  busy machine. No lock is shared across programs, and the request's read
  transaction is closed before the protection starts (``schema.stats``).
* Each program has its own turn-taking (``Admission``): at most
  ``limits.concurrent_statistics`` of its protections at once in a worker
  process (1 by default); another waits up to ``QUEUE_SECONDS`` for a turn,
  then is RATE_LIMITED. A program cannot fill the pool for the others.
* Each protection's CPU time, measured in the worker, is charged to the
  client's ``quota.statistics_seconds_per_day`` (``StatisticsBudget``).
* ``Populations`` keeps each program's protected populations (one program's
  new populations never evict another's), and requests for a population that
  is being protected wait for that protection instead of starting their own.

The pool is a ``ProcessPoolExecutor`` over the *forkserver* start method: the
server process imports the application once and forks each worker from it,
so workers start in milliseconds and no fork happens in the threaded gateway
process itself; a task names ``schema.suppression.protect_measured``, a module
that imports nothing of the gateway. The pool is started on first use, in a
thread (starting it must not block the event loop), and started again after a
worker died.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Protocol

from errors import Internal, RateLimited
from policies import Program
from schema.documents import BoundedCache
from schema.suppression import Dimension, Protected, Protection, protect_measured
from schema.suppression_table import Key

if TYPE_CHECKING:
    from schema.execute import Caller

CACHED_POPULATIONS = 16
"""Protected populations kept per program (each a few hundred kilobytes at most)."""
QUEUE_SECONDS = 2.0
"""Longest a request waits for its program's turn before it is RATE_LIMITED."""
NICENESS = 10
"""How much lower the protection workers' CPU priority is than the gateway's."""


class Protector(Protocol):
    async def protect(
        self, counts: Mapping[Key, int], *, dimensions: Sequence[Dimension], k: int
    ) -> Protection: ...


class InlineProtector:
    """Protects in a thread of this process: for tools and tests, not for the gateway."""

    async def protect(
        self, counts: Mapping[Key, int], *, dimensions: Sequence[Dimension], k: int
    ) -> Protection:
        return await asyncio.to_thread(protect_measured, dict(counts), list(dimensions), k)


class ProtectionPool:
    """Worker processes for disclosure control, shared by every program of one gateway worker."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._executor: ProcessPoolExecutor | None = None
        self._starting: asyncio.Lock | None = None

    async def protect(
        self, counts: Mapping[Key, int], *, dimensions: Sequence[Dimension], k: int
    ) -> Protection:
        executor = await self._running()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                executor, protect_measured, dict(counts), list(dimensions), k
            )
        except BrokenProcessPool as error:
            if self._executor is executor:
                self._executor = None
            executor.shutdown(wait=False, cancel_futures=True)
            raise Internal("The statistics could not be computed.") from error

    async def _running(self) -> ProcessPoolExecutor:
        if self._executor is not None:
            return self._executor
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._executor is None:
                self._executor = await asyncio.to_thread(self._start)
            return self._executor

    def _start(self) -> ProcessPoolExecutor:
        method = (
            "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        )
        niceness = min(19, os.getpriority(os.PRIO_PROCESS, 0) + NICENESS)
        executor = ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context(method),
            initializer=os.setpriority,
            initargs=(os.PRIO_PROCESS, 0, niceness),
        )
        # Start every worker now, in this thread, rather than inside a request's submit;
        # set their priority from here too, so it holds before their first task.
        for future in [executor.submit(os.getpid) for _ in range(self.processes)]:
            future.result()
        for pid in _pids(executor):
            with contextlib.suppress(ProcessLookupError):
                os.setpriority(os.PRIO_PROCESS, pid, niceness)
        return executor

    async def workers(self) -> dict[int, int]:
        """The workers' process ids and CPU niceness (diagnostics; starts the pool)."""
        executor = await self._running()
        return {pid: os.getpriority(os.PRIO_PROCESS, pid) for pid in _pids(executor)}

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)


def _pids(executor: ProcessPoolExecutor) -> list[int]:
    """The executor's worker processes (``concurrent.futures`` keeps them by pid)."""
    processes: dict[int, object] = getattr(executor, "_processes", None) or {}
    return list(processes)


class Admission:
    """Each program's turns at protecting: ``concurrent_statistics`` at once, in this process."""

    def __init__(self, *, queue_seconds: float = QUEUE_SECONDS) -> None:
        self.queue_seconds = queue_seconds
        self._turns: dict[str, tuple[int, asyncio.Semaphore]] = {}

    @asynccontextmanager
    async def turn(self, program: Program) -> AsyncIterator[None]:
        """Hold one of the program's turns; RATE_LIMITED after ``queue_seconds`` of waiting."""
        limit = program.concurrent_statistics
        entry = self._turns.get(program.name)
        if entry is None or entry[0] != limit:
            entry = self._turns[program.name] = (limit, asyncio.Semaphore(limit))
        semaphore = entry[1]
        try:
            async with asyncio.timeout(self.queue_seconds):
                await semaphore.acquire()
        except TimeoutError:
            raise RateLimited(
                f"Your program may compute {limit} new statistics table(s) at a time;"
                " try again shortly.",
                retry_after=round(self.queue_seconds),
            ) from None
        try:
            yield
        finally:
            semaphore.release()


class StatisticsBudget(Protocol):
    """The clients' CPU budgets for new statistics (``api.quotas.QuotaKeeper``)."""

    def admit_statistics(self, program: Program, *, client_id: str) -> None: ...

    def charge_statistics(self, *, client_id: str, seconds: float) -> None: ...


class Unmetered:
    """No budget: tools and tests that use the root without the gateway's quotas."""

    def admit_statistics(self, program: Program, *, client_id: str) -> None:
        return None

    def charge_statistics(self, *, client_id: str, seconds: float) -> None:
        return None


class Populations:
    """Each program's protected populations: the cache, the turns, the budget, the work."""

    def __init__(
        self,
        *,
        protector: Protector,
        budget: StatisticsBudget,
        admission: Admission,
        cached: int = CACHED_POPULATIONS,
    ) -> None:
        self.protector = protector
        self.budget = budget
        self.admission = admission
        self.cached = cached
        self._kept: dict[str, BoundedCache[bytes, Protected]] = {}
        self._underway: dict[tuple[str, bytes], asyncio.Future[Protected]] = {}

    def find(self, program: str, key: bytes) -> Protected | None:
        """The population ``key`` as the program's cache keeps it, if it does."""
        kept = self._kept.get(program)
        return None if kept is None else kept.get(key)

    def keep(self, program: str, key: bytes, protected: Protected) -> None:
        """Keep ``protected`` (computed elsewhere: ``schema.stats_store``) as population ``key``."""
        kept = self._kept.get(program)
        if kept is None:
            kept = self._kept[program] = BoundedCache(self.cached)
        kept.put(key, protected)

    async def protected(
        self,
        counts: Mapping[Key, int],
        *,
        caller: Caller,
        dimensions: Sequence[Dimension],
        k: int,
        key: bytes,
    ) -> Protected:
        """The population ``key`` (of ``counts``) protected for the caller's program."""
        program = caller.program
        kept = self._kept.get(program.name)
        if kept is None:
            kept = self._kept[program.name] = BoundedCache(self.cached)
        found = kept.get(key)
        if found is not None:
            return found
        slot = (program.name, key)
        underway = self._underway.get(slot)
        if underway is not None:
            return await asyncio.shield(underway)
        underway = self._underway[slot] = asyncio.get_running_loop().create_future()
        try:
            async with self.admission.turn(program):
                self.budget.admit_statistics(program, client_id=caller.client_id)
                outcome = await self.protector.protect(counts, dimensions=dimensions, k=k)
                self.budget.charge_statistics(
                    client_id=caller.client_id, seconds=outcome.cpu_seconds
                )
            protected = kept.put(key, outcome.protected)
            underway.set_result(protected)
            return protected
        except BaseException as error:
            # Whoever waits for this population gets the same answer (or, if this request
            # went away, a refusal to try again).
            failure = (
                error
                if isinstance(error, Exception)
                else RateLimited("The statistics were not computed; try again.", retry_after=1)
            )
            underway.set_exception(failure)
            underway.exception()  # retrieved: followers may be none
            raise
        finally:
            del self._underway[slot]
