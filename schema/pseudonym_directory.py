"""Each pseudonym program's directory: resolving a person's pseudonym without a scan.

A pseudonym is HMAC-SHA256 of the NIK under the program's key (``policies.masks``). Only the
gateway holds the key, so PostgreSQL cannot index the tokens, and resolving one recomputed
the HMAC of every person in the program's scope: 21 s at 1,000,000 households, 214 s at
10,000,000, past the 5 s statement timeout. ``reportAssistance`` and ``proposeChange``
(REACTIVATE) name persons so.

``regsosek worker`` (``schema.pseudonym_build``: when it starts, every minute, and as soon
as a release commits) stores, per program, the first 8 bytes of each token in its person
scope with the person's id and family (table ``pseudonyms``, migrations 0013 and 0014),
computed in PostgreSQL under the program's row-level security with the key as a statement
parameter (never stored). It records what it was built against (``pseudonym_directories``):
the registry's releases (``schema.stats_count.registry_version``; and the day, when the
program's scope depends on ages), a check value of the key and a hash of the scope's
statement. After an import it lists again only the families the import changed (at
1,000,000 households: 0.1 s for a release changing 0.1 % of them, 3.7 s for 10 %, where a
whole build takes 29 s; ``bench/results/pseudonym-directory.md``); after anything else it
rebuilds the directory whole. Either way in one transaction, so readers see the old one or
the new one whole.

``NamedPersons.find`` recomputes the HMAC only for the candidates the tokens' prefixes name
in the directory, and checks the whole token and the program's scope on those rows, as
before, so the answer is the same. A directory that matches the registry and the key now
answers alone. One built for an earlier release (the worker is updating it) answers the
persons it lists, and only the tokens it does not resolve are looked for the old way. With
no directory, or one built under another key, every token is (correct, slow: minutes at
10,000,000 households).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Sequence

import asyncpg
import orjson

from policies import Program
from policies.conditions import AgeRange, And, Condition, HasMemberAgedUnder, Not, Or
from policies.masks import program_key
from schema.compiler.statement import CompiledStatement
from schema.documents import BoundedCache
from schema.stats_count import registry_version
from schema.subjects import by_pseudonym, persons_named

log = logging.getLogger("regsosek.pseudonyms")

TOKEN = re.compile(r"^[0-9a-f]{64}$")
STATE = "SELECT version, key_check FROM pseudonym_directories WHERE program = $1"
CURRENT, STALE = "current", "stale"


def key_check(program: str, pseudonym_key: bytes) -> str:
    """A value that changes with the program's key and reveals nothing of it."""
    key = program_key(pseudonym_key, program)
    return hmac.new(key, b"pseudonym-directory", hashlib.sha256).hexdigest()


def prefix(token: str) -> int | None:
    """The directory's key for ``token`` (its first 8 bytes as a signed bigint); None for
    what is no token (it matches no one either way)."""
    if not TOKEN.match(token):
        return None
    value = int(token[:16], 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def _ages(condition: Condition | None) -> bool:
    match condition:
        case AgeRange() | HasMemberAgedUnder():
            return True
        case And(items=items) | Or(items=items):
            return any(_ages(item) for item in items)
        case Not(item=item):
            return _ages(item)
    return False


def depends_on_ages(program: Program) -> bool:
    """Whether the program's persons change with the day (a scope on ages)."""
    persons = program.person_scope
    conditions = [program.household_scope]
    if persons is not None:
        conditions += [persons.household, persons.person]
    return any(_ages(condition) for condition in conditions)


async def directory_version(connection: asyncpg.Connection, program: Program) -> str:
    """What the program's persons depend on: the releases recorded (and the day, if ages)."""
    return version_text(await registry_version(connection), program)


def version_text(registry: tuple[object, ...], program: Program) -> str:
    """``directory_version`` of a ``registry_version`` already read."""
    version = list(registry)
    if not depends_on_ages(program):
        version = version[:-1]
    return orjson.dumps(version, default=str).decode()


class NamedPersons:
    """Finds the persons a program names (by NIK, or by pseudonym through its directory)."""

    def __init__(self, pseudonym_key: bytes) -> None:
        self._pseudonym_key = pseudonym_key
        self._statements: BoundedCache[tuple[Program, bool], CompiledStatement] = BoundedCache(64)

    def _statement(self, program: Program, *, directory: bool) -> CompiledStatement:
        """Kept per program *as the request has it*: under a purpose that narrows its rows, the
        program's scope (and so the statement) is another one than under its name alone."""
        key = (program, directory)
        found = self._statements.get(key)
        if found is None:
            found = self._statements.put(
                key, persons_named(program, self._pseudonym_key, directory=directory)
            )
        return found

    async def find(
        self, connection: asyncpg.Connection, program: Program, tokens: Sequence[str]
    ) -> list[asyncpg.Record]:
        """``(token, id, household_id, nik)`` of the persons ``program`` names by ``tokens``,
        in ``connection``'s transaction (the program set).

        A directory built under this key for the registry as it is now answers alone. One
        built for an earlier release (the worker is rebuilding it) still answers the persons
        it lists, every candidate checked as always; only the tokens it does not resolve (a
        person new in the release, or one whose NIK changed) are looked for the old way."""
        if not by_pseudonym(program):
            return await self._fetch(connection, program, tokens, directory=False)
        state = await self._state(connection, program)
        if state is None:
            return await self._fetch(connection, program, tokens, directory=False)
        found = await self._fetch(connection, program, tokens, directory=True)
        if state == CURRENT:
            return found
        resolved = {row["token"] for row in found}
        missing = [token for token in tokens if token not in resolved]
        if missing:
            found += await self._fetch(connection, program, missing, directory=False)
        return found

    async def _fetch(
        self,
        connection: asyncpg.Connection,
        program: Program,
        tokens: Sequence[str],
        *,
        directory: bool,
    ) -> list[asyncpg.Record]:
        params: dict[str, object] = {"q_tokens": list(tokens)}
        if directory:
            params["q_program"] = program.name
            params["q_prefixes"] = sorted({p for p in map(prefix, tokens) if p is not None})
        statement = self._statement(program, directory=directory)
        rows: list[asyncpg.Record] = await connection.fetch(
            statement.sql, *statement.arguments(params)
        )
        return rows

    async def _state(self, connection: asyncpg.Connection, program: Program) -> str | None:
        """``CURRENT``, ``STALE`` (built for an earlier registry), or None (none, or built
        under another key: its prefixes name no one's token under this one)."""
        state = await connection.fetchrow(STATE, program.name)
        if state is None or state["key_check"] != key_check(program.name, self._pseudonym_key):
            return None
        version = await directory_version(connection, program)
        return CURRENT if state["version"] == version else STALE
