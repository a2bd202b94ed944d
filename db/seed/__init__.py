"""Deterministic synthetic registry data for Kabupaten Jember (``regsosek seed``).

``seed_registry`` loads the Jember regions when they are missing, then
families, their members and their assistance receipts, skewed like the real
registry (see ``shared/regsosek-variables.md``): about 40 % of families in
deciles 1-4, poor housing concentrated in deciles 1-3, assistance mostly in
deciles 1-4, 2-3 % of persons with a functional difficulty, about 15 % of
families headed by a woman, 3-5 members a family on average. NIKs and No KKs
are valid in form and unique; names and desa names are synthetic.

Invariants:

* the same ``seed`` and ``households`` give the same rows, ids included
  (ids start at 1: the registry is empty, or emptied by ``replace``);
* the derived household columns (``head_sex``, ``youngest_birth_date``,
  ``received_programs``) equal what ``db.derived.refresh_household_derived``
  computes;
* a registry that already holds households is refused
  (:class:`RegistryNotEmpty`) unless ``replace=True``, which empties the three
  registry tables first, in the same transaction;
* the whole load is one transaction: it lands completely or not at all;
* it is recorded as release ``seed``, with every row in a program's scope (of
  the policy applied to the database) ENTERED in that program's change feed;
  ``replace`` also forgets the earlier releases and their changes (the ids
  they name are given to the new rows), while positions keep counting up.

Speed: rows are drawn column-wise with numpy, in chunks, and written as
PostgreSQL binary COPY; secondary indexes and constraints are set aside
during the load and rebuilt once, then the tables are analysed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncpg
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from db.engine import plain_url
from db.models.releases import ReleaseKind
from db.releases.ledger import (
    Counts,
    begin_release,
    create_events_table,
    publish_events,
)
from db.releases.scope_events import record_scope_changes
from db.releases.scopes import applied_scopes
from db.seed.chunks import CHUNK_HOUSEHOLDS, Chunk, ChunkMaker, Vocabularies
from db.seed.households import Geography
from db.seed.load import (
    REGISTRY_TABLES,
    copy_registry,
    ensure_regions,
    reset_sequences,
    secondary_indexes_set_aside,
)

__all__ = ["RegistryNotEmpty", "SeedSummary", "seed_registry"]


class RegistryNotEmpty(Exception):
    """Seeding would mix synthetic families into an existing registry."""


@dataclass(frozen=True)
class SeedSummary:
    households: int
    persons: int
    assistance_receipts: int
    regions_added: int
    seconds: float


async def seed_registry(
    url: str,
    *,
    households: int,
    seed: int,
    progress: bool = False,
    replace: bool = False,
    chunk_households: int = CHUNK_HOUSEHOLDS,
) -> SeedSummary:
    """Load ``households`` synthetic families drawn from ``seed`` into the database at ``url``,
    drawn and copied ``chunk_households`` at a time (each chunk draws from its own stream, so
    the same seed gives the same registry only with the same chunk size; tests use small
    chunks to cross chunk boundaries cheaply)."""
    if households < 0:
        raise ValueError("households must not be negative")
    if chunk_households < 1:
        raise ValueError("chunk_households must be positive")
    started = time.perf_counter()
    sizes = [chunk_households] * (households // chunk_households)
    if households % chunk_households:
        sizes.append(households % chunk_households)
    totals = {"persons": 0, "receipts": 0}
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not progress,
    )
    task = bar.add_task("households", total=households)

    def count(chunk: Chunk) -> None:
        totals["persons"] += chunk.person_count
        totals["receipts"] += chunk.receipt_count
        bar.advance(task, chunk.household_count)

    connection = await asyncpg.connect(plain_url(url))
    try:
        async with connection.transaction():
            await _make_room(connection, replace=replace)
            regions_added = await ensure_regions(connection)
            element_oid = await connection.fetchval("SELECT 'assistance_program'::regtype::oid")
            maker = ChunkMaker(
                seed=seed,
                geography=Geography.for_seed(seed),
                vocabularies=Vocabularies.build(program_array_oid=element_oid),
            )
            with bar:
                async with secondary_indexes_set_aside(connection, REGISTRY_TABLES):
                    await copy_registry(connection, maker=maker, sizes=sizes, on_chunk=count)
                    bar.update(task, description="indexes")
                await reset_sequences(connection)
                bar.update(task, description="changes")
                await _record_seed_release(connection, households=households, totals=totals)
                bar.update(task, description="analyse")
                await connection.execute(f"ANALYZE {', '.join(REGISTRY_TABLES)}")
                bar.update(task, description="done")
    finally:
        await connection.close()
    return SeedSummary(
        households=households,
        persons=totals["persons"],
        assistance_receipts=totals["receipts"],
        regions_added=regions_added,
        seconds=time.perf_counter() - started,
    )


SEED_RELEASE = "seed"


async def _record_seed_release(
    connection: asyncpg.Connection, *, households: int, totals: dict[str, int]
) -> None:
    """Release ``seed``: every row in a program's scope ENTERED."""
    release = await begin_release(connection, release_id=SEED_RELEASE, kind=ReleaseKind.SEED)
    release.counts = Counts(households_added=households, persons_added=totals["persons"])
    await create_events_table(connection)
    scopes = await applied_scopes(connection)
    await record_scope_changes(connection, old=[], new=scopes)
    await publish_events(connection, release)


async def _make_room(connection: asyncpg.Connection, *, replace: bool) -> None:
    """Empty the registry tables; refuse if they hold families and ``replace`` is false.

    Emptying an already empty registry is not a no-op: it restarts the id
    sequences (so ids are the same on every run) and lets PostgreSQL skip
    some work for rows loaded into a table truncated in the same transaction.
    """
    await connection.execute(f"LOCK TABLE {', '.join(REGISTRY_TABLES)} IN EXCLUSIVE MODE")
    existing = await connection.fetchval(
        "SELECT count(*) FROM (SELECT 1 FROM households LIMIT 1) h"
    )
    if existing and not replace:
        raise RegistryNotEmpty(
            "the registry already holds households; seed an empty database, "
            "or pass --replace to delete every household, person and receipt first"
        )
    await connection.execute(f"TRUNCATE {', '.join(REGISTRY_TABLES)} RESTART IDENTITY")
    await connection.execute("LOCK TABLE change_positions IN EXCLUSIVE MODE")
    if existing:
        await connection.execute("TRUNCATE program_changes, webhook_deliveries")
        await connection.execute("UPDATE policy_versions SET release_no = NULL")
        await connection.execute("DELETE FROM releases")
    else:
        await connection.execute("DELETE FROM releases WHERE id = $1", SEED_RELEASE)
