"""The audit writer on a thread of its own, so that its chain steps never queue behind requests.

``ThreadedAuditWriter`` runs an ``AuditWriter`` (its flusher and its own
connection) on a dedicated thread with its own event loop. Under load the
request loop has a queue of ready callbacks; a chain step whose database reply
arrives on that loop waits behind them, and every request of the batch waits
with it. On its own loop the reply is read as soon as the thread holds the GIL.

``record(event)`` hands the event over and awaits a future of the request loop
that the writer thread settles, once per chain step, through
``call_soon_threadsafe``. Cross-thread wake-ups are few, since each one costs a
GIL hand-over: the writer thread is woken only when it is idle; events that
arrive while a step is in flight wait in the inbox and are pulled, all
together, as soon as that step's outcomes are sent: that is the group commit
(the inner writer's ``flush_ms`` timer is not used). The guarantees
are the inner writer's: a request's future resolves only after its step
committed; a failed step fails every waiter of it with ``Unavailable`` and
writes nothing; ``start`` raises ``Unavailable`` when the first step fails;
``close`` commits what was handed over before it and seals the head. Records
handed over while closing fail with ``Unavailable``.

The observer's ``stepped`` is called on the writer thread (the gateway's
observer only touches prometheus-client, which is thread-safe); ``recorded``
is called on the request loop, in the request's context, as the plain writer
does.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future as ThreadFuture
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from audit.events import AuditEvent
from audit.signing import CheckpointSigner
from audit.sql.chain import Connect
from audit.writer import UNAVAILABLE_MESSAGE, AuditWriter, WriterObserver, utc_now
from errors import Unavailable

_T = TypeVar("_T")

_Arrival = tuple[AuditEvent, asyncio.Future[int], asyncio.AbstractEventLoop]
"""An event handed over, the request loop's future of its ``seq``, and that loop."""

