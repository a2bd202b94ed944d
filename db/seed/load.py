"""Bulk loading: COPY streams, secondary indexes set aside during a load, statistics after.

Everything runs in the caller's transaction, so a failed load leaves the
registry (and its indexes) exactly as it was.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from db.seed.binary import HEADER, TRAILER
from db.seed.chunks import (
    HOUSEHOLD_COLUMNS,
    PERSON_COLUMNS,
    RECEIPT_COLUMNS,
    Chunk,
    ChunkMaker,
)
from db.seed.regions import region_rows

REGISTRY_TABLES = ("households", "persons", "assistance_receipts")


async def ensure_regions(connection: asyncpg.Connection) -> int:
    """Insert the Jember regions that are missing (existing rows are left as they are)."""
    before = await connection.fetchval("SELECT count(*) FROM regions")
    await connection.executemany(
        "INSERT INTO regions (code, parent_code, level, name) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (code) DO NOTHING",
        [(code, parent, level.value, name) for code, parent, level, name in region_rows()],
    )
    after = await connection.fetchval("SELECT count(*) FROM regions")
    return int(after - before)


@asynccontextmanager
async def secondary_indexes_set_aside(
    connection: asyncpg.Connection, tables: Sequence[str]
) -> AsyncIterator[None]:
    """Drop the tables' foreign keys, unique constraints and plain indexes; recreate them after.

    Building an index once over loaded rows is several times faster than
    maintaining it row by row, and re-adding a constraint checks every row,
    so nothing is lost. Primary keys stay (ids arrive in order, so their
    upkeep is cheap).
    """
    constraints = await connection.fetch(
        """
        SELECT conname, conrelid::regclass::text AS table_name, contype,
               pg_get_constraintdef(oid) AS definition
        FROM pg_constraint
        WHERE conrelid = ANY($1::regclass[]) AND contype IN ('f', 'u')
        ORDER BY contype, conname
        """,
        list(tables),
    )
    indexes = await connection.fetch(
        """
        SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS definition
        FROM pg_index i
        WHERE indrelid = ANY($1::regclass[]) AND NOT indisprimary
          AND NOT EXISTS (
              SELECT 1 FROM pg_constraint c
              WHERE c.conrelid = i.indrelid AND c.conindid = i.indexrelid
          )
        ORDER BY 1
        """,
        list(tables),
    )
    for row in constraints:
        await connection.execute(
            f'ALTER TABLE {row["table_name"]} DROP CONSTRAINT "{row["conname"]}"'
        )
    for row in indexes:
        await connection.execute(f"DROP INDEX {row['name']}")
    yield
    await connection.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for row in indexes:
        await connection.execute(row["definition"])
    for row in reversed(constraints):
        await connection.execute(
            f'ALTER TABLE {row["table_name"]} ADD CONSTRAINT "{row["conname"]}" {row["definition"]}'
        )


class Spool:
    """Binary COPY files for the households and receipts, written while persons stream."""

    def __init__(self, directory: str) -> None:
        self.households = Path(directory, "households.copy")
        self.receipts = Path(directory, "receipts.copy")
        self._files = [self.households.open("wb"), self.receipts.open("wb")]
        for file in self._files:
            file.write(HEADER)

    def add(self, chunk: Chunk) -> None:
        self._files[0].write(chunk.households)
        self._files[1].write(chunk.receipts)

    def close(self) -> None:
        for file in self._files:
            file.write(TRAILER)
            file.close()


async def chunks(draw: Callable[[int], Chunk], sizes: Sequence[int]) -> AsyncIterator[Chunk]:
    """The chunks in order, each drawn in a worker thread while the previous one is consumed."""
    if not sizes:
        return
    pending = asyncio.ensure_future(asyncio.to_thread(draw, sizes[0]))
    try:
        for index in range(len(sizes)):
            chunk = await pending
            if index + 1 < len(sizes):
                pending = asyncio.ensure_future(asyncio.to_thread(draw, sizes[index + 1]))
            yield chunk
    finally:
        if not pending.done():
            await asyncio.gather(pending, return_exceptions=True)


async def copy_registry(
    connection: asyncpg.Connection,
    *,
    maker: ChunkMaker,
    sizes: Sequence[int],
    on_chunk: Callable[[Chunk], None],
) -> None:
    """COPY every chunk: persons streamed as drawn, households and receipts spooled, then copied.

    Persons are most of the bytes, so drawing chunks in a worker thread
    overlaps with PostgreSQL ingesting them; the smaller tables wait in
    temporary files (written by the same worker) until the persons stream ends.
    """
    with tempfile.TemporaryDirectory(prefix="regsosek-seed-") as directory:
        spool = await asyncio.to_thread(Spool, directory)

        def draw(size: int) -> Chunk:
            chunk = maker.make(size)
            spool.add(chunk)
            return chunk

        async def persons() -> AsyncIterator[bytes]:
            yield HEADER
            async for chunk in chunks(draw, sizes):
                on_chunk(chunk)
                yield chunk.persons
            yield TRAILER

        try:
            await connection.copy_to_table(
                "persons", source=persons(), columns=PERSON_COLUMNS, format="binary", freeze=True
            )
        finally:
            await asyncio.to_thread(spool.close)
        await connection.copy_to_table(
            "households",
            source=spool.households,
            columns=HOUSEHOLD_COLUMNS,
            format="binary",
            freeze=True,
        )
        await connection.copy_to_table(
            "assistance_receipts",
            source=spool.receipts,
            columns=RECEIPT_COLUMNS,
            format="binary",
            freeze=True,
        )


async def reset_sequences(connection: asyncpg.Connection) -> None:
    """Point each id sequence past the ids the load supplied."""
    for table in REGISTRY_TABLES:
        await connection.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
            f" coalesce(max(id), 0) + 1, false) FROM {table}"
        )
