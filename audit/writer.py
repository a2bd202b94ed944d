"""The audit writer: group commit of events onto the one hash chain, fail closed.

``record(event)`` queues the event and waits until it is committed. One
flusher task per process takes everything queued and appends it as one
*chain step*: a
transaction that takes the chain's advisory lock, reads the head, hashes the
batch onto it, copies it in, adds a signed checkpoint when one is due, and
commits with ``synchronous_commit = on``. Only then are the waiters told their
``seq``. Because every step reads the head under the lock, any number of
processes extend one gapless, unforked chain.

A step is one round trip when this writer made the previous one: the batch is
hashed onto the head it remembers, and the insert's first row takes the lock
and checks (``regsosek_audit_extends_head``) that this is still the head
before anything is written; the whole batch commits at the round trip's end.
If another process moved the head, nothing is written and the step takes the
locked path (lock, read head, insert, checkpoint, commit), as it always does
when a checkpoint is due.

A lone event is flushed at once. Once a step has carried several events (so
requests are concurrent), the next step waits up to ``flush_ms`` for as many
events as the last one carried, which saves commits without delaying a quiet
gateway or a queue that has already filled up.

If a step fails (database down, permission, missing partition, signing), every
event of the batch fails with ``Unavailable`` and nothing of it is committed;
the caller must then send no data. The next step starts on a new connection.

The writer keeps its own connection (as ``regsosek_app``) rather than borrowing
from the request pool: a request may hold a pool connection while it waits for
its audit event, so an audit commit queued behind the pool could deadlock it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

import asyncpg

from audit.chain import GENESIS_HASH, HASHED_COLUMNS, STORED_COLUMNS, chain_hash
from audit.events import AuditEvent, event_row
from audit.signing import CheckpointSigner, checkpoint_payload
from audit.sql import chain as chain_sql
from audit.sql.chain import Connect, close_quietly
from errors import Unavailable

log = logging.getLogger("regsosek.audit")

MAX_BATCH: Final = 2_000
"""Most events in one chain step; more wait for the next step."""

UNAVAILABLE_MESSAGE: Final = "The audit trail cannot be written; nothing was disclosed."

_SEQ: Final = STORED_COLUMNS.index("seq")
_ID_LISTS: Final = tuple(HASHED_COLUMNS.index(name) for name in ("household_ids", "person_ids"))
"""Where the id lists are among the stored values (they travel as array literals)."""


def utc_now() -> datetime:
    """The writer's default clock (tests pass their own to cross month boundaries)."""
    return datetime.now(UTC)


class WriterObserver(Protocol):
    """What the gateway learns from the writer (``api.observability.audit`` measures it)."""

    def recorded(self, event: AuditEvent, *, seq: int | None, seconds: float) -> None:
        """``record(event)`` returned ``seq`` after ``seconds`` (``seq`` None: it failed)."""

    def stepped(self, *, events: int, seconds: float | None) -> None:
        """A chain step carried ``events`` in ``seconds`` (None: it failed, nothing written)."""


@dataclass(slots=True)
class _Pending:
    event: AuditEvent
    at: datetime
    queued: float
    future: asyncio.Future[int]


