"""Each program's row scope as the SQL the feed is computed with, and what it can see change:
the data (``EntityScope``) and where the applied policy's scopes are kept.

A program with a row scope gets change events for the entities its scope
names: households (``rows.households``; members and receipts count as changes
of their household) and, for a program that scopes persons directly
(``rows.persons``, e.g. dinkes-pbi), persons. The predicate is
``policies.rows.scope_rows``' (the program's own compiled row scope, the one
``readable_rows`` and row-level security use, without the agreement's
validity window, which is checked when the feed is read), rendered with
literal values over the aliases ``h`` (households) and ``p`` (persons).

Which changes a program is told about as UPDATED follows from the fields it
reads: each changed column is mapped through the data dictionary
(``db.catalog``) to the GraphQL fields it stands behind and the program's
mode of them (any mode but DENIED counts: a masked value may change too).

The scopes are compiled from the policy by ``policies.feed.program_scopes`` when the policy is
applied (``policies.apply``), and stored with its version in ``policy_versions.scopes``: the
importer and the seed compute their changes with exactly the scopes recorded there
(``applied_scopes``), without loading the policy themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import orjson

from db.entities import Entity

HOUSEHOLD_ALIAS = "h"
PERSON_ALIAS = "p"
MEMBER_ADDED = "+"
MEMBER_REMOVED = "-"
"""Markers in a household's changed member columns: a member joined, a member left."""

DERIVED_COLUMNS = {"age": "birth_date"}
"""Fields computed from a column (``Person.age`` from the birth date)."""
NOT_A_CHANGE = frozenset({"updated_at"})
"""``updatedAt`` moves with every change; it is not itself one."""


@dataclass(frozen=True)
class Visibility:
    """The columns whose change the program can read, per table, and the lists it reads."""

    household_columns: tuple[str, ...]
    person_columns: tuple[str, ...]
    members: bool
    assistance: bool

    def member_markers(self) -> tuple[str, ...]:
        """What counts as a change of the members list: their columns, and joining or leaving."""
        if not self.members:
            return ()
        return (*self.person_columns, MEMBER_ADDED, MEMBER_REMOVED)


@dataclass(frozen=True)
class EntityScope:
    """One program's scope over one entity (households or persons), as the feed computes it."""

    program: str
    entity: Entity
    predicate: str
    """SQL over ``h`` (households) or ``p`` (persons); never ``false`` (those are left out)."""
    visibility: Visibility


ALIASES = {Entity.HOUSEHOLD: HOUSEHOLD_ALIAS, Entity.PERSON: PERSON_ALIAS}


class ScopesNotRecorded(Exception):
    """The applied policy predates recorded scopes (migration 0006): apply it again."""


def scopes_json(scopes: list[EntityScope]) -> str:
    """``scopes`` as ``policy_versions.scopes`` keeps them."""
    return orjson.dumps(
        [
            {
                "program": scope.program,
                "entity": scope.entity.value,
                "predicate": scope.predicate,
                "visibility": {
                    "household_columns": list(scope.visibility.household_columns),
                    "person_columns": list(scope.visibility.person_columns),
                    "members": scope.visibility.members,
                    "assistance": scope.visibility.assistance,
                },
            }
            for scope in scopes
        ]
    ).decode()


def scopes_from_json(text: str) -> list[EntityScope]:
    """The scopes ``scopes_json`` wrote."""
    return [
        EntityScope(
            program=item["program"],
            entity=Entity(item["entity"]),
            predicate=item["predicate"],
            visibility=Visibility(
                household_columns=tuple(item["visibility"]["household_columns"]),
                person_columns=tuple(item["visibility"]["person_columns"]),
                members=bool(item["visibility"]["members"]),
                assistance=bool(item["visibility"]["assistance"]),
            ),
        )
        for item in orjson.loads(text)
    ]


async def applied_scopes(connection: asyncpg.Connection) -> list[EntityScope]:
    """The scopes of the policy last applied (empty before the first apply).

    Fails closed (``ScopesNotRecorded``) when that policy was applied before its scopes were
    recorded: a feed computed without them would miss every program's changes.
    """
    row = await connection.fetchrow("SELECT scopes FROM policy_versions ORDER BY no DESC LIMIT 1")
    if row is None:
        return []
    if row["scopes"] is None:
        raise ScopesNotRecorded(
            "the applied policy's scopes are not recorded: run `regsosek policy apply`"
        )
    return scopes_from_json(row["scopes"])
