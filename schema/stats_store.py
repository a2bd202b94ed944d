"""A program's whole statistics population, counted once for every gateway process.

``householdStats`` answers from counts at the finest grain (``schema.stats``). A program's
*whole* statistics population (no filter in SQL: every grouping, and with ``k > 1`` every
filter on a dimension) is the same for every process until the registry records a release
or the day changes (``schema.stats_count.registry_version``). At 10,000,000 households one
count takes a second of PostgreSQL CPU. Kept only in each process's memory, every process
of every instance paid it once per release and day, on a request's clock.

``statistics_counts`` (migration 0012) keeps it once per program, counting statement and
registry version:

* ``fill``, which ``regsosek worker`` runs when it starts and every ``FILL_EVERY`` seconds,
  counts every program's whole population that has no row for the registry's current
  version: within a minute of a release (or of midnight) the counts are there before a
  request asks. It counts in a repeatable-read transaction, so the counts and the version
  they are stored under come from one snapshot. Workers and instances do not count the same
  population at once (a transaction-level advisory lock per key).
* ``SharedCounts`` is the request path's side: a process whose own memory has no counts
  reads the stored ones in the request's read transaction (a replica's copy too); a process
  that had to count (a request came first) stores what it counted, through the write pool,
  for every other process. A failure to store is logged and costs nothing but the next
  process's count.

Stored rows are exact counts before disclosure control: a request protects them exactly as
counts made in the request (``schema.suppression``), so an answer is the same whichever
process counted. Row-level security keeps each program's rows to its own transactions.
Rows of other versions older than ``KEPT_FOR`` are deleted as new ones are stored.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg
import orjson

from errors import Forbidden
from policies import PolicySet, Program
from policies.rls import SET_PROGRAM_SQL
from schema.compiler.statement import CompiledStatement
from schema.compiler.statistics import statistics_statement
from schema.stats_count import count, registry_version

log = logging.getLogger("regsosek.statistics")

FILL_EVERY = 60.0
"""Seconds between ``regsosek worker``'s looks for populations to count."""
KEPT_FOR = "1 day"
"""Rows of another version are deleted once they are this old (PostgreSQL interval)."""
FILL_SPACE = 0x53544346
"""First key of the fill's advisory locks (``'STCF'``)."""

LOAD = (
    "SELECT rows::text FROM statistics_counts"
    " WHERE program = $1 AND statement = $2 AND version = $3"
)
SAVE = (
    "INSERT INTO statistics_counts (program, statement, version, rows)"
    " VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT DO NOTHING"
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


def count_key(
    program: str, statement: CompiledStatement, arguments: bytes, version: Sequence[object]
) -> CountKey:
    """The key of ``statement`` (with its arguments as JSON) counted against ``version``."""
    digest = hashlib.sha256(statement.sql.encode() + b"\0" + arguments).hexdigest()
    return CountKey(program, digest, orjson.dumps(list(version), default=str).decode())


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


async def load(connection: asyncpg.Connection, key: CountKey) -> list[Row] | None:
    """The stored counts under ``key``, in ``connection``'s transaction (the program set)."""
    text = await connection.fetchval(LOAD, key.program, key.statement, key.version)
    if text is None:
        return None
    rows = decode(text)
    if rows is None:
        log.warning("stored statistics counts of %s are unreadable; counting", key.program)
    return rows


async def save(
    connection: asyncpg.Connection, key: CountKey, rows: Iterable[Sequence[Any]]
) -> None:
    """Store ``rows`` under ``key`` (unless stored already) and delete the program's rows of
    other versions older than ``KEPT_FOR``, in ``connection``'s transaction (the program set)."""
    await connection.execute(SAVE, key.program, key.statement, key.version, encode(rows))
    await connection.execute(PRUNE, key.program, key.version)


class SharedCounts:
    """The request path's side of ``statistics_counts``: read in the request's transaction,
    stored through ``writes`` (None: read only)."""

    def __init__(self, writes: asyncpg.Pool | None) -> None:
        self.writes = writes

    async def load(self, connection: asyncpg.Connection, key: CountKey) -> list[Row] | None:
        return await load(connection, key)

    async def save(self, key: CountKey, rows: Iterable[Sequence[Any]]) -> None:
        """Store what a request counted; a failure is logged (the answer does not depend on it)."""
        if self.writes is None:
            return
        try:
            async with self.writes.acquire() as connection, connection.transaction():
                await connection.execute(SET_PROGRAM_SQL, key.program)
                await save(connection, key, rows)
        except Exception as error:  # a cache's write: never the request's failure
            log.warning(
                "could not store the statistics counts of %s: %s",
                key.program,
                type(error).__name__,
            )


@dataclass(frozen=True, slots=True)
class Population:
    """A whole statistics population a program may ask for."""

    program: Program
    by_program: bool
    statement: CompiledStatement
    arguments: bytes


def whole_populations(policies: PolicySet, today: date) -> list[Population]:
    """Every program's whole statistics populations (with and without ASSISTANCE_PROGRAM,
    as far as the program may group by it), under each of its purposes, for the programs
    whose agreement is in force ``today``; each counting statement once."""
    from schema.stats import plan_statistics

    populations: dict[tuple[str, str, bytes], Population] = {}
    for name, program in sorted(policies.programs.items()):
        if program.statistics_scope is None or not program.agreement.in_force(today):
            continue
        variants = [program.under(purpose) for purpose in program.purposes] or [program]
        for variant in variants:
            if "householdStats" not in variant.root_fields:
                continue
            for by_program in (False, True):
                args = {"groupBy": ["ASSISTANCE_PROGRAM"]} if by_program else {}
                try:
                    plan = plan_statistics(args, variant)
                except Forbidden:
                    continue
                statement = statistics_statement(
                    variant, filter_shape=plan.sql.shape, by_program=plan.by_program
                )
                arguments = orjson.dumps(statement.arguments(plan.params), default=str)
                populations.setdefault(
                    (name, statement.sql, arguments),
                    Population(variant, by_program, statement, arguments),
                )
    return list(populations.values())


@dataclass(frozen=True, slots=True)
class Filled:
    """One population ``fill`` counted and stored."""

    program: str
    by_program: bool
    cells: int


async def fill(pool: asyncpg.Pool, policies: PolicySet, *, today: date) -> list[Filled]:
    """Count and store every whole population not stored for the registry's current version
    (``whole_populations``); what was counted."""
    filled = []
    for population in whole_populations(policies, today):
        cells = await fill_one(pool, population)
        if cells is not None:
            filled.append(Filled(population.program.name, population.by_program, cells))
    return filled


async def fill_one(pool: asyncpg.Pool, population: Population) -> int | None:
    """Count and store ``population`` unless stored (or being counted elsewhere); the cells."""
    program = population.program
    async with (
        pool.acquire() as connection,
        connection.transaction(isolation="repeatable_read"),
    ):
        await connection.execute(SET_PROGRAM_SQL, program.name)
        version = await registry_version(connection)
        key = count_key(program.name, population.statement, population.arguments, version)
        if await connection.fetchval(STORED, key.program, key.statement, key.version):
            return None
        lock = zlib.crc32(f"{key.program}:{key.statement}".encode()) - (1 << 31)
        if not await connection.fetchval(
            "SELECT pg_try_advisory_xact_lock($1, $2)", FILL_SPACE, lock
        ):
            return None
        rows = await count(
            connection, population.statement, params={}, program=program, filtered=False
        )
        await save(connection, key, rows)
    log.info(
        "stored the statistics counts of %s%s: %d cells",
        program.name,
        " by assistance program" if population.by_program else "",
        len(rows),
    )
    return len(rows)