class AuditWriter:
    """Appends audit events to the chain; ``record`` returns only once the event is committed."""

    def __init__(
        self,
        *,
        connect: Connect,
        signer: CheckpointSigner,
        checkpoint_every: int = 1_000,
        checkpoint_seconds: float = 300.0,
        flush_ms: float = 0.5,
        clock: Callable[[], datetime] = utc_now,
        observer: WriterObserver | None = None,
    ) -> None:
        self._connect = connect
        self._observer = observer
        self._signer = signer
        self._checkpoint_every = checkpoint_every
        self._checkpoint_interval = timedelta(seconds=checkpoint_seconds)
        self._flush_delay = flush_ms / 1000
        self._clock = clock
        self._gather = 0
        """How many events the flusher waits for (0: none); the size of the last batch."""
        self._queue: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._connection: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._months: set[tuple[int, int]] = set()
        self._head: chain_sql.ChainHead | None = None
        """The head as this writer last committed it (a guess: others may have moved it)."""
        self._fast_after = 0
        self._fast_backoff = 1
        self._checkpoint_due = 0.0
        self.steps = 0
        """Chain steps committed by this writer (for tests and metrics)."""
        self.fast_misses = 0
        """One-round-trip steps refused because another writer had moved the head."""

    async def start(self) -> None:
        """Connect and take one (possibly empty) chain step: partitions, a due checkpoint.

        Raises ``Unavailable`` when that first step fails, so a gateway that
        cannot audit does not start serving.
        """
        if self._task is not None:
            raise RuntimeError("the audit writer is already started")
        await self._step([])
        self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-writer")

    async def close(self) -> None:
        """Commit every event already queued, sign the head, then stop.

        ``record`` calls made after ``close`` began fail with ``Unavailable``.
        """
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            task, self._task = self._task, None
            await task
            with contextlib.suppress(Unavailable):
                await self._step([], seal=True)
        for pending in self._queue:
            _fail(pending.future)
        self._queue.clear()
        await self._drop_connection()

    async def record(self, event: AuditEvent) -> int:
        """Append ``event`` and return its ``seq`` once committed, or raise ``Unavailable``."""
        observer = self._observer
        if observer is None:
            return await self._record(event)
        started = time.perf_counter()
        try:
            seq = await self._record(event)
        except BaseException:
            observer.recorded(event, seq=None, seconds=time.perf_counter() - started)
            raise
        observer.recorded(event, seq=seq, seconds=time.perf_counter() - started)
        return seq

    async def _record(self, event: AuditEvent) -> int:
        return await self.enqueue(event)

    def enqueue(self, event: AuditEvent) -> asyncio.Future[int]:
        """Queue ``event`` and return the future of its ``seq`` (what ``record`` awaits),
        unobserved; called on the writer's own loop (``audit.threaded`` waits on another).
        Raises ``Unavailable`` when the writer is not running."""
        if self._closing or self._task is None or self._task.done():
            raise Unavailable(UNAVAILABLE_MESSAGE)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._queue.append(_Pending(event, self._clock(), loop.time(), future))
        queued = len(self._queue)
        if (queued == 1 or queued >= self._gather) and not self._wakeup.is_set():
            self._wakeup.set()
        return future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue or not self._closing:
            if not self._queue:
                await self._wait(until=self._checkpoint_due)
                if not self._queue and loop.time() < self._checkpoint_due:
                    continue
            if self._queue and len(self._queue) < self._gather and not self._closing:
                await self._wait(until=self._queue[0].queued + self._flush_delay)
            batch = self._queue[:MAX_BATCH]
            del self._queue[:MAX_BATCH]
            if self._flush_delay > 0 and len(batch) > 1:
                self._gather = min(len(batch), MAX_BATCH)
            else:
                self._gather = 0
            try:
                seqs = await self._step(batch)
            except Unavailable:
                for pending in batch:
                    _fail(pending.future)
                continue
            except BaseException:
                for pending in batch:
                    _fail(pending.future)
                raise
            for pending, seq in zip(batch, seqs, strict=True):
                if not pending.future.done():
                    pending.future.set_result(seq)

    async def _wait(self, *, until: float) -> None:
        """Sleep until the loop time ``until`` or until ``record`` or ``close`` wakes us."""
        self._wakeup.clear()
        timeout = until - asyncio.get_running_loop().time()
        if timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    async def _step(self, batch: list[_Pending], *, seal: bool = False) -> list[int]:
        """One chain step; returns the events' ``seq``. Any failure becomes ``Unavailable``.

        After a failure the connection is dropped (the next step opens a new
        one) and the partitions are checked again.
        """
        started = time.perf_counter()
        try:
            seqs = await self._try_step(batch, seal=seal)
        except Unavailable:
            if self._observer is not None:
                self._observer.stepped(events=len(batch), seconds=None)
            raise
        if self._observer is not None:
            self._observer.stepped(events=len(batch), seconds=time.perf_counter() - started)
        return seqs

    async def _try_step(self, batch: list[_Pending], *, seal: bool) -> list[int]:
        try:
            connection = await self._connection_or_connect()
            try:
                return await self._append(connection, batch, seal=seal)
            except BaseException:
                await self._drop_connection()
                raise
        except Exception as error:
            self._months.clear()
            self._head = None
            # Retry a due checkpoint soon, but do not spin while the database is down.
            self._checkpoint_due = asyncio.get_running_loop().time() + 1.0
            if isinstance(error, asyncpg.PostgresError | OSError | TimeoutError):
                log.error("audit chain step failed: %s: %s", type(error).__name__, error)
            else:
                log.exception("audit chain step failed")
            raise Unavailable(UNAVAILABLE_MESSAGE) from error

    async def _append(
        self, connection: asyncpg.Connection, batch: list[_Pending], *, seal: bool
    ) -> list[int]:
        now = self._clock()
        await self._ensure_partitions(connection, batch, now=now)
        cached = self._head
        if (
            cached is not None
            and batch
            and not seal
            and self.steps >= self._fast_after
            and not _new_month(cached, batch)
        ):
            # Fast path: hash onto the head this writer last saw and let the insert's
            # first row check, under the lock, that it is still the head.
            rows, tip = _hash_batch(batch, cached)
            if not self._checkpoint_is_due(cached, seq=tip.seq, now=now, seal=False):
                try:
                    await chain_sql.insert_events(
                        connection,
                        rows,
                        columns=STORED_COLUMNS,
                        extends=(cached.seq, cached.hash or GENESIS_HASH),
                    )
                except asyncpg.SerializationError:
                    # Another process extended the chain: take the locked path, and
                    # try this one less often while the others stay busy.
                    self.fast_misses += 1
                    self._fast_backoff = min(self._fast_backoff * 2, 64)
                    self._fast_after = self.steps + self._fast_backoff
                else:
                    self._fast_backoff = 1
                    self._head = dataclasses.replace(
                        cached, seq=tip.seq, hash=tip.hash, occurred_at=tip.occurred_at
                    )
                    self.steps += 1
                    return [row[_SEQ] for row in rows]
        head = await chain_sql.begin_chain_step(connection)
        if head.checkpoint_seq != head.seq and _new_month(head, batch):
            # Sign the last event of each month, so that once old months are
            # archived the chain still starts from a signed head.
            assert head.occurred_at is not None
            head = await self._checkpoint(connection, head, created_at=max(now, head.occurred_at))
        rows, tip = _hash_batch(batch, head)
        if rows:
            await chain_sql.insert_events(connection, rows, columns=STORED_COLUMNS)
        created_at = max(now, tip.occurred_at) if tip.occurred_at is not None else now
        if self._checkpoint_is_due(head, seq=tip.seq, now=created_at, seal=seal):
            tip = await self._checkpoint(connection, tip, created_at=created_at)
        await chain_sql.commit(connection)
        self._head = tip
        self.steps += 1
        assert tip.checkpoint_at is not None
        wait = (tip.checkpoint_at + self._checkpoint_interval - self._clock()).total_seconds()
        self._checkpoint_due = asyncio.get_running_loop().time() + max(wait, 0.0)
        return [row[_SEQ] for row in rows]

    async def _ensure_partitions(
        self, connection: asyncpg.Connection, batch: list[_Pending], *, now: datetime
    ) -> None:
        """Create the partitions of the batch's months, now's, and the next (cached once seen)."""
        moments = [now, batch[0].at, batch[-1].at] if batch else [now]
        wanted = set()
        for moment in moments:
            wanted.add((moment.year, moment.month))
            following = moment.replace(day=28) + timedelta(days=4)
            wanted.add((following.year, following.month))
        for year, month in sorted(wanted - self._months):
            await chain_sql.ensure_partition(connection, datetime(year, month, 1, tzinfo=UTC))
            self._months.add((year, month))

    async def _checkpoint(
        self, connection: asyncpg.Connection, head: chain_sql.ChainHead, *, created_at: datetime
    ) -> chain_sql.ChainHead:
        """Sign and store a checkpoint of ``head``; ``head`` with that checkpoint as its last."""
        head_hash = head.hash or GENESIS_HASH
        payload = checkpoint_payload(
            seq=head.seq, head_hash=head_hash, event_count=head.seq, created_at=created_at
        )
        signature = self._signer.sign(payload)
        await chain_sql.insert_checkpoint(
            connection,
            seq=head.seq,
            head_hash=head_hash,
            event_count=head.seq,
            created_at=created_at,
            kid=signature.kid,
            signature=signature.jws,
        )
        return dataclasses.replace(head, checkpoint_seq=head.seq, checkpoint_at=created_at)

    def _checkpoint_is_due(
        self, head: chain_sql.ChainHead, *, seq: int, now: datetime, seal: bool
    ) -> bool:
        """Due after ``checkpoint_every`` events or ``checkpoint_seconds``, by the chain's record,
        or (``seal``, when closing) whenever the head has moved since the last one.

        Decided from the last checkpoint in the database (read under the lock),
        so several processes do not each write their own.
        """
        if head.checkpoint_seq is None or head.checkpoint_at is None:
            return True
        if seal and seq > head.checkpoint_seq:
            return True
        if seq - head.checkpoint_seq >= self._checkpoint_every:
            return True
        return now - head.checkpoint_at >= self._checkpoint_interval

    async def _connection_or_connect(self) -> asyncpg.Connection:
        if self._connection is None or self._connection.is_closed():
            self._connection = await self._connect()
        return self._connection

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        await close_quietly(connection)


