"""Building and updating the pseudonym directories (``regsosek worker``; see
``schema.pseudonym_directory`` for what they are and how requests use them).

Not on the request path: only the worker (and the benchmark and the tests) imports this. It
reads the registry as the gateway role under each program's row-level security, and lists
persons through ``readable_rows``; to find the families a release changed it also reads
``households.updated_at`` (the release that last changed each family) and the program's own
change feed.

After imports only, under the same key and scope (and on the same day, for a scope on ages),
``build`` lists again only the families the imports changed: a family's place in a program's
scope depends on its own rows alone (the invariant the change feed rests on,
``db.releases.import_changes``). Anything else rebuilds the directory whole.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from dataclasses import dataclass
from datetime import date

import asyncpg
import orjson
from sqlalchemy import BigInteger, DateTime, String, bindparam, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import BIT

from policies import Entity, PolicySet, Program, readable_rows
from policies.masks import program_key, pseudonymised
from policies.rls import SET_PROGRAM_SQL
from policies.rows import TABLES
from schema.compiler.statement import CompiledStatement, compile_statement
from schema.pseudonym_directory import depends_on_ages, key_check, version_text
from schema.stats_count import registry_version
from schema.subjects import by_pseudonym

log = logging.getLogger("regsosek.pseudonyms")

BUILD_SPACE = 0x50534459
"""First key of the builds' advisory locks (``'PSDY'``)."""
BUILT_STATE = (
    "SELECT version, key_check, persons, release_no, releases_up_to, as_of, scope_hash, updates"
    " FROM pseudonym_directories WHERE program = $1"
)


INSERT_ENTRIES = "INSERT INTO pseudonyms (program, prefix, person_id, household_id) "


def build_statement(
    program: Program, pseudonym_key: bytes, *, changed: bool = False
) -> CompiledStatement:
    """``INSERT INTO pseudonyms`` every token prefix of the program's persons (with
    ``changed``: only those of the families a release changed after ``q_as_of``)."""
    rows = readable_rows(Entity.PERSON, program=program, name="p")
    person = rows.table.c
    token = pseudonymised(person.nik, key=program_key(pseudonym_key, program.name))
    first = cast(cast(literal_column("'x'").op("||")(func.left(token, 16)), BIT(64)), BigInteger)
    listed = select(
        bindparam("q_program", type_=String), first.label("prefix"), person.id, person.household_id
    ).where(person.nik.is_not(None), rows.predicate)
    if changed:
        families = TABLES[Entity.HOUSEHOLD].alias("changed")
        since = bindparam("q_as_of", type_=DateTime(timezone=True))
        listed = listed.where(
            person.household_id.in_(select(families.c.id).where(families.c.updated_at > since))
        )
    compiled = compile_statement(listed.order_by(literal_column("prefix")), frozenset())
    return CompiledStatement(
        INSERT_ENTRIES + compiled.sql,
        compiled.names,
        compiled.static,
        frozenset(),
    )


def scope_hash(program: Program) -> str:
    """SHA-256 of the statement that lists the program's persons (key-independent: the key is
    a parameter): another scope, another hash, and the directory is built again whole."""
    return hashlib.sha256(build_statement(program, b"").sql.encode()).hexdigest()


def pseudonym_programs(policies: PolicySet, today: date) -> list[Program]:
    """The programs in force ``today`` that name persons by pseudonym (under any purpose)."""
    found = []
    for _, program in sorted(policies.programs.items()):
        variants = [program, *(program.under(purpose) for purpose in program.purposes)]
        if program.agreement.in_force(today) and any(by_pseudonym(v) for v in variants):
            found.append(program)
    return found


@dataclass(frozen=True, slots=True)
class Built:
    program: str
    persons: int
    """The persons the directory lists now."""
    families: int | None = None
    """When only the families changed since the last build were listed again: how many."""


async def build_all(
    pool: asyncpg.Pool, policies: PolicySet, *, pseudonym_key: bytes, today: date
) -> list[Built]:
    """Bring every pseudonym program's directory up to the registry as it is now."""
    built = []
    for program in pseudonym_programs(policies, today):
        done = await build(pool, program, pseudonym_key=pseudonym_key)
        if done is not None:
            built.append(done)
    return built


RELEASES_UP_TO_NOW = (
    "SELECT count(*) FILTER (WHERE no <= $1) AS count,"
    " max(imported_at) FILTER (WHERE no <= $1) AS as_of,"
    " count(*) FILTER (WHERE no > $1 AND (kind <> 'import' OR imported_at <= $2)) AS others"
    " FROM releases"
)
"""For a directory covering the releases up to ``$1`` (the latest at ``$2``): how many
releases up to it there are now, the latest time among them, and how many later ones are not
imports, or not later in time (the families they changed would not be told apart)."""
CHANGED_FAMILIES = "SELECT count(*) FROM households WHERE updated_at > $1"
DROP_CHANGED = (
    "DELETE FROM pseudonyms WHERE program = $1 AND household_id IN ("
    " SELECT id FROM households WHERE updated_at > $2"
    " UNION SELECT household_id FROM program_changes"
    " WHERE program = $1 AND release_no > $3 AND household_id IS NOT NULL)"
)
"""The entries of the families changed since the directory's build: those still in the
program's scope (visible under its row-level security) and those that left it (the program's
change feed names them: LEFT)."""
BUILT_FOR = ("version", "key_check", "scope_hash")
"""What a directory is current for: the registry's version, the key and the scope."""
COMPACT_AFTER = 16
"""Updates after which a current directory is rebuilt whole: an update removes the entries of
every family changed in the scope or named by the program's change feed, and a person who
moved out of a family that then left the scope leaves one stale entry behind (harmless: every
candidate is checked against the whole token and the scope, but it takes room)."""
INCREMENTAL_SHARE = 4
"""Families changed beyond one in this many of the persons listed: rebuild whole instead
(deleting most of a directory costs more than building it again)."""
RECORD = (
    "INSERT INTO pseudonym_directories (program, version, key_check, persons, release_no,"
    " releases_up_to, as_of, scope_hash, updates) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    " ON CONFLICT (program) DO UPDATE SET version = $2, key_check = $3, persons = $4,"
    " release_no = $5, releases_up_to = $6, as_of = $7, scope_hash = $8, updates = $9,"
    " built_at = clock_timestamp()"
)


