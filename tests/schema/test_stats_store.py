"""A program's whole ``householdStats`` population is counted once for every process
(``schema.stats_store``, table ``statistics_counts``).

As in ``test_stats_counts_kept``, rows are changed *without* a release behind the gateway's
back: a root that answers the old counts afterwards read them from the table (proof that it
did not count), and a root that keeps nothing shows what counting would have given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from api.webhooks.worker import webhook_worker
from db.engine import APP_ROLE, with_user
from db.models.releases import ReleaseKind
from db.releases.ledger import begin_release
from policies import load_policies
from policies.loader import PACKAGED_POLICY_DIR
from schema.protection import InlineProtector
from schema.stats import HouseholdStatsRoot
from schema.stats_fill import fill, whole_populations
from schema.stats_store import FILL_EVERY, SharedCounts
from schema.suppression import Protection
from schema.suppression_table import Dimension, Key
from tests.schema import counts_support
from tests.schema.conftest import Registry
from tests.schema.counts_support import move_deciles_without_a_release
from tests.support import make_settings

POLICIES = load_policies(PACKAGED_POLICY_DIR)
BAPPEDA = POLICIES.programs["bappeda-statistik"]
BPS = POLICIES.programs["bps-admin"]
BY_KECAMATAN = {"groupBy": ["KECAMATAN", "WELFARE_DECILE"]}
BY_DESA = {"groupBy": ["DESA"]}
BY_PROGRAM = {"groupBy": ["KECAMATAN", "ASSISTANCE_PROGRAM"]}


class Counting:
    """The real protector, counting the protections it made."""

    def __init__(self) -> None:
        self.calls = 0

    async def protect(
        self, counts: Mapping[Key, int], *, dimensions: Sequence[Dimension], k: int
    ) -> Protection:
        self.calls += 1
        return await InlineProtector().protect(counts, dimensions=dimensions, k=k)


def reading(protector: Counting | None = None) -> HouseholdStatsRoot:
    """A new process's root that reads ``statistics_counts`` and stores nothing."""
    return HouseholdStatsRoot(shared=SharedCounts(None), protector=protector)


@pytest.fixture
def database(registry: Registry) -> tuple[str, asyncpg.Connection, asyncpg.Pool]:
    return registry.url, registry.owner, registry.app


async def ask(
    pool: asyncpg.Pool, root: HouseholdStatsRoot, args: dict[str, Any], program: Any = BAPPEDA
) -> Any:
    return await counts_support.ask(pool, root, args, program)


async def record_a_release(owner: asyncpg.Connection, name: str) -> None:
    await owner.execute(
        "INSERT INTO releases (id, kind, imported_at) VALUES ($1, 'import', now())", name
    )


async def stored(owner: asyncpg.Connection, program: str | None = None) -> int:
    return int(
        await owner.fetchval(
            "SELECT count(*) FROM statistics_counts WHERE $1::text IS NULL OR program = $1",
            program,
        )
    )


async def test_a_population_one_process_counted_is_read_by_every_other(
    database: tuple[str, asyncpg.Connection, asyncpg.Pool],
) -> None:
    _, owner, pool = database
    first = await ask(pool, HouseholdStatsRoot(shared=SharedCounts(pool)), BY_KECAMATAN)
    assert await stored(owner, BAPPEDA.name) == 1
    await move_deciles_without_a_release(owner)
    truth = await ask(pool, HouseholdStatsRoot(), BY_KECAMATAN)
    assert truth != first
    # Another process (a fresh root, nothing in memory) reads what the first counted.
    assert await ask(pool, HouseholdStatsRoot(shared=SharedCounts(None)), BY_KECAMATAN) == first
    # Every region level reads the same population: DESA is no second count, and names
    # are the registry's for the level asked.
    by_desa = await ask(pool, HouseholdStatsRoot(shared=SharedCounts(pool)), BY_DESA)
    assert await stored(owner, BAPPEDA.name) == 1
    names = dict(await owner.fetch("SELECT code, name FROM regions WHERE length(code) = 10"))
    shown = [cell["key"] for cell in by_desa]
    assert shown
    assert all(key["regionName"] == names[key["regionCode"]] for key in shown)
    # A release is a new version: counted again (and stored under it).
    await record_a_release(owner, "stats-store-release")
    shared = HouseholdStatsRoot(shared=SharedCounts(pool))
    assert await ask(pool, shared, BY_KECAMATAN) == truth
    assert await stored(owner, BAPPEDA.name) == 2


