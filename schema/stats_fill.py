"""``regsosek worker``'s share of ``householdStats``: every program's whole statistics
populations counted and protected off the request path, once per release and day, for every
gateway process (``schema.stats_store``).

``fill`` finds each whole population (``whole_populations``) with no stored row for the
registry's current version and, in one repeatable-read transaction, reads the version,
counts and stores: the counts and the version they are stored under are one snapshot.
Workers and instances do not count the same population at once (a transaction-level
advisory lock per key; a worker that finds it taken leaves the population to the holder).
The protection is then computed in a thread (seconds of CPU for the largest populations,
the worker's event loop keeps going) and stored beside the counts.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from dataclasses import dataclass
from datetime import date

import asyncpg

from errors import Forbidden
from policies import PolicySet, Program
from policies.rls import SET_PROGRAM_SQL
from schema.compiler.statement import CompiledStatement
from schema.compiler.statistics import statistics_statement
from schema.stats import (
    BY_PROGRAM,
    UNIVERSE,
    StatsPlan,
    counts_of,
    plan_statistics,
    population_key,
)
from schema.stats_count import count, registry_version
from schema.stats_store import STORED, count_key, save, save_protection, statement_arguments
from schema.suppression import protect

log = logging.getLogger("regsosek.statistics")

FILL_SPACE = 0x53544346
"""First key of the fill's advisory locks (``'STCF'``)."""


@dataclass(frozen=True, slots=True)
class Population:
    """A whole statistics population a program may ask for."""

    program: Program
    plan: StatsPlan
    statement: CompiledStatement
    arguments: bytes


def whole_populations(policies: PolicySet, today: date) -> list[Population]:
    """Every program's whole statistics populations (with and without ASSISTANCE_PROGRAM,
    as far as the program may group by it), under each of its purposes, for the programs
    whose agreement is in force ``today``; each counting statement once."""
    populations: dict[tuple[str, str, bytes], Population] = {}
    for name, program in sorted(policies.programs.items()):
        if program.statistics_scope is None or not program.agreement.in_force(today):
            continue
        variants = [program.under(purpose) for purpose in program.purposes] or [program]
        for variant in variants:
            if "householdStats" not in variant.root_fields:
                continue
            for args in ({}, {"groupBy": ["ASSISTANCE_PROGRAM"]}):
                try:
                    plan = plan_statistics(args, variant)
                except Forbidden:
                    continue
                statement = statistics_statement(
                    variant, filter_shape=plan.sql.shape, by_program=plan.by_program
                )
                arguments = statement_arguments(statement, plan.params)
                populations.setdefault(
                    (name, statement.sql, arguments),
                    Population(variant, plan, statement, arguments),
                )
    return list(populations.values())


@dataclass(frozen=True, slots=True)
class Filled:
    """One population ``fill`` counted (and protected) and stored."""

    program: str
    by_program: bool
    cells: int
    suppressed: int


async def fill(pool: asyncpg.Pool, policies: PolicySet, *, today: date) -> list[Filled]:
    """Count, protect and store every whole population not stored for the registry's current
    version (``whole_populations``); what was stored."""
    filled = []
    for population in whole_populations(policies, today):
        done = await fill_one(pool, population)
        if done is not None:
            filled.append(done)
    return filled


async def fill_one(pool: asyncpg.Pool, population: Population) -> Filled | None:
    """Count, protect and store ``population`` unless stored (or being counted elsewhere)."""
    program, plan = population.program, population.plan
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
        rows = [
            tuple(row)
            for row in await count(
                connection,
                population.statement,
                params=plan.params,
                program=program,
                filtered=False,
            )
        ]
        await save(connection, key, rows)
    counts = counts_of(rows, plan)
    suppressed = 0
    if plan.k > 1:
        dimensions = BY_PROGRAM if plan.by_program else UNIVERSE
        protected = await asyncio.to_thread(protect, counts, dimensions=dimensions, k=plan.k)
        published = protected.published()
        suppressed = sum(
            len(table.suppressed)
            for lattice in published.lattices.values()
            for table in lattice.tables.values()
        )
        async with pool.acquire() as connection, connection.transaction():
            await connection.execute(SET_PROGRAM_SQL, program.name)
            population_id = population_key(counts, k=plan.k, by_program=plan.by_program)
            await save_protection(connection, key, population_id, published)
    log.info(
        "stored the statistics of %s%s: %d cells, %d suppressed in some table",
        program.name,
        " by assistance program" if plan.by_program else "",
        len(rows),
        suppressed,
    )
    return Filled(program.name, plan.by_program, len(rows), suppressed)
