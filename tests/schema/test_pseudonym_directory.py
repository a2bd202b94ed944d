"""A pseudonym program's directory resolves the same persons as the scan, without the scan
(``schema.pseudonym_directory``, migration 0013).

The proof that the directory is used: a person whose directory row is removed behind the
gateway's back is no longer found while the directory is current (the scan would find them),
and is found again once the directory no longer matches the registry (the old way).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from db.engine import APP_ROLE, with_user
from policies import load_policies
from policies.loader import PACKAGED_POLICY_DIR
from policies.masks import pseudonym
from schema.pseudonym_directory import NamedPersons, build, build_all, pseudonym_programs

POLICIES = load_policies(PACKAGED_POLICY_DIR)
DINKES = POLICIES.programs["dinkes-pbi"]
KEY = os.urandom(32)
IN_SCOPE = (
    "SELECT p.id, p.nik FROM persons p JOIN households h ON h.id = p.household_id"
    " WHERE h.kabupaten_code = '3509' AND h.welfare_decile <= 5 AND p.nik IS NOT NULL"
)


@pytest.fixture
async def database(
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


async def find(pool: asyncpg.Pool, named: NamedPersons, tokens: list[str]) -> set[int]:
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        await connection.execute("SELECT set_config('regsosek.program', $1, true)", DINKES.name)
        return {int(row["id"]) for row in await named.find(connection, DINKES, tokens)}


def token(nik: str, key: bytes = KEY) -> str:
    return pseudonym(nik, program=DINKES.name, pseudonym_key=key)


async def test_the_directory_resolves_the_scope_s_persons_and_is_what_resolves_them(
    database: tuple[asyncpg.Connection, asyncpg.Pool],
) -> None:
    owner, pool = database
    assert [p.name for p in pseudonym_programs(POLICIES, DINKES.agreement.valid_from)] == [
        DINKES.name
    ]
    scope = await owner.fetch(IN_SCOPE + " ORDER BY p.id")
    assert await build(pool, DINKES, pseudonym_key=KEY) == len(scope)
    assert await build(pool, DINKES, pseudonym_key=KEY) is None  # current: nothing to do
    outside = await owner.fetchrow(
        "SELECT p.id, p.nik FROM persons p JOIN households h ON h.id = p.household_id"
        " WHERE h.welfare_decile >= 8 AND p.nik IS NOT NULL LIMIT 1"
    )
    chosen = scope[:3]
    tokens = [token(row["nik"]) for row in chosen] + [token(outside["nik"]), "not-a-token"]
    named = NamedPersons(KEY)
    assert await find(pool, named, tokens) == {row["id"] for row in chosen}
    # Behind the gateway's back: one person's directory row removed. A current directory is
    # what resolves, so they are not found; a stale one is not used, and the scan finds them.
    await owner.execute("DELETE FROM pseudonyms WHERE person_id = $1", chosen[0]["id"])
    assert await find(pool, named, tokens) == {row["id"] for row in chosen[1:]}
    await owner.execute(
        "INSERT INTO releases (id, kind, imported_at) VALUES ('pseudonym-test', 'import', now())"
    )
    assert await find(pool, named, tokens) == {row["id"] for row in chosen}
    # The worker's rebuild for the new release lists everyone again.
    built = await build_all(pool, POLICIES, pseudonym_key=KEY, today=DINKES.agreement.valid_from)
    assert [(b.program, b.persons) for b in built] == [(DINKES.name, len(scope))]
    assert await find(pool, named, tokens) == {row["id"] for row in chosen}


async def test_a_directory_built_under_another_key_is_not_used(
    database: tuple[asyncpg.Connection, asyncpg.Pool],
) -> None:
    owner, pool = database
    await build(pool, DINKES, pseudonym_key=KEY)
    other = os.urandom(32)
    chosen = await owner.fetch(IN_SCOPE + " ORDER BY p.id LIMIT 2")
    tokens = [token(row["nik"], other) for row in chosen]
    assert await find(pool, NamedPersons(other), tokens) == {row["id"] for row in chosen}
    # The old key's tokens name no one under the new key.
    assert await find(pool, NamedPersons(other), [token(chosen[0]["nik"])]) == set()


async def test_a_program_reads_only_its_own_directory(
    database: tuple[asyncpg.Connection, asyncpg.Pool],
) -> None:
    owner, pool = database
    await build(pool, DINKES, pseudonym_key=KEY)
    assert await owner.fetchval("SELECT count(*) FROM pseudonyms") > 0
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        await connection.execute("SELECT set_config('regsosek.program', 'dinsos-pkh', true)")
        assert await connection.fetchval("SELECT count(*) FROM pseudonyms") == 0
        assert await connection.fetchval("SELECT count(*) FROM pseudonym_directories") == 0
