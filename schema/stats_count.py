"""Counting a ``householdStats`` population in PostgreSQL, and the database's share of it.

One statement counts the program's statistics rows at the finest grain
(``schema.compiler.statistics``), with ``regsosek.statistics = 'on'`` for that
statement only (the RLS policies admit the statistics rows) and
``random_page_cost = 1.1`` (so the planner counts from the covering index);
both are restored afterwards.

A count that *filters* the population (a filter kept in SQL: with k > 1 the
non-dimension ones, ``hasMemberAgedUnder``, ``receivesProgram``,
``updatedSince``; with k = 1 any) can ask for a new population with every
request, and at 1,000,000 households one takes tenths of a second of
PostgreSQL CPU: four at once used to take every core of a 2-core server
(each with two parallel workers). So a filtered count

* runs without parallel workers (``max_parallel_workers_per_gather = 0``):
  one core at most, and the parallel workers stay for everyone else;
* takes turns per program *in the database*: it holds one of its program's
  ``limits.concurrent_statistics`` transaction-level advisory locks while it
  counts, waits for one up to ``TURN_WAIT_MS``, else is RATE_LIMITED.
  Advisory locks belong to the database server, so the turns hold across
  every gateway worker and instance that reads from it (a replica has its
  own).

A count of the program's whole statistics scope (no SQL filter: the common,
cached case, such as bappeda-statistik's tables and filters on dimensions) runs
as it did.

Counts are a function of the registry, the program's policy and the day (ages),
and the registry changes only in releases (the seed, each import and each
policy change records one in its own transaction: ``db.releases.ledger``). So
``registry_version`` reads, in the request's snapshot, what identifies the
registry's state and the day, and ``schema.stats`` keeps a program's counts
under it: the same request against the same registry on the same day is not
counted again, and a release committed since is seen by the next request.
"""

from __future__ import annotations

import random
import zlib

import asyncpg

from errors import RateLimited
from policies import Program
from policies.rls import STATISTICS_SETTING
from schema.compiler.statement import CompiledStatement

TURN_WAIT_MS = 2_000
"""Longest a filtered count waits for its program's turn in the database."""
TURN_SPACE = 0x53544154
"""First key of the statistics turns' advisory locks (``'STAT'``); the audit chain's lock is a
single-key lock, a key space of its own."""

STATISTICS_ON = (
    "SELECT current_setting('random_page_cost'),"
    " current_setting('max_parallel_workers_per_gather'),"
    " current_setting('plan_cache_mode'),"
    f" set_config('{STATISTICS_SETTING}', 'on', true),"
    " set_config('random_page_cost', '1.1', true),"
    " set_config('max_parallel_workers_per_gather',"
    " coalesce($1, current_setting('max_parallel_workers_per_gather')), true),"
    " set_config('plan_cache_mode', 'auto', true)"
)
"""Admit the statistics rows (RLS), count from the covering index, parallel or not ($1 '0'),
planned for the statement's own values when PostgreSQL finds it worth it (``auto``: the read
pools' sessions plan once, ``Settings.read_plan_cache_mode``)."""
REGISTRY_VERSION = (
    "SELECT coalesce(max(no), 0), count(*), max(imported_at), current_date FROM releases"
)
"""The registry's state as of the snapshot (the releases recorded) and the session's day."""

STATISTICS_OFF = (
    f"SELECT set_config('{STATISTICS_SETTING}', 'off', true),"
    " set_config('random_page_cost', $1, true),"
    " set_config('max_parallel_workers_per_gather', $2, true),"
    " set_config('plan_cache_mode', $3, true)"
)


async def count(
    connection: asyncpg.Connection,
    statement: CompiledStatement,
    *,
    params: dict[str, object],
    program: Program,
    filtered: bool,
) -> list[asyncpg.Record]:
    """The statement's rows, in ``connection``'s read transaction (a filtered count in one of
    the program's turns, without parallel workers)."""
    if filtered:
        await take_turn(connection, program)
    previous = await connection.fetchrow(STATISTICS_ON, "0" if filtered else None)
    assert previous is not None
    rows: list[asyncpg.Record] = await connection.fetch(statement.sql, *statement.arguments(params))
    await connection.execute(STATISTICS_OFF, previous[0], previous[1], previous[2])
    return rows


async def registry_version(connection: asyncpg.Connection) -> tuple[object, ...]:
    """What the registry's counts depend on besides the program and the statement: the
    releases recorded (a new one, or a re-seed, changes it) and the day ages are counted on."""
    row = await connection.fetchrow(REGISTRY_VERSION)
    assert row is not None
    return tuple(row)


def turn_keys(program: Program) -> list[int]:
    """The second keys of the program's advisory locks, one per concurrent count."""
    keys = []
    for slot in range(program.concurrent_statistics):
        digest = zlib.crc32(f"{program.name}:{slot}".encode())
        keys.append(digest - (1 << 32) if digest >= 1 << 31 else digest)
    return keys


async def take_turn(connection: asyncpg.Connection, program: Program) -> None:
    """Hold one of the program's turns until the transaction ends; RATE_LIMITED after
    ``TURN_WAIT_MS`` of waiting (the transaction is then aborted)."""
    keys = turn_keys(program)
    for key in keys:
        if await connection.fetchval("SELECT pg_try_advisory_xact_lock($1, $2)", TURN_SPACE, key):
            return
    previous = await connection.fetchval(
        "SELECT current_setting('lock_timeout'), set_config('lock_timeout', $1, true)",
        f"{TURN_WAIT_MS}ms",
    )
    try:
        await connection.execute(
            "SELECT pg_advisory_xact_lock($1, $2)", TURN_SPACE, random.choice(keys)
        )
    except asyncpg.LockNotAvailableError:
        raise RateLimited(
            f"Your program may count {program.concurrent_statistics} filtered statistics"
            " population(s) at a time; try again shortly.",
            retry_after=max(1, TURN_WAIT_MS // 1000),
        ) from None
    await connection.execute("SELECT set_config('lock_timeout', $1, true)", previous)
