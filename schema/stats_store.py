"""A program's whole statistics population, counted and protected once for every process.

``householdStats`` answers from counts at the finest grain (``schema.stats``). A program's
*whole* statistics population (no filter in SQL: every grouping, and with ``k > 1`` every
filter on a dimension) is the same for every process until the registry records a release
or the day changes (``schema.stats_count.registry_version``). At 10,000,000 households one
count takes a second of PostgreSQL CPU, and protecting bappeda-statistik's population by
assistance program two to three seconds of CPU at any size. Kept only in each process's
memory, every process of every instance paid both once per release and day, on a request's
clock.

``statistics_counts`` (migration 0012) keeps them once per program, counting statement and
registry version (``CountKey``):

* ``schema.stats_fill``, which ``regsosek worker`` runs when it starts, every
  ``FILL_EVERY`` seconds and as soon as a release commits (the release queues the job),
  counts and protects every program's whole population not stored for the registry's
  current version, so that both are there before a request asks (within a minute of
  midnight).
* ``SharedCounts`` is the request path's side: a process whose own memory has neither reads
  the stored ones in the request's read transaction (a replica's copy too); a process that
  had to count or protect (a request came first) stores what it made, through the write
  pool, for every other process. A failure to store is logged and costs nothing but the
  next process's work.

Counts are stored exact, before disclosure control. A stored protection is read only when
it was made for exactly these counts, ``k`` and dimensions by exactly this suppression code
(``protection_tag``): protection is deterministic, so an answer has the same suppressed
cells whichever process computed them, and a process running other suppression code (a
rolling upgrade) computes its own. Row-level security keeps each program's rows to its own
transactions. Rows of other versions older than ``KEPT_FOR`` are deleted as new ones are
stored.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from policies.rls import SET_PROGRAM_SQL
from schema import sparse_basis, suppression, suppression_table
from schema.compiler.statement import CompiledStatement
from schema.suppression import Protected, Table, Tables
from schema.suppression_table import Dimension

log = logging.getLogger("regsosek.statistics")

FILL_EVERY = 60.0
"""Seconds between ``regsosek worker``'s looks for populations to count."""
KEPT_FOR = "1 day"
"""Rows of another version are deleted once they are this old (PostgreSQL interval)."""

SUPPRESSION_CODE = hashlib.sha256(
    b"".join(
        Path(module.__file__ or "").read_bytes()
        for module in (suppression, suppression_table, sparse_basis)
    )
).digest()
"""The suppression code this process runs (its source files): part of ``protection_tag``."""

LOAD = (
    "SELECT rows::text, protected::text, protected_for FROM statistics_counts"
    " WHERE program = $1 AND statement = $2 AND version = $3"
)
SAVE = (
    "INSERT INTO statistics_counts (program, statement, version, rows)"
    " VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT DO NOTHING"
)
SAVE_PROTECTION = (
    "UPDATE statistics_counts SET protected = $4::jsonb, protected_for = $5"
    " WHERE program = $1 AND statement = $2 AND version = $3"
    " AND protected_for IS DISTINCT FROM $5"
)
PRUNE = (
    "DELETE FROM statistics_counts WHERE program = $1 AND version <> $2"
    f" AND counted_at < clock_timestamp() - interval '{KEPT_FOR}'"
)
STORED = (
    "SELECT EXISTS (SELECT 1 FROM statistics_counts"
    " WHERE program = $1 AND statement = $2 AND version = $3)"
)

Row = tuple[Any, ...]
"""``(desa, decile, sex, program, n)``: ``schema.compiler.statistics.COLUMNS``."""


@dataclass(frozen=True, slots=True)
class CountKey:
    """Where a population's counts are stored."""

    program: str
    statement: str
    """SHA-256 (hex) of the counting statement and its arguments."""
    version: str
    """``registry_version`` as JSON text."""


def statement_arguments(statement: CompiledStatement, params: Mapping[str, Any]) -> bytes:
    """The statement's arguments for ``params`` as JSON: half of what identifies a count (the
    memory cache's key and ``count_key`` both use it, so they agree)."""
    return orjson.dumps(statement.arguments(params), default=str)


def count_key(
    program: str, statement: CompiledStatement, arguments: bytes, version: Sequence[object]
) -> CountKey:
    """The key of ``statement`` (with its arguments as JSON) counted against ``version``."""
    digest = hashlib.sha256(statement.sql.encode() + b"\0" + arguments).hexdigest()
    return CountKey(program, digest, orjson.dumps(list(version), default=str).decode())


def protection_tag(population: bytes) -> str:
    """What a stored protection must have been made for: the population (its
    ``schema.stats.population_key``: counts, k, dimensions) and this suppression code."""
    return hashlib.sha256(SUPPRESSION_CODE + population).hexdigest()


