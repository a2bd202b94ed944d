"""The audit writer: group commit of events onto the one hash chain, fail closed.

``record(event)`` queues the event and waits until it is committed. One
flusher task per process takes everything queued and appends it as one
*chain step*. Only once the step has committed (``synchronous_commit = on``)
are the waiters told their ``seq``. Because every step reads the head under
the chain's advisory lock, any number of processes extend one gapless,
unforked chain.

A step is one round trip, whichever process wrote the previous one: the
database function ``regsosek_audit_append`` (migration 0011) takes the lock,
reads the head, numbers the batch, keeps its times from running backwards,
hashes each event from the canonical pieces the writer sends
(``audit.chain.canonical_pieces``), inserts the batch and commits, so the
lock is never held while the database waits for the gateway. Checkpoints are
signed here, in Python, so a step that must write one (the first, the last on
close, every ``checkpoint_every`` events or ``checkpoint_seconds``, and the
last event of a month before the next month's first) is a *locked step*: one
transaction holding the lock across its round trips (lock, read head, sign the
old month's end, append, sign, commit). The writer foresees a count checkpoint
from the head it last saw; when other processes moved the head past one
unforeseen, it takes an empty locked step right after (so with several
processes a checkpoint may land a few events after ``checkpoint_every``).

A lone event is flushed at once. Once a step has carried several events (so
requests are concurrent), the next step waits up to ``flush_ms`` for as many
events as the last one carried, which saves commits without delaying a quiet
gateway or a queue that has already filled up.

If a step fails (database down, permission, missing partition, signing), every
event of the batch fails with ``Unavailable`` and nothing of it is committed
(but for the unforeseen checkpoint's step above, which follows a committed
batch: its requests are refused all the same); the caller must then send no
data. The next step starts on a new connection.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

import asyncpg

from audit.chain import GENESIS_HASH, HASHED_COLUMNS, canonical_pieces
from audit.events import AuditEvent, event_row
from audit.signing import CheckpointSigner, checkpoint_payload
from audit.sql import chain as chain_sql
from audit.sql.chain import Connect, close_quietly
from errors import Unavailable

log = logging.getLogger("regsosek.audit")

MAX_BATCH: Final = 2_000
"""Most events in one chain step; more wait for the next step."""

UNAVAILABLE_MESSAGE: Final = "The audit trail cannot be written; nothing was disclosed."

_FIELD_PATHS: Final = HASHED_COLUMNS.index("field_paths") - 1
_ID_LISTS: Final = tuple(HASHED_COLUMNS.index(name) - 1 for name in ("household_ids", "person_ids"))
"""Where the lists are among the values after ``seq`` (they travel as array literals)."""


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
        self._checkpoint_due = 0.0
        self.steps = 0
        """Chain steps committed by this writer (for tests and metrics)."""
        self.locked_steps = 0
        """Chain steps that held the lock across round trips (start, close, checkpoints,
        a new month)."""

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
        if self._closing or self._task is None or self._task.done():
            raise Unavailable(UNAVAILABLE_MESSAGE)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._queue.append(_Pending(event, self._clock(), loop.time(), future))
        queued = len(self._queue)
        if (queued == 1 or queued >= self._gather) and not self._wakeup.is_set():
            self._wakeup.set()
        return await future

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
        rows = _append_batch(batch) if batch else None
        known = self._head
        if (
            rows is not None
            and not seal
            and known is not None
            and not (known.checkpoint_seq != known.seq and _new_month(known, rows))
            and not self._checkpoint_is_due(known, seq=known.seq + len(batch), now=now, seal=False)
        ):
            # One round trip: the database locks, numbers, hashes, inserts and commits.
            try:
                appended = await chain_sql.append_events(connection, rows)
            except asyncpg.SerializationError:
                pass  # a new month after an unsigned one (another process wrote it): below
            else:
                self._stepped(appended.head)
                head = appended.head
                assert head.occurred_at is not None
                if self._checkpoint_is_due(
                    head, seq=head.seq, now=max(now, head.occurred_at), seal=False
                ):
                    # Other processes moved the head past a checkpoint this writer did not
                    # foresee: sign it now. Should that fail, the batch's requests are refused
                    # though their events are committed (the chain over-records, never under).
                    await self._locked_step(connection, None, now=now, seal=False)
                return list(range(appended.first_seq, appended.first_seq + len(batch)))
        return await self._locked_step(connection, rows, now=now, seal=seal)

    async def _locked_step(
        self,
        connection: asyncpg.Connection,
        rows: chain_sql.AppendBatch | None,
        *,
        now: datetime,
        seal: bool,
    ) -> list[int]:
        """The step that signs checkpoints: one transaction holding the chain lock across its
        round trips (lock and read the head; sign the old month's last event when the batch
        begins a new month; append; sign a due checkpoint; commit)."""
        self.locked_steps += 1
        head = await chain_sql.begin_chain_step(connection)
        if head.checkpoint_seq != head.seq and _new_month(head, rows):
            # Sign the last event of each month, so that once old months are
            # archived the chain still starts from a signed head.
            assert head.occurred_at is not None
            head = await self._checkpoint(connection, head, created_at=max(now, head.occurred_at))
        seqs: list[int] = []
        if rows is not None:
            appended = await chain_sql.append_events(connection, rows)
            seqs = list(range(appended.first_seq, appended.first_seq + len(rows)))
            tip = appended.head
        else:
            tip = head
        created_at = max(now, tip.occurred_at) if tip.occurred_at is not None else now
        if self._checkpoint_is_due(tip, seq=tip.seq, now=created_at, seal=seal):
            tip = await self._checkpoint(connection, tip, created_at=created_at)
        await chain_sql.commit(connection)
        self._stepped(tip)
        return seqs

    def _stepped(self, head: chain_sql.ChainHead) -> None:
        """Remember the head a committed step left, and when a checkpoint falls due by time."""
        self._head = head
        self.steps += 1
        if head.checkpoint_at is not None:
            wait = (head.checkpoint_at + self._checkpoint_interval - self._clock()).total_seconds()
            self._checkpoint_due = asyncio.get_running_loop().time() + max(wait, 0.0)

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


def _new_month(head: chain_sql.ChainHead, rows: chain_sql.AppendBatch | None) -> bool:
    """Whether the batch's first event falls in a later month than the head."""
    if head.occurred_at is None or rows is None:
        return False
    first = max(rows.first_at, head.occurred_at)
    return (first.year, first.month) != (head.occurred_at.year, head.occurred_at.month)


def _append_batch(batch: list[_Pending]) -> chain_sql.AppendBatch:
    return append_batch(
        [event_row(pending.event, seq=0, occurred_at=pending.at) for pending in batch]
    )


def append_batch(rows: Sequence[Sequence[Any]]) -> chain_sql.AppendBatch:
    """``rows`` (``HASHED_COLUMNS`` values, as ``event_row`` gives them) as
    ``regsosek_audit_append`` takes them, with each event's canonical pieces. Their ``seq`` is
    ignored: the database numbers them (and keeps their times from preceding the head)."""
    columns = [list(column) for column in zip(*rows, strict=True)][1:]
    columns[_FIELD_PATHS] = [chain_sql.text_array(paths) for paths in columns[_FIELD_PATHS]]
    for index in _ID_LISTS:
        columns[index] = [chain_sql.id_array(ids) for ids in columns[index]]
    pieces = zip(*map(canonical_pieces, rows), strict=True)
    return chain_sql.AppendBatch(columns=(*columns, *map(list, pieces)))


def _fail(future: asyncio.Future[int]) -> None:
    if not future.done():
        future.set_exception(Unavailable(UNAVAILABLE_MESSAGE))