_Outcome = tuple[asyncio.Future[int], int | None]
"""A request loop's future and the ``seq`` it gets (None: it fails with ``Unavailable``)."""


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when it is installed (as the gateway's own loop is), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency of uvicorn[standard]
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class ThreadedAuditWriter:
    """An ``AuditWriter`` on its own thread and loop; the same public interface."""

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
        del flush_ms  # accepted as AuditWriter does; batches form by pulling (module docstring)
        self._writer = AuditWriter(
            connect=connect,
            signer=signer,
            checkpoint_every=checkpoint_every,
            checkpoint_seconds=checkpoint_seconds,
            flush_ms=0,
            clock=clock,
            observer=observer,
        )
        self._observer = observer
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._inbox: list[_Arrival] = []
        """Events handed over and not yet queued on the writer (guarded by ``_lock``)."""
        self._busy = False
        """The writer has been woken or fed and will pull the inbox again (``_lock``)."""
        self._outbox: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        """Outcomes not yet sent to their loops (writer thread only)."""
        self._closing = False

    @property
    def steps(self) -> int:
        """Chain steps committed by this writer (for tests and metrics)."""
        return self._writer.steps

    @property
    def fast_misses(self) -> int:
        """One-round-trip steps refused because another writer had moved the head."""
        return self._writer.fast_misses

    async def start(self) -> None:
        """Start the thread and take the writer's first chain step on it.

        Raises ``Unavailable`` when that step fails (the thread is then stopped).
        """
        if self._thread is not None:
            raise RuntimeError("the audit writer is already started")
        ready: ThreadFuture[asyncio.AbstractEventLoop] = ThreadFuture()
        self._thread = threading.Thread(
            target=self._serve, args=(ready,), name="audit-writer", daemon=True
        )
        self._thread.start()
        self._loop = await asyncio.wrap_future(ready)
        try:
            await self._on_writer(self._writer.start())
        except BaseException:
            self._closing = True
            self._stop_thread()
            raise

    async def close(self) -> None:
        """Commit every event handed over before, sign the head, stop the thread.

        ``record`` calls made after ``close`` began fail with ``Unavailable``.
        """
        already, self._closing = self._closing, True
        if self._loop is None or already:
            return
        try:
            await self._on_writer(self._close_writer())
        finally:
            self._stop_thread()

    async def record(self, event: AuditEvent) -> int:
        """Append ``event`` and return its ``seq`` once committed, or raise ``Unavailable``."""
        observer = self._observer
        if observer is None:
            return await self._hand_over(event)
        started = time.perf_counter()
        try:
            seq = await self._hand_over(event)
        except BaseException:
            observer.recorded(event, seq=None, seconds=time.perf_counter() - started)
            raise
        observer.recorded(event, seq=seq, seconds=time.perf_counter() - started)
        return seq

    def _hand_over(self, event: AuditEvent) -> asyncio.Future[int]:
        writer_loop = self._loop
        if self._closing or writer_loop is None:
            raise Unavailable(UNAVAILABLE_MESSAGE)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        with self._lock:
            self._inbox.append((event, future, loop))
            wake = not self._busy
            self._busy = True
        if wake:
            try:
                writer_loop.call_soon_threadsafe(self._feed)
            except RuntimeError as error:  # the writer loop has stopped
                raise Unavailable(UNAVAILABLE_MESSAGE) from error
        return future

    # The writer thread.

    def _serve(self, ready: ThreadFuture[asyncio.AbstractEventLoop]) -> None:
        loop = new_event_loop()
        asyncio.set_event_loop(loop)
        ready.set_result(loop)
        try:
            loop.run_forever()
        finally:
            with self._lock:
                stranded, self._inbox = self._inbox, []
            for _, future, request_loop in stranded:
                failed: list[_Outcome] = [(future, None)]
                with contextlib.suppress(RuntimeError):
                    request_loop.call_soon_threadsafe(_settle, failed)
            loop.close()

    def _feed(self) -> None:
        """Queue what was handed over on the writer (on the writer loop); with nothing to
        queue, the writer is idle and the next hand-over wakes it."""
        with self._lock:
            arrivals, self._inbox = self._inbox, []
            if not arrivals:
                self._busy = False
        enqueue = self._writer.enqueue
        for event, future, request_loop in arrivals:
            try:
                committed = enqueue(event)
            except Unavailable:
                self._send(request_loop=request_loop, future=future, seq=None)
                continue
            committed.add_done_callback(
                partial(self._committed, request_loop=request_loop, future=future)
            )

    def _committed(
        self,
        committed: asyncio.Future[int],
        *,
        request_loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[int],
    ) -> None:
        self._send(request_loop=request_loop, future=future, seq=_seq(committed))

    def _send(
        self,
        *,
        request_loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[int],
        seq: int | None,
    ) -> None:
        """Collect an outcome; the outcomes of one step go to their loop in one call."""
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._deliver)
        self._outbox.setdefault(request_loop, []).append((future, seq))

    def _deliver(self) -> None:
        """Send the outcomes collected, then pull what arrived meanwhile: the next step."""
        outbox, self._outbox = self._outbox, {}
        for request_loop, outcomes in outbox.items():
            with contextlib.suppress(RuntimeError):  # that loop is gone, and its waiters
                request_loop.call_soon_threadsafe(_settle, outcomes)
        self._feed()

    async def _close_writer(self) -> None:
        self._feed()
        await self._writer.close()
        await asyncio.sleep(0)  # the done callbacks of the last futures run
        self._deliver()

    async def _on_writer(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coroutine`` on the writer loop and wait for it here."""
        assert self._loop is not None
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self._loop))

    def _stop_thread(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join()  # at once: the loop has stopped, only closing it is left


def _seq(committed: asyncio.Future[int]) -> int | None:
    if committed.cancelled() or committed.exception() is not None:
        return None
    return committed.result()


def _settle(outcomes: list[_Outcome]) -> None:
    """Resolve request futures (on their loop): a ``seq``, or ``Unavailable``."""
    for future, seq in outcomes:
        if future.done():
            continue
        if seq is None:
            future.set_exception(Unavailable(UNAVAILABLE_MESSAGE))
        else:
            future.set_result(seq)
