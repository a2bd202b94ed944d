"""Transactions of the gateway's writes (proposals, assistance reports), on the primary.

A write runs as the gateway role with ``regsosek.program`` set for its transaction (so
row-level security admits only the program's own rows of the tables it writes, and its
reads of registry rows stay in scope), and is left open: the edge commits it only once the
request's audit event is committed, and rolls it back otherwise (fail closed: no audit
event, no write).
"""

from __future__ import annotations

import asyncpg
from asyncpg.transaction import Transaction

from db.programs import PROGRAM_SETTING


class OpenWrite:
    """One open write transaction; ``commit`` or ``rollback`` ends it and frees the connection."""

    def __init__(
        self, pool: asyncpg.Pool, connection: asyncpg.Connection, transaction: Transaction
    ) -> None:
        self._pool = pool
        self.connection = connection
        self._transaction = transaction
        self._open = True

    async def commit(self) -> None:
        await self._end(commit=True)

    async def rollback(self) -> None:
        await self._end(commit=False)

    async def _end(self, *, commit: bool) -> None:
        if not self._open:
            return
        self._open = False
        try:
            if commit:
                await self._transaction.commit()
            else:
                await self._transaction.rollback()
        finally:
            await self._pool.release(self.connection)


class WritePool:
    """Opens write transactions on the primary (a pool of the gateway role)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def begin(self, program: str) -> OpenWrite:
        connection = await self._pool.acquire()
        try:
            transaction = connection.transaction()
            await transaction.start()
            await connection.execute(f"SELECT set_config('{PROGRAM_SETTING}', $1, true)", program)
        except BaseException:
            await self._pool.release(connection)
            raise
        return OpenWrite(self._pool, connection, transaction)