async def build(pool: asyncpg.Pool, program: Program, *, pseudonym_key: bytes) -> Built | None:
    """Bring the program's directory up to the registry and the key; None when it already is
    (or another worker is at it).

    After imports only, under the same key and scope (and on the same day, for a scope on
    ages), only the families the imports changed are listed again: a family's place in the
    scope depends on its own rows alone. Anything else (the first build, a seed, a policy
    release, another key or scope, a new day for ages, a history that no longer matches, most
    of the registry changed) rebuilds it whole; so does a scope that changed without a release
    (policy files loaded but not applied), within the worker's next look. A directory that is
    current but has had ``COMPACT_AFTER`` updates is rebuilt whole too: readers keep using it
    meanwhile, so this costs no request anything. Either way in one repeatable-read
    transaction under the program's row-level security, so readers see the directory before or
    after, whole."""
    check = key_check(program.name, pseudonym_key)
    scope = scope_hash(program)
    async with (
        pool.acquire() as connection,
        connection.transaction(isolation="repeatable_read"),
    ):
        await connection.execute(SET_PROGRAM_SQL, program.name)
        registry = await registry_version(connection)
        version = version_text(registry, program)
        state = await connection.fetchrow(BUILT_STATE, program.name)
        built_for = None if state is None else tuple(state[k] for k in BUILT_FOR)
        current = built_for == (version, check, scope)
        if current and state is not None and state["updates"] < COMPACT_AFTER:
            return None
        lock = zlib.crc32(program.name.encode()) - (1 << 31)
        if not await connection.fetchval(
            "SELECT pg_try_advisory_xact_lock($1, $2)", BUILD_SPACE, lock
        ):
            return None
        latest_no, releases, as_of = registry[:3]
        done = (
            None
            if current
            else await _extend(connection, program, pseudonym_key, state, check, scope, version)
        )
        if done is None:
            await connection.execute("DELETE FROM pseudonyms WHERE program = $1", program.name)
            statement = build_statement(program, pseudonym_key)
            status = await connection.execute(
                statement.sql, *statement.arguments({"q_program": program.name})
            )
            done = Built(program.name, int(status.split()[-1]))
        updates = 0 if done.families is None else (state["updates"] if state else 0) + 1
        await connection.execute(
            RECORD, program.name, version, check, done.persons,
            latest_no, releases, as_of, scope, updates,
        )  # fmt: skip
    if done.families is None:
        log.info("built the pseudonym directory of %s: %d persons", program.name, done.persons)
    else:
        log.info(
            "updated the pseudonym directory of %s: %d families listed again, %d persons",
            program.name, done.families, done.persons,
        )  # fmt: skip
    return done


async def _extend(
    connection: asyncpg.Connection,
    program: Program,
    pseudonym_key: bytes,
    state: asyncpg.Record | None,
    check: str,
    scope: str,
    version: str,
) -> Built | None:
    """List again only the families changed since the directory was built, when that is
    sound (see ``build``) and cheaper; None to rebuild whole."""
    if (
        state is None
        or state["release_no"] is None
        or state["as_of"] is None
        or state["key_check"] != check
        or state["scope_hash"] != scope
    ):
        return None
    if depends_on_ages(program) and orjson.loads(state["version"])[-1] != orjson.loads(version)[-1]:
        return None  # a new day: ages moved persons in or out of the scope
    history = await connection.fetchrow(RELEASES_UP_TO_NOW, state["release_no"], state["as_of"])
    assert history is not None
    if (history["count"], history["as_of"], history["others"]) != (
        state["releases_up_to"], state["as_of"], 0,
    ):  # fmt: skip
        return None  # re-seeded, a policy release, or releases recorded out of order
    changed = await connection.fetchval(CHANGED_FAMILIES, state["as_of"])
    if changed * INCREMENTAL_SHARE > state["persons"]:
        return None
    status = await connection.execute(
        DROP_CHANGED, program.name, state["as_of"], state["release_no"]
    )
    dropped = int(status.split()[-1])
    statement = build_statement(program, pseudonym_key, changed=True)
    status = await connection.execute(
        statement.sql,
        *statement.arguments({"q_program": program.name, "q_as_of": state["as_of"]}),
    )
    listed = int(status.split()[-1])
    return Built(program.name, state["persons"] - dropped + listed, families=changed)