def _new_month(head: chain_sql.ChainHead, batch: list[_Pending]) -> bool:
    """Whether the batch's first event falls in a later month than the head."""
    if head.occurred_at is None or not batch:
        return False
    first = max(batch[0].at, head.occurred_at)
    return (first.year, first.month) != (head.occurred_at.year, head.occurred_at.month)


def _hash_batch(
    batch: list[_Pending], head: chain_sql.ChainHead
) -> tuple[list[tuple[Any, ...]], chain_sql.ChainHead]:
    """The batch's rows (``STORED_COLUMNS``, id lists as literals) chained onto ``head``,
    and the new head."""
    seq = head.seq
    prev_hash = head.hash or GENESIS_HASH
    last_at = head.occurred_at
    rows: list[tuple[Any, ...]] = []
    id_array = chain_sql.id_array
    for pending in batch:
        seq += 1
        # Times never go backwards along the chain, whichever process wrote the step.
        at = pending.at
        if last_at is not None and at < last_at:
            at = last_at
        last_at = at
        row = event_row(pending.event, seq=seq, occurred_at=at)
        digest = chain_hash(prev_hash, row)
        stored = [*row, prev_hash, digest]
        for index in _ID_LISTS:
            stored[index] = id_array(stored[index])
        rows.append(tuple(stored))
        prev_hash = digest
    tip = dataclasses.replace(head, seq=seq, hash=prev_hash, occurred_at=last_at)
    return rows, tip


def _fail(future: asyncio.Future[int]) -> None:
    if not future.done():
        future.set_exception(Unavailable(UNAVAILABLE_MESSAGE))
