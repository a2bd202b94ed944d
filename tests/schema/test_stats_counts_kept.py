"""``householdStats`` keeps a program's counts until the registry records a release.

The registry changes only in releases (seed, imports, policy changes), so a
request asked before against the same releases on the same day is answered
from the counts kept (``schema.stats``), and a release committed since is
counted again. The test changes rows *without* a release first, which the
gateway must not notice (proof that nothing was counted), then records a
release, after which the answer is the registry's again: equal to a root
that kept nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from db.engine import APP_ROLE, with_user
from policies import load_policies
from policies.loader import PACKAGED_POLICY_DIR
from schema import suppression
from schema.execute import Caller
from schema.overlap import AssistanceOverlapRoot
from schema.stats import HouseholdStatsRoot

POLICIES = load_policies(PACKAGED_POLICY_DIR)
BAPPEDA = POLICIES.programs["bappeda-statistik"]
BY_DECILE = {"groupBy": ["WELFARE_DECILE"]}


@pytest.fixture
async def owner_and_app(
    make_database: Callable[[], Awaitable[str]],
) -> AsyncIterator[tuple[asyncpg.Connection, asyncpg.Pool]]:
    url = await make_database()
    owner = await asyncpg.connect(url)
    pool = await asyncpg.create_pool(
        with_user(url, user=APP_ROLE, password=None), min_size=0, max_size=2
    )
    assert pool is not None
    yield owner, pool
    await pool.close()
    await owner.close()


async def ask(
    pool: asyncpg.Pool, root: HouseholdStatsRoot, args: dict[str, Any], program: Any = BAPPEDA
) -> Any:
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        await connection.execute("SELECT set_config('regsosek.program', $1, true)", program.name)
        return await root.value(
            caller=Caller("counts-kept-test", program), args=args, connection=connection
        )


async def move_deciles_without_a_release(owner: asyncpg.Connection) -> None:
    """A hundred families from desil 1 to 10 behind the gateway's back (no release)."""
    moved = await owner.execute(
        "UPDATE households SET welfare_decile = 10 WHERE id IN"
        " (SELECT id FROM households WHERE welfare_decile = 1 ORDER BY id LIMIT 100)"
    )
    assert moved == "UPDATE 100"


async def test_counts_are_kept_until_a_release_is_recorded(
    owner_and_app: tuple[asyncpg.Connection, asyncpg.Pool],
) -> None:
    owner, pool = owner_and_app
    root = HouseholdStatsRoot()
    before = await ask(pool, root, BY_DECILE)
    await move_deciles_without_a_release(owner)
    assert await ask(pool, root, BY_DECILE) == before  # kept: nothing was counted
    truth = await ask(pool, HouseholdStatsRoot(), BY_DECILE)
    assert truth != before
    await owner.execute(
        "INSERT INTO releases (id, kind, imported_at) VALUES ('test-release', 'import', now())"
    )
    assert await ask(pool, root, BY_DECILE) == truth


async def test_assistance_overlap_counts_every_time(
    owner_and_app: tuple[asyncpg.Connection, asyncpg.Pool],
) -> None:
    """Assistance reports arrive between releases, so the overlap keeps no counts."""
    assert HouseholdStatsRoot.counts_follow_releases
    assert not AssistanceOverlapRoot.counts_follow_releases
    owner, pool = owner_and_app
    root = HouseholdStatsRoot()
    root.counts_follow_releases = False
    before = await ask(pool, root, BY_DECILE)
    await move_deciles_without_a_release(owner)
    assert await ask(pool, root, BY_DECILE) != before


async def test_a_k1_program_s_tables_are_summed_once_per_population_and_level(
    owner_and_app: tuple[asyncpg.Connection, asyncpg.Pool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """bps-admin (k = 1) protects nothing; its tables are sums of the counts, kept with them
    per level, and equal to what a root that keeps nothing answers."""
    _, pool = owner_and_app
    program = POLICIES.programs["bps-admin"]
    sums: list[int] = []
    real = suppression.protect

    def counted_protect(*args: Any, **kwargs: Any) -> Any:
        sums.append(kwargs["k"])
        return real(*args, **kwargs)

    monkeypatch.setattr("schema.stats.protect", counted_protect)
    root = HouseholdStatsRoot()
    by_kecamatan = {"groupBy": ["KECAMATAN", "WELFARE_DECILE"]}
    first = await ask(pool, root, by_kecamatan, program)
    assert await ask(pool, root, by_kecamatan, program) == first
    assert sums == [1]
    by_desa = await ask(pool, root, {"groupBy": ["DESA"]}, program)
    assert sums == [1, 1]  # another level: summed once more
    assert first == await ask(pool, HouseholdStatsRoot(), by_kecamatan, program)
    assert by_desa == await ask(pool, HouseholdStatsRoot(), {"groupBy": ["DESA"]}, program)