async def test_fill_counts_every_whole_population_before_a_request(
    database: tuple[str, asyncpg.Connection, asyncpg.Pool],
) -> None:
    _, owner, pool = database
    today = date.today()
    populations = whole_populations(POLICIES, today)
    filled = await fill(pool, POLICIES, today=today)
    assert len(filled) == len(populations) == await stored(owner)
    assert {(f.program, f.by_program) for f in filled} >= {
        (BAPPEDA.name, False),
        (BAPPEDA.name, True),
        ("dinsos-pkh", False),
    }
    assert all(f.cells > 0 for f in filled)
    assert await fill(pool, POLICIES, today=today) == []  # stored: nothing counted twice
    protected = await owner.fetch(
        "SELECT program, protected IS NOT NULL AS stored FROM statistics_counts"
    )
    # Every program with k > 1 has its protection stored; bps-admin (k = 1) protects nothing.
    assert {row["program"] for row in protected if row["stored"]} == {
        f.program for f in filled if f.program != BPS.name
    }
    assert not any(row["stored"] for row in protected if row["program"] == BPS.name)
    before = await ask(pool, HouseholdStatsRoot(), BY_KECAMATAN)
    by_program = await ask(pool, HouseholdStatsRoot(), BY_PROGRAM)
    await move_deciles_without_a_release(owner)
    counting = Counting()
    assert await ask(pool, reading(counting), BY_KECAMATAN) == before
    assert await ask(pool, reading(counting), BY_PROGRAM) == by_program
    assert counting.calls == 0  # neither population was protected again
    assert await ask(pool, HouseholdStatsRoot(), BY_KECAMATAN) != before
    await record_a_release(owner, "stats-store-fill")
    assert len(await fill(pool, POLICIES, today=today)) == len(populations)


async def test_a_protection_one_process_made_is_read_by_every_other(
    database: tuple[str, asyncpg.Connection, asyncpg.Pool],
) -> None:
    _, owner, pool = database
    first = Counting()
    answer = await ask(
        pool, HouseholdStatsRoot(shared=SharedCounts(pool), protector=first), BY_PROGRAM
    )
    assert first.calls == 1
    assert (
        await owner.fetchval("SELECT count(*) FROM statistics_counts WHERE protected IS NOT NULL")
        == 1
    )
    assert any(cell["suppressed"] for cell in answer)  # k = 10 hides something
    second = Counting()
    assert await ask(pool, reading(second), BY_PROGRAM) == answer
    assert second.calls == 0


async def test_a_protection_made_for_other_counts_or_by_other_code_is_not_read(
    database: tuple[str, asyncpg.Connection, asyncpg.Pool],
) -> None:
    """The tag names the population and the suppression code: a stored protection that was
    made for anything else (here: a tag that matches nothing) is computed again, and the
    answer is what this code makes of these counts."""
    _, owner, pool = database
    answer = await ask(pool, HouseholdStatsRoot(shared=SharedCounts(pool)), BY_PROGRAM)
    # A protection that hides nothing, under a tag made for something else.
    await owner.execute(
        "UPDATE statistics_counts SET protected = '[]', protected_for = repeat('0', 64)"
    )
    again = Counting()
    assert await ask(pool, reading(again), BY_PROGRAM) == answer
    assert again.calls == 1


