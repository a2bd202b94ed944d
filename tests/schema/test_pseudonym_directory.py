"""A pseudonym program's directory resolves the same persons as the scan, without the scan
(``schema.pseudonym_directory``, migration 0013).

The proof that the directory is used: a person whose directory row is removed behind the
gateway's back is no longer found while the directory is current (the scan would find them),
and is found again once the directory no longer matches the registry (the old way).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import pytest

from policies import Program, load_policies
from policies.conditions import DecileRange
from policies.loader import PACKAGED_POLICY_DIR
from policies.masks import pseudonym
from policies.model import Purpose
from schema.pseudonym_build import COMPACT_AFTER, Built, build, build_all, pseudonym_programs
from schema.pseudonym_directory import NamedPersons, prefix
from tests.releases.support import family_numbers, household, import_release, rows_of
from tests.schema.conftest import Registry

POLICIES = load_policies(PACKAGED_POLICY_DIR)
DINKES = POLICIES.programs["dinkes-pbi"]
KEY = os.urandom(32)
IN_SCOPE = (
    "SELECT p.id, p.nik FROM persons p JOIN households h ON h.id = p.household_id"
    " WHERE h.kabupaten_code = '3509' AND h.welfare_decile <= 5 AND p.nik IS NOT NULL"
)


@pytest.fixture
def database(registry: Registry) -> tuple[asyncpg.Connection, asyncpg.Pool]:
    return registry.owner, registry.app


class Recording(NamedPersons):
    """The real lookup, recording which way each statement looked (directory or scan) and
    for how many tokens."""

    def __init__(self, key: bytes) -> None:
        super().__init__(key)
        self.ways: list[tuple[str, int]] = []

    async def _fetch(
        self,
        connection: asyncpg.Connection,
        program: Program,
        tokens: Sequence[str],
        *,
        directory: bool,
    ) -> list[asyncpg.Record]:
        self.ways.append(("directory" if directory else "scan", len(tokens)))
        return await super()._fetch(connection, program, tokens, directory=directory)


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
    assert await build(pool, DINKES, pseudonym_key=KEY) == Built(DINKES.name, len(scope))
    assert await build(pool, DINKES, pseudonym_key=KEY) is None  # current: nothing to do
    outside = await owner.fetchrow(
        "SELECT p.id, p.nik FROM persons p JOIN households h ON h.id = p.household_id"
        " WHERE h.welfare_decile >= 8 AND p.nik IS NOT NULL LIMIT 1"
    )
    chosen = scope[:3]
    tokens = [token(row["nik"]) for row in chosen] + [token(outside["nik"]), "not-a-token"]
    everyone = {row["id"] for row in chosen}
    named = Recording(KEY)
    assert await find(pool, named, tokens) == everyone
    assert named.ways == [("directory", 5)]
    # Behind the gateway's back: one person's directory row removed. A current directory
    # answers alone (the scan would find them): that person is not found.
    await owner.execute("DELETE FROM pseudonyms WHERE person_id = $1", chosen[0]["id"])
    named.ways.clear()
    assert await find(pool, named, tokens) == everyone - {chosen[0]["id"]}
    assert named.ways == [("directory", 5)]
    # A release: the directory is an earlier one's. It still answers whom it lists, and only
    # the tokens it does not resolve are looked for the old way (and found, if in scope).
    await owner.execute(
        "INSERT INTO releases (id, kind, imported_at) VALUES ('pseudonym-test', 'import', now())"
    )
    named.ways.clear()
    assert await find(pool, named, tokens) == everyone
    assert named.ways == [("directory", 5), ("scan", 3)]
    # The worker's update for the new release: it changed no family, so nothing is listed
    # again, and the directory (current once more) answers alone: the person removed behind
    # its back stays unfound.
    built = await build_all(pool, POLICIES, pseudonym_key=KEY, today=DINKES.agreement.valid_from)
    assert built == [Built(DINKES.name, len(scope), families=0)]
    named.ways.clear()
    assert await find(pool, named, tokens) == everyone - {chosen[0]["id"]}
    assert named.ways == [("directory", 5)]
    # After COMPACT_AFTER updates the current directory is rebuilt whole: everyone again.
    await owner.execute(
        "UPDATE pseudonym_directories SET updates = $1 WHERE program = $2",
        COMPACT_AFTER,
        DINKES.name,
    )
    assert await build(pool, DINKES, pseudonym_key=KEY) == Built(DINKES.name, len(scope))
    assert await build(pool, DINKES, pseudonym_key=KEY) is None
    named.ways.clear()
    assert await find(pool, named, tokens) == everyone
    assert named.ways == [("directory", 5)]


def prefix_of(nik: str, key: bytes = KEY) -> int:
    value = prefix(token(nik, key))
    assert value is not None
    return value


async def entries(owner: asyncpg.Connection) -> set[tuple[int, int, int]]:
    rows = await owner.fetch(
        "SELECT prefix, person_id, household_id FROM pseudonyms WHERE program = $1", DINKES.name
    )
    return {(row[0], row[1], row[2]) for row in rows}


async def expected_entries(owner: asyncpg.Connection) -> set[tuple[int, int, int]]:
    """What a whole build lists: computed here from the scope and the key, independently."""
    rows = await owner.fetch(IN_SCOPE.replace("SELECT p.id,", "SELECT p.household_id, p.id,"))
    return {(prefix_of(row["nik"]), row["id"], row["household_id"]) for row in rows}


async def test_an_import_lists_again_only_the_families_it_changed(
    registry: Registry, tmp_path: Path
) -> None:
    owner, pool, url = registry.owner, registry.app, registry.url
    assert (await build(pool, DINKES, pseudonym_key=KEY)) == Built(
        DINKES.name, len(await owner.fetch(IN_SCOPE))
    )
    assert await entries(owner) == await expected_entries(owner)
    entering, leaving, renamed, losing, gaining = [
        (await family_numbers(url, f"kabupaten_code = '3509' AND {where}", count=2))[index]
        for where, index in (
            ("welfare_decile = 6", 0),  # enters (decile 6 -> 5)
            ("welfare_decile = 5", 0),  # leaves (decile 5 -> 7)
            ("welfare_decile = 4 AND member_count >= 2", 0),  # a member's NIK changes
            ("welfare_decile = 3 AND member_count >= 3", 0),  # a member moves out ...
            ("welfare_decile = 8", 0),  # ... into a family outside the scope
        )
    ]
    rows = await rows_of(url, [entering, leaving, renamed, losing, gaining])
    household(rows, entering)["welfare_decile"] = 5
    household(rows, leaving)["welfare_decile"] = 7
    members = {
        kk: [r for r in rows["persons"] if r["kk_number"] == kk]
        for kk in (renamed, losing, gaining)
    }
    old_nik = next(r for r in members[renamed] if r["relationship_to_head"] != "HEAD")["nik"]
    new_nik = old_nik[:-4] + ("0000" if old_nik[-4:] != "0000" else "0001")
    assert await owner.fetchval("SELECT count(*) FROM persons WHERE nik = $1", new_nik) == 0
    next(r for r in members[renamed] if r["nik"] == old_nik)["nik"] = new_nik
    mover = max(members[losing], key=lambda r: r["member_no"])  # the last member (not the head)
    assert mover["relationship_to_head"] != "HEAD"
    mover["kk_number"] = gaining
    mover["member_no"] = len(members[gaining]) + 1
    household(rows, losing)["member_count"] -= 1
    household(rows, gaining)["member_count"] += 1
    await import_release(url, tmp_path / "moves", rows, release="pseudonym-moves")
    done = await build(pool, DINKES, pseudonym_key=KEY)
    # Listed again: the families changed that are in the scope now (entering, renamed, losing).
    assert done is not None
    assert done.families == 3
    # Exactly what a whole build would list: nobody missing, nothing stale.
    assert await entries(owner) == await expected_entries(owner)
    assert done.persons == len(await entries(owner))
    named = Recording(KEY)
    leaver = await owner.fetchval(
        "SELECT p.nik FROM persons p JOIN households h ON h.id = p.household_id"
        " WHERE h.kk_number = $1 LIMIT 1",
        leaving,
    )
    newcomer = await owner.fetchrow(
        "SELECT p.id, p.nik FROM persons p JOIN households h ON h.id = p.household_id"
        " WHERE h.kk_number = $1 AND p.nik IS NOT NULL LIMIT 1",
        entering,
    )
    renamed_id = await owner.fetchval("SELECT id FROM persons WHERE nik = $1", new_nik)
    tokens = [
        token(newcomer["nik"]),
        token(new_nik),
        token(old_nik),
        token(leaver),
        token(mover["nik"]),
    ]
    assert await find(pool, named, tokens) == {newcomer["id"], renamed_id}
    assert named.ways == [("directory", 5)]
    # Built for another scope (its statement's hash differs; policy files loaded but not
    # applied, say): rebuilt whole at the worker's next look, with no release at all.
    await owner.execute("UPDATE pseudonym_directories SET scope_hash = repeat('0', 64)")
    assert await build(pool, DINKES, pseudonym_key=KEY) == Built(DINKES.name, done.persons)
    assert await entries(owner) == await expected_entries(owner)
    # A release that is not an import (a policy applied, a seed): whole again.
    await owner.execute(
        "INSERT INTO releases (id, kind, imported_at) VALUES ('policy-test', 'policy', now())"
    )
    assert await build(pool, DINKES, pseudonym_key=KEY) == Built(DINKES.name, done.persons)
    # An import after it: an update again, of nothing (it changed no family).
    await owner.execute(
        "INSERT INTO releases (id, kind, imported_at) VALUES ('pseudonym-none', 'import', now())"
    )
    assert await build(pool, DINKES, pseudonym_key=KEY) == Built(
        DINKES.name, done.persons, families=0
    )


async def test_a_directory_built_under_another_key_is_not_used(
    database: tuple[asyncpg.Connection, asyncpg.Pool],
) -> None:
    owner, pool = database
    await build(pool, DINKES, pseudonym_key=KEY)
    other = os.urandom(32)
    chosen = await owner.fetch(IN_SCOPE + " ORDER BY p.id LIMIT 2")
    tokens = [token(row["nik"], other) for row in chosen]
    named = Recording(other)
    assert await find(pool, named, tokens) == {row["id"] for row in chosen}
    assert named.ways == [("scan", 2)]
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


async def test_a_purpose_that_narrows_the_rows_narrows_who_can_be_named(
    database: tuple[asyncpg.Connection, asyncpg.Pool],
) -> None:
    """Statements are kept per program as the request has it: the same program under a
    purpose that narrows its households to decile 1 does not reuse the statement of its
    whole scope (kept by name, it would name a decile-3 person)."""
    owner, pool = database
    narrowed = DINKES.under(
        Purpose(code="DESIL_1", description="decile 1 only", households=DecileRange(1, 1))
    )
    person = await owner.fetchrow(IN_SCOPE + " AND h.welfare_decile = 3 ORDER BY p.id LIMIT 1")
    named = NamedPersons(KEY)
    tokens = [token(person["nik"])]
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        await connection.execute("SELECT set_config('regsosek.program', $1, true)", DINKES.name)
        assert [row["id"] for row in await named.find(connection, DINKES, tokens)] == [person["id"]]
        assert await named.find(connection, narrowed, tokens) == []
