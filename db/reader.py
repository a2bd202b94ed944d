"""Read transactions on the registry, under the program's row-level security.

Every read runs in one read-only transaction that first sets
``regsosek.program``, which the PostgreSQL RLS policies key on; so even a
statement that forgot the application's row predicate sees only the program's
rows.

Reads go to the streaming replicas ``READ_DATABASE_URLS`` names (in turn),
else to the primary. A replica that cannot serve (no connection, connection
lost, shutting down or still starting, read-only refusal, a login that would
bypass row-level security) is *marked down*: the read that found out moves on
to the next replica or to the primary, and later reads skip it. After a
back-off (1 s, doubling up to 16 s while it stays down) a background probe
tries it again; once it answers, it gets reads again. No request ever waits
for a replica that is known to be down.

The primary's pool survives a PostgreSQL restart: when a connection turns
out broken (the server restarted or killed its backend while it sat idle),
its pool-mates almost certainly are too, so the whole pool is expired
(``Pool.expire_connections``: each is replaced on its next acquire) and,
when that happened before the caller's first statement, the transaction is
opened once more on a fresh connection. A request never waits more than
``ACQUIRE_TIMEOUT`` for a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final, Protocol

import asyncpg

from db.programs import PROGRAM_NAME, PROGRAM_SETTING

log = logging.getLogger("regsosek.reader")

PRIMARY: Final = "primary"
FIRST_BACKOFF: Final = 1.0
MAX_BACKOFF: Final = 16.0

SERVER_FAILURES: Final = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.ReadOnlySQLTransactionError,
    asyncpg.TooManyConnectionsError,
)
"""Errors that say the server, not the statement, is the problem."""

ACQUIRE_TIMEOUT: Final = 10.0
"""Seconds a read waits for a connection of the primary's pool (then ``TimeoutError``)."""