async def test_a_filtered_population_is_neither_read_nor_stored(
    database: tuple[str, asyncpg.Connection, asyncpg.Pool],
) -> None:
    """bps-admin (k = 1) filters in SQL: its answer depends on the filter, never on the table."""
    _, owner, pool = database
    filtered = {"groupBy": ["WELFARE_DECILE"], "filter": {"regionCode": "3509"}}
    root = HouseholdStatsRoot(shared=SharedCounts(pool))
    first = await ask(pool, root, filtered, BPS)
    assert await stored(owner, BPS.name) == 0
    await fill(pool, POLICIES, today=date.today())
    before = await stored(owner)
    await move_deciles_without_a_release(owner)
    truth = await ask(pool, HouseholdStatsRoot(), filtered, BPS)
    assert truth != first
    assert await ask(pool, HouseholdStatsRoot(shared=SharedCounts(pool)), filtered, BPS) == truth
    assert await stored(owner) == before


async def test_a_program_reads_and_writes_only_its_own_counts(
    database: tuple[str, asyncpg.Connection, asyncpg.Pool],
) -> None:
    _, owner, pool = database
    await fill(pool, POLICIES, today=date.today())
    mine = await stored(owner, "dinsos-pkh")
    assert mine > 0
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT set_config('regsosek.program', 'dinsos-pkh', true)")
        assert await connection.fetchval("SELECT count(*) FROM statistics_counts") == mine
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute(
                "INSERT INTO statistics_counts (program, statement, version, rows)"
                " VALUES ('bappeda-statistik', repeat('a', 64), 'v', '[]')"
            )


async def test_unreadable_stored_counts_are_counted_again(
    database: tuple[str, asyncpg.Connection, asyncpg.Pool],
) -> None:
    _, owner, pool = database
    await fill(pool, POLICIES, today=date.today())
    await move_deciles_without_a_release(owner)
    await owner.execute("UPDATE statistics_counts SET rows = '[[\"3509\", 1]]'")
    truth = await ask(pool, HouseholdStatsRoot(), BY_KECAMATAN)
    assert await ask(pool, HouseholdStatsRoot(shared=SharedCounts(None)), BY_KECAMATAN) == truth


async def test_a_count_that_cannot_be_stored_is_still_answered(
    database: tuple[str, asyncpg.Connection, asyncpg.Pool],
) -> None:
    url, owner, pool = database
    closed = await asyncpg.create_pool(
        with_user(url, user=APP_ROLE, password=None), min_size=0, max_size=1
    )
    assert closed is not None
    await closed.close()
    answer = await ask(pool, HouseholdStatsRoot(shared=SharedCounts(closed)), BY_KECAMATAN)
    assert answer == await ask(pool, HouseholdStatsRoot(), BY_KECAMATAN)
    assert await stored(owner) == 0


async def wait_for_stored(owner: asyncpg.Connection, expected: int, seconds: float) -> int:
    for _ in range(int(seconds * 10)):
        found = await stored(owner)
        if found == expected:
            return found
        await asyncio.sleep(0.1)
    return await stored(owner)


async def test_the_worker_fills_when_it_starts_and_as_soon_as_a_release_commits(
    database: tuple[str, asyncpg.Connection, asyncpg.Pool], tmp_path: Path
) -> None:
    url, owner, _ = database
    expected = len(whole_populations(POLICIES, date.today()))
    settings = make_settings(url, tmp_path / "data")
    async with webhook_worker(settings, owner_url=url) as worker:
        consuming = asyncio.create_task(worker.queue.run(dequeue_timeout=timedelta(seconds=1)))
        try:
            assert await wait_for_stored(owner, expected, 30) == expected
            directory = "SELECT release_no, updates FROM pseudonym_directories WHERE program = $1"
            first = await owner.fetchrow(directory, "dinkes-pbi")
            assert first is not None  # built whole at start, before the statistics
            assert first["updates"] == 0
            async with owner.transaction():
                record = await begin_release(
                    owner, release_id="stats-store-job", kind=ReleaseKind.IMPORT
                )
            # The release's job wakes the worker: long before its next periodic look (60 s).
            assert await wait_for_stored(owner, 2 * expected, 30) == 2 * expected
            # The pseudonym directory was brought up to the release first, by an update.
            assert tuple(await owner.fetchrow(directory, "dinkes-pbi")) == (record.no, 1)
        finally:
            worker.stop()
            await asyncio.wait_for(consuming, 30)
    assert FILL_EVERY >= 60
