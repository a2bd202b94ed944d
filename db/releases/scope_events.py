"""Scope changes over the whole registry: the seed, and a change of policy.

For every (program, entity) of the old and the new policy, the rows whose
membership differs between the old scope and the new one: ENTERED where only
the new scope admits the row, LEFT where only the old one did. The seed is
the case "no rows before" (everything in scope ENTERED); a program new to the
policy (or the first policy applied to a registry holding rows) is the case
"no old scope". A program the new policy drops is left alone: nobody can read
its feed any more.
"""

from __future__ import annotations

import asyncpg

from db.entities import Entity
from db.releases.ledger import EVENTS_TABLE
from db.releases.scopes import HOUSEHOLD_ALIAS, PERSON_ALIAS, EntityScope

Key = tuple[str, Entity]


def _pairs(old: list[EntityScope], new: list[EntityScope]) -> list[tuple[str, Entity, str, str]]:
    """(program, entity, old predicate, new predicate) for every scope the new policy has."""
    before = {(scope.program, scope.entity): scope.predicate for scope in old}
    after = {(scope.program, scope.entity): scope.predicate for scope in new}
    programs = {scope.program for scope in new}
    keys = sorted(key for key in set(before) | set(after) if key[0] in programs)
    return [(program, entity, before.get((program, entity), "false"),
             after.get((program, entity), "false")) for program, entity in keys]  # fmt: skip


async def record_scope_changes(
    connection: asyncpg.Connection, *, old: list[EntityScope], new: list[EntityScope]
) -> None:
    """Add to ``release_events`` every row that enters or leaves a program's scope."""
    for program, entity, was, now in _pairs(old, new):
        if was == now:
            continue
        moved = f"coalesce(({was}), false) <> coalesce(({now}), false)"
        kind = f"CASE WHEN coalesce(({now}), false) THEN 'ENTERED' ELSE 'LEFT' END::change_kind"
        if was == "false":
            moved, kind = f"({now})", "'ENTERED'::change_kind"
        if entity is Entity.HOUSEHOLD:
            alias = HOUSEHOLD_ALIAS
            sql = (
                f"INSERT INTO {EVENTS_TABLE} (program, kind, household_id)"
                f" SELECT $1, {kind}, {alias}.id FROM households AS {alias} WHERE {moved}"
            )
        else:
            alias = PERSON_ALIAS
            sql = (
                f"INSERT INTO {EVENTS_TABLE} (program, kind, household_id, person_id, nik)"
                f" SELECT $1, {kind}, {alias}.household_id, {alias}.id, {alias}.nik"
                f" FROM persons AS {alias} WHERE {moved}"
            )
        await connection.execute(sql, program)
