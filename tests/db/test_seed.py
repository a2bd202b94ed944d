"""The synthetic registry: deterministic, valid, and skewed like the real one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from db.derived import refresh_household_derived
from db.seed import RegistryNotEmpty, seed_registry
from db.seed.regions import KECAMATAN
from tests.db.support import fingerprints
from tests.support import TEST_HOUSEHOLDS, TEST_SEED, MakeDatabase

DIFFICULTY = " OR ".join(
    f"difficulty_{domain} <> 'NONE'"
    for domain in (
        "seeing", "hearing", "walking", "hands", "remembering", "behaviour", "communicating",
        "self_care",
    )
)  # fmt: skip


@pytest.fixture
async def registry(registry_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(registry_url)
    yield connection
    await connection.close()


async def test_same_seed_gives_the_same_rows_and_another_seed_other_rows(
    make_database: Callable[[], Awaitable[str]],
) -> None:
    url = await make_database()
    fresh = await fingerprints(url, timestamps=False)
    await seed_registry(url, households=TEST_HOUSEHOLDS, seed=TEST_SEED, replace=True)
    assert await fingerprints(url, timestamps=False) == fresh
    await seed_registry(url, households=TEST_HOUSEHOLDS, seed=TEST_SEED + 1, replace=True)
    other = await fingerprints(url, timestamps=False)
    assert other["regions"] == fresh["regions"]
    for table in ("households", "persons", "assistance_receipts"):
        assert other[table] != fresh[table], table


async def test_seeding_a_registry_that_holds_households_is_refused_without_replace(
    make_database: Callable[[], Awaitable[str]],
) -> None:
    url = await make_database()
    before = await fingerprints(url)
    with pytest.raises(RegistryNotEmpty, match="--replace"):
        await seed_registry(url, households=10, seed=1)
    assert await fingerprints(url) == before

    summary = await seed_registry(url, households=10, seed=1, replace=True)
    connection = await asyncpg.connect(url)
    try:
        ids = await connection.fetchval("SELECT array_agg(id ORDER BY id) FROM households")
        persons = await connection.fetchval("SELECT count(*) FROM persons")
    finally:
        await connection.close()
    assert ids == list(range(1, 11))
    assert persons == summary.persons


async def test_several_chunks_keep_niks_and_kk_numbers_unique(new_database: MakeDatabase) -> None:
    url = await new_database()
    # Three chunks (two whole, one part): the id, NIK and KK ranges of each chunk must follow on.
    summary = await seed_registry(url, households=2_500, seed=5, chunk_households=1_000)
    connection = await asyncpg.connect(url)
    try:
        counts = await connection.fetchrow(
            "SELECT (SELECT count(*) FROM households) AS households,"
            " (SELECT count(DISTINCT kk_number) FROM households) AS kks,"
            " (SELECT count(*) FROM persons) AS persons,"
            " (SELECT count(DISTINCT nik) FROM persons) AS niks,"
            " (SELECT max(id) FROM persons) AS last_person"
        )
        next_id = await connection.fetchval(
            "SELECT nextval(pg_get_serial_sequence('persons', 'id'))"
        )
    finally:
        await connection.close()
    assert counts["households"] == counts["kks"] == 2_500
    assert counts["persons"] == counts["niks"] == counts["last_person"] == summary.persons
    assert next_id == summary.persons + 1


async def test_regions_are_jember_with_its_31_real_kecamatan_and_248_desa(
    registry: asyncpg.Connection,
) -> None:
    kecamatan = await registry.fetch(
        "SELECT code, name FROM regions WHERE level = 'KECAMATAN' AND parent_code = '3509'"
        " ORDER BY code"
    )
    assert [(row["code"], row["name"]) for row in kecamatan] == [
        (k.code, k.name) for k in KECAMATAN
    ]
    assert ("3509720", "SUMBERSARI") in [(row["code"], row["name"]) for row in kecamatan]
    desa = await registry.fetch(
        "SELECT parent_code, count(*) AS n, bool_and(code ~ ('^' || parent_code || '[0-9]{3}$'))"
        " AS nested FROM regions WHERE level = 'DESA' GROUP BY parent_code ORDER BY parent_code"
    )
    assert sum(row["n"] for row in desa) == 248
    assert {row["parent_code"]: row["n"] for row in desa} == {k.code: k.villages for k in KECAMATAN}
    assert all(row["nested"] for row in desa)
    assert (
        await registry.fetchval("SELECT name FROM regions WHERE code = '35' AND level = 'PROVINSI'")
        == "JAWA TIMUR"
    )


async def test_niks_are_well_formed_unique_and_carry_birth_date_sex_and_kecamatan(
    registry: asyncpg.Connection,
) -> None:
    bad = await registry.fetch(
        """
        WITH ordinal AS (
            SELECT code, row_number() OVER (ORDER BY code) AS n
            FROM regions WHERE level = 'KECAMATAN' AND parent_code = '3509'
        )
        SELECT p.nik, p.sex, p.birth_date FROM persons p
        JOIN households h ON h.id = p.household_id
        JOIN ordinal o ON o.code = h.kecamatan_code
        WHERE p.nik !~ '^[0-9]{16}$'
           OR left(p.nik, 6) <> '3509' || lpad(o.n::text, 2, '0')
           OR substr(p.nik, 7, 2)::int
              <> extract(day FROM p.birth_date) + CASE p.sex WHEN 'FEMALE' THEN 40 ELSE 0 END
           OR substr(p.nik, 9, 4) <> to_char(p.birth_date, 'MMYY')
           OR substr(p.nik, 13, 4) = '0000'
        """
    )
    assert bad == []
    assert await registry.fetchval("SELECT count(*) = count(DISTINCT nik) FROM persons")
    women = await registry.fetchval(
        "SELECT count(*) FROM persons WHERE sex = 'FEMALE' AND substr(nik, 7, 2)::int > 40"
    )
    assert women == await registry.fetchval("SELECT count(*) FROM persons WHERE sex = 'FEMALE'")


async def test_households_are_consistent_with_their_members(registry: asyncpg.Connection) -> None:
    bad = await registry.fetch(
        """
        SELECT h.id FROM households h
        JOIN LATERAL (
            SELECT count(*) AS n,
                   array_agg(member_no ORDER BY member_no) AS numbers,
                   array_agg(relationship_to_head ORDER BY member_no) AS roles,
                   max(birth_date) AS youngest
            FROM persons p WHERE p.household_id = h.id
        ) m ON true
        WHERE h.member_count <> m.n
           OR m.numbers <> array(SELECT generate_series(1, m.n)::smallint)
           OR m.roles[1] <> 'HEAD'
           OR 'HEAD' = ANY(m.roles[2:])
           OR h.youngest_birth_date <> m.youngest
           OR h.kk_number !~ '^3509[0-9]{12}$'
           OR h.sls_code !~ '^[0-9]{14}$' OR NOT starts_with(h.sls_code, h.desa_code)
           OR h.welfare_decile NOT BETWEEN 1 AND 10
        """
    )
    assert bad == []
    assert await registry.fetchval("SELECT count(*) = count(DISTINCT kk_number) FROM households")


async def test_families_are_plausible(registry: asyncpg.Connection) -> None:
    age = "extract(year FROM age(DATE '2022-10-15', {}))"
    implausible = await registry.fetch(
        f"""
        SELECT p.id, p.relationship_to_head, p.sex, p.pregnant FROM persons p
        JOIN persons head ON head.household_id = p.household_id
             AND head.relationship_to_head = 'HEAD'
        WHERE (p.pregnant AND (p.sex <> 'FEMALE' OR p.marital_status <> 'MARRIED'
                               OR {age.format("p.birth_date")} NOT BETWEEN 15 AND 49))
           OR (p.relationship_to_head = 'SPOUSE'
               AND (p.sex = head.sex OR head.marital_status <> 'MARRIED'
                    OR {age.format("p.birth_date")} < 17))
           OR (p.relationship_to_head = 'HEAD' AND {age.format("p.birth_date")} < 17)
           OR (p.relationship_to_head = 'CHILD' AND p.birth_date <= head.birth_date)
           OR (p.relationship_to_head = 'PARENT_OR_IN_LAW' AND p.birth_date >= head.birth_date)
        """
    )
    assert implausible == []
    married_heads = await registry.fetchval(
        "SELECT count(*) FROM persons WHERE relationship_to_head = 'HEAD'"
        " AND marital_status = 'MARRIED'"
    )
    spouses = await registry.fetchval(
        "SELECT count(*) FROM persons WHERE relationship_to_head = 'SPOUSE'"
    )
    assert married_heads == spouses


async def test_derived_columns_equal_a_recomputation(registry: asyncpg.Connection) -> None:
    async with registry.transaction():
        assert await refresh_household_derived(registry) == 0
        assert await registry.fetchval(
            "SELECT count(*) FROM households WHERE cardinality(received_programs) > 0"
        ) == await registry.fetchval("SELECT count(DISTINCT household_id) FROM assistance_receipts")


async def test_distributions_are_skewed_like_the_registry(registry: asyncpg.Connection) -> None:
    families = await registry.fetchrow(
        """
        SELECT avg((welfare_decile <= 4)::int) AS low_deciles,
               avg((head_sex = 'FEMALE')::int) AS woman_headed,
               avg(member_count) AS mean_members
        FROM households
        """
    )
    assert 0.35 <= families["low_deciles"] <= 0.45
    assert 0.12 <= families["woman_headed"] <= 0.18
    assert 3 <= families["mean_members"] <= 5
    difficulty = await registry.fetchval(f"SELECT avg(({DIFFICULTY})::int) FROM persons")
    assert 0.018 <= difficulty <= 0.032

    for marker in ("floor_material = 'EARTH'", "toilet = 'NONE'", "cooking_fuel = 'FIREWOOD'"):
        low, rest, share_low = await registry.fetchrow(
            f"""
            SELECT avg(({marker})::int) FILTER (WHERE welfare_decile <= 3),
                   avg(({marker})::int) FILTER (WHERE welfare_decile > 3),
                   avg((welfare_decile <= 3)::int) FILTER (WHERE {marker})
            FROM households
            """
        )
        assert low >= 3 * rest, marker
        assert share_low >= 0.6, marker

    assisted_low = await registry.fetchval(
        "SELECT avg((welfare_decile <= 4)::int) FROM households"
        " WHERE cardinality(received_programs) > 0"
    )
    assert assisted_low >= 0.7
