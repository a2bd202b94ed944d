"""Read transactions on the registry, under the program's row-level security.

Every read runs in one read-only transaction that first sets
``regsosek.program``, which the PostgreSQL RLS policies key on; so even a
statement that forgot the application's row predicate sees only the program's
rows. Reads go to a replica when ``READ_DATABASE_URLS`` names any, and fall
back to the primary when none answers.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg

PROGRAM_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


class RegistryReader:
    def __init__(self, *, primary: asyncpg.Pool, replicas: Sequence[asyncpg.Pool] = ()) -> None:
        self.primary = primary
        self.replicas = list(replicas)
        self._turn = itertools.count()

    def _pools(self) -> list[asyncpg.Pool]:
        if not self.replicas:
            return [self.primary]
        start = next(self._turn) % len(self.replicas)
        return [*self.replicas[start:], *self.replicas[:start], self.primary]

    @asynccontextmanager
    async def transaction(self, program: str) -> AsyncIterator[asyncpg.Connection]:
        """A connection inside ``BEGIN READ ONLY`` with ``SET LOCAL regsosek.program``."""
        if not PROGRAM_NAME.match(program):
            raise ValueError("not a program name")
        pools = self._pools()
        for index, pool in enumerate(pools):
            try:
                connection = await pool.acquire()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                if index == len(pools) - 1:
                    raise
                continue
            break
        try:
            # One round trip opens the transaction and keys RLS on the program.
            await connection.execute(f"BEGIN READ ONLY; SET LOCAL regsosek.program = '{program}'")
            try:
                yield connection
            except BaseException:
                if not connection.is_closed():
                    await connection.execute("ROLLBACK")
                raise
            await connection.execute("COMMIT")
        finally:
            await pool.release(connection)


async def reset_connection(connection: asyncpg.Connection) -> None:
    """Pool reset: only roll back what a failed request left open.

    The gateway keeps no session state (settings are ``SET LOCAL``), so
    asyncpg's default full reset, one more round trip per request, is not needed.
    """
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")
