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

from typing import Any

import asyncpg
import pytest

from policies import load_policies
from policies.loader import PACKAGED_POLICY_DIR
from schema import suppression
from schema.overlap import AssistanceOverlapRoot
from schema.stats import HouseholdStatsRoot
from tests.schema import counts_support
from tests.schema.conftest import Registry
from tests.schema.counts_support import move_deciles_without_a_release

POLICIES = load_policies(PACKAGED_POLICY_DIR)
BAPPEDA = POLICIES.programs["bappeda-statistik"]
BY_DECILE = {"groupBy": ["WELFARE_DECILE"]}


@pytest.fixture
def owner_and_app(registry: Registry) -> tuple[asyncpg.Connection, asyncpg.Pool]:
    return registry.owner, registry.app


async def ask(
    pool: asyncpg.Pool, root: HouseholdStatsRoot, args: dict[str, Any], program: Any = BAPPEDA
) -> Any:
    return await counts_support.ask(pool, root, args, program)


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