@dataclass(frozen=True, slots=True)
class Stored:
    """A stored row: the counts, and the protection with its tag (None if not stored)."""

    rows: list[Row]
    protected: str | None
    protected_for: str | None


def encode(rows: Iterable[Sequence[Any]]) -> str:
    return orjson.dumps([list(row) for row in rows]).decode()


def decode(text: str) -> list[Row] | None:
    """Stored rows, or None when they are not rows of five values (then the population is
    counted again rather than answered from something unreadable)."""
    try:
        rows = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(rows, list) or not all(
        isinstance(row, list) and len(row) == 5 and isinstance(row[4], int) for row in rows
    ):
        return None
    return [tuple(row) for row in rows]


def encode_protected(protected: Protected) -> str:
    """What ``protected`` publishes (every slice's tables and their suppressed cells) as JSON."""
    return orjson.dumps(
        [
            [
                list(slice_key),
                [
                    [
                        list(level),
                        [[list(key), n] for key, n in table.grid.items()],
                        [list(key) for key in table.suppressed],
                        table.freedom,
                    ]
                    for level, table in lattice.tables.items()
                ],
                [[list(level), list(key)] for level, key in lattice.unresolved],
            ]
            for slice_key, lattice in protected.lattices.items()
        ]
    ).decode()


def decode_protected(
    text: str, *, counts: dict[tuple[Any, ...], int], dimensions: Sequence[Dimension], k: int
) -> Protected | None:
    """The protection ``encode_protected`` stored, for ``counts``; None when unreadable."""
    try:
        lattices: dict[tuple[Any, ...], Tables] = {}
        for slice_key, tables, unresolved in orjson.loads(text):
            lattices[tuple(slice_key)] = Tables(
                {
                    tuple(level): Table(
                        tuple(level),
                        {tuple(key): int(n) for key, n in grid},
                        {tuple(key) for key in suppressed},
                        int(freedom),
                    )
                    for level, grid, suppressed, freedom in tables
                },
                [(tuple(level), tuple(key)) for level, key in unresolved],
            )
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None
    positive = {key: n for key, n in counts.items() if n > 0}
    return Protected(list(dimensions), positive, k, dict(lattices))


async def load(connection: asyncpg.Connection, key: CountKey) -> Stored | None:
    """The stored row under ``key``, in ``connection``'s transaction (the program set)."""
    row = await connection.fetchrow(LOAD, key.program, key.statement, key.version)
    if row is None:
        return None
    rows = decode(row[0])
    if rows is None:
        log.warning("stored statistics counts of %s are unreadable; counting", key.program)
        return None
    return Stored(rows, row[1], row[2])


async def save(
    connection: asyncpg.Connection, key: CountKey, rows: Iterable[Sequence[Any]]
) -> None:
    """Store ``rows`` under ``key`` (unless stored already) and delete the program's rows of
    other versions older than ``KEPT_FOR``, in ``connection``'s transaction (the program set)."""
    await connection.execute(SAVE, key.program, key.statement, key.version, encode(rows))
    await connection.execute(PRUNE, key.program, key.version)


async def save_protection(
    connection: asyncpg.Connection, key: CountKey, population: bytes, protected: Protected
) -> None:
    """Store the protection of the counts stored under ``key`` (``population``: their
    ``population_key``), in ``connection``'s transaction (the program set)."""
    await connection.execute(
        SAVE_PROTECTION,
        key.program,
        key.statement,
        key.version,
        encode_protected(protected),
        protection_tag(population),
    )


class SharedCounts:
    """The request path's side of ``statistics_counts``: read in the request's transaction,
    stored through ``writes`` (None: read only)."""

    def __init__(self, writes: asyncpg.Pool | None) -> None:
        self.writes = writes

    async def load(self, connection: asyncpg.Connection, key: CountKey) -> Stored | None:
        return await load(connection, key)

    async def save(self, key: CountKey, rows: Iterable[Sequence[Any]]) -> None:
        """Store what a request counted; a failure is logged (the answer does not depend on it)."""
        await self._write(key, "counts", lambda connection: save(connection, key, rows))

    async def save_protection(self, key: CountKey, population: bytes, protected: Protected) -> None:
        """Store what a request protected; a failure is logged."""
        await self._write(
            key,
            "protection",
            lambda connection: save_protection(connection, key, population, protected),
        )

    async def _write(self, key: CountKey, what: str, write: Any) -> None:
        if self.writes is None:
            return
        try:
            async with self.writes.acquire() as connection, connection.transaction():
                await connection.execute(SET_PROGRAM_SQL, key.program)
                await write(connection)
        except Exception as error:  # a cache's write: never the request's failure
            log.warning(
                "could not store the statistics %s of %s: %s",
                what,
                key.program,
                type(error).__name__,
            )