class _ServerFailed(Exception):
    """A read failed because of the server (not the statement); carries the cause."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class UnsafeReadRole(Exception):
    """A read connection logged in as a role that bypasses row-level security."""


class ReadObserver(Protocol):
    """What the reader reports (metrics); the default does nothing."""

    def read_on(self, target: str) -> None: ...

    def target_down(self, target: str) -> None: ...

    def target_up(self, target: str) -> None: ...


class _Silent:
    def read_on(self, target: str) -> None:
        pass

    def target_down(self, target: str) -> None:
        pass

    def target_up(self, target: str) -> None:
        pass


@dataclass(slots=True, eq=False)
class ReadTarget:
    """One pool reads may go to, and what the reader knows of its health."""

    name: str
    pool: asyncpg.Pool
    up: bool = True
    backoff: float = 0.0
    retry_at: float = 0.0
    probe: asyncio.Task[None] | None = None


class RegistryReader:
    def __init__(
        self,
        *,
        primary: asyncpg.Pool,
        replicas: Mapping[str, asyncpg.Pool] | None = None,
        observer: ReadObserver | None = None,
    ) -> None:
        self.primary = ReadTarget(PRIMARY, primary)
        self.replicas = [ReadTarget(name, pool) for name, pool in (replicas or {}).items()]
        self._observer = observer or _Silent()
        self._turn = itertools.count()

    def _candidates(self) -> list[ReadTarget]:
        """Replicas that are up, starting with the next in turn, then the primary."""
        if not self.replicas:
            return [self.primary]
        now = asyncio.get_running_loop().time()
        for target in self.replicas:
            if not target.up and target.probe is None and now >= target.retry_at:
                target.probe = asyncio.create_task(self._probe(target), name=f"probe {target.name}")
        up = [target for target in self.replicas if target.up]
        if up:
            start = next(self._turn) % len(up)
            up = [*up[start:], *up[:start]]
        return [*up, self.primary]

    @asynccontextmanager
    async def transaction(self, program: str) -> AsyncIterator[asyncpg.Connection]:
        """A connection inside ``BEGIN READ ONLY`` with ``SET LOCAL regsosek.program``."""
        if not PROGRAM_NAME.match(program):
            raise ValueError("not a program name")
        target, connection = await self._begin(program)
        self._observer.read_on(target.name)
        try:
            try:
                yield connection
            except BaseException as error:
                if not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await connection.execute("ROLLBACK")
                if isinstance(error, Exception) and _server_failed(error, connection):
                    await self._expire_if_primary(target)
                    self._mark_down(target, error)
                raise
            try:
                await connection.execute("COMMIT")
            except Exception as error:
                if _server_failed(error, connection):
                    await self._expire_if_primary(target)
                    self._mark_down(target, error)
                raise
        finally:
            await _release(target.pool, connection)

    async def fetch(
        self, statements: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[asyncpg.Record | None]:
        """Run statements that set their own program (``CompiledStatement.gated``).

        One round trip each, no transaction: every statement keys row-level
        security on its program for its own implicit transaction. Failover
        follows ``transaction``: a replica the server side fails on moves the
        whole read to the next candidate (reads repeat safely), and a primary
        connection found broken is replaced once.
        """
        for target in self._candidates():
            try:
                rows = await self._fetch_on(target, statements)
            except _ServerFailed as failed:
                if target is self.primary:
                    raise failed.error from None
                self._mark_down(target, failed.error)
                continue
            self._observer.read_on(target.name)
            return rows
        raise AssertionError("the primary is always the last candidate")

    async def _fetch_on(
        self, target: ReadTarget, statements: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[asyncpg.Record | None]:
        is_primary = target is self.primary
        for attempt in (1, 2):
            try:
                connection: asyncpg.Connection = await target.pool.acquire(
                    timeout=ACQUIRE_TIMEOUT if is_primary else None
                )
            except Exception as error:
                raise _ServerFailed(error) from None
            retry = False
            try:
                return await _fetch_all(connection, statements)
            except Exception as error:
                if is_primary and attempt == 1 and _broken(error, connection):
                    retry = True
                elif _server_failed(error, connection):
                    await self._expire_if_primary(target)
                    raise _ServerFailed(error) from None
                else:
                    raise
            finally:
                await _release(target.pool, connection)
            if retry:
                # Broken while idle (a restart): replace the pool's connections
                # and read once more on a fresh one.
                await target.pool.expire_connections()
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def _begin(self, program: str) -> tuple[ReadTarget, asyncpg.Connection]:
        """The first candidate that opens the transaction; the primary's failure is raised.

        On a replica any failure before the caller's first statement moves the
        read on: nothing has been read yet, and the primary can always serve it.
        """
        for target in self._candidates():
            is_primary = target is self.primary
            try:
                connection: asyncpg.Connection = await target.pool.acquire(
                    timeout=ACQUIRE_TIMEOUT if is_primary else None
                )
            except Exception as error:
                if is_primary:
                    raise
                self._mark_down(target, error)
                continue
            try:
                await _open(connection, program)
            except BaseException as error:
                await _release(target.pool, connection)
                if is_primary and isinstance(error, Exception) and _broken(error, connection):
                    # Broken while idle (a restart): replace the pool's connections, try once
                    # more on a fresh one; nothing of the request has run yet.
                    await target.pool.expire_connections()
                    return target, await self._reopen(target, program)
                if is_primary or not isinstance(error, Exception):
                    raise
                self._mark_down(target, error)
                continue
            return target, connection
        raise AssertionError("the primary is always the last candidate")

    async def _reopen(self, target: ReadTarget, program: str) -> asyncpg.Connection:
        connection: asyncpg.Connection = await target.pool.acquire(timeout=ACQUIRE_TIMEOUT)
        try:
            await _open(connection, program)
        except BaseException:
            await _release(target.pool, connection)
            raise
        return connection

    async def _expire_if_primary(self, target: ReadTarget) -> None:
        """After the primary broke a connection, replace its idle ones too (see the module)."""
        if target is self.primary:
            await target.pool.expire_connections()

    def _mark_down(self, target: ReadTarget, error: BaseException) -> None:
        if target is self.primary:
            return
        loop = asyncio.get_running_loop()
        if target.up:
            target.up = False
            target.backoff = FIRST_BACKOFF
            log.warning(
                "read replica %s is down (%s: %s); its reads go elsewhere",
                target.name,
                type(error).__name__,
                error,
            )
            self._observer.target_down(target.name)
        target.retry_at = loop.time() + target.backoff

    async def _probe(self, target: ReadTarget) -> None:
        """Try a replica marked down; up again when it answers, else a longer back-off."""
        try:
            await target.pool.expire_connections()
            async with target.pool.acquire() as connection:
                await connection.fetchval("SELECT 1")
        except Exception as error:
            target.backoff = min(target.backoff * 2 or FIRST_BACKOFF, MAX_BACKOFF)
            target.retry_at = asyncio.get_running_loop().time() + target.backoff
            log.info("read replica %s still down (%s)", target.name, type(error).__name__)
        else:
            target.up, target.backoff = True, 0.0
            log.warning("read replica %s is back; it gets reads again", target.name)
            self._observer.target_up(target.name)
        finally:
            target.probe = None

    async def close(self) -> None:
        """Stop probes still running (before the pools close)."""
        probes = [target.probe for target in self.replicas if target.probe is not None]
        for probe in probes:
            probe.cancel()
        for probe in probes:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await probe


async def _fetch_all(
    connection: asyncpg.Connection, statements: Sequence[tuple[str, Sequence[Any]]]
) -> list[asyncpg.Record | None]:
    return [await connection.fetchrow(sql, *arguments) for sql, arguments in statements]


async def _open(connection: asyncpg.Connection, program: str) -> None:
    # One round trip opens the transaction and keys RLS on the program.
    await connection.execute(f"BEGIN READ ONLY; SET LOCAL {PROGRAM_SETTING} = '{program}'")


def _broken(error: Exception, connection: asyncpg.Connection) -> bool:
    """The connection, not the statement, failed: the server let it go while it was idle.

    ``InternalClientError`` is what asyncpg raises for a connection that has read
    the server's goodbye (``57P01``) but not yet seen the socket close.
    """
    return (
        _server_failed(error, connection)
        or isinstance(error, asyncpg.InternalClientError)
        or connection.is_closed()
    )


def _server_failed(error: Exception, connection: asyncpg.Connection) -> bool:
    if isinstance(error, SERVER_FAILURES):
        return True
    return isinstance(error, asyncpg.InterfaceError) and connection.is_closed()


async def _release(pool: asyncpg.Pool, connection: asyncpg.Connection) -> None:
    try:
        await pool.release(connection)
    except Exception:
        # A connection that cannot be reset is dropped; the pool opens a new one.
        with contextlib.suppress(Exception):
            connection.terminate()


async def refuse_bypassing_role(connection: asyncpg.Connection) -> None:
    """Pool ``init`` of replica connections: never read as a role that bypasses RLS.

    A replica URL copied from the owner's (``postgres@…``) would otherwise read
    with row-level security switched off; the replica is then marked down
    instead, and the reads go to the primary as the gateway role.
    """
    bypasses = await connection.fetchval(
        "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
    )
    if bypasses:
        raise UnsafeReadRole(
            "a read replica login bypasses row-level security; log in as the gateway role"
        )


async def reset_connection(connection: asyncpg.Connection) -> None:
    """Pool reset: only roll back what a failed request left open.

    The gateway keeps no session state (settings are ``SET LOCAL``), so
    asyncpg's default full reset, one more round trip per request, is not needed.
    """
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")
