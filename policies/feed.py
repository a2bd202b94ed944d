"""What the change feed follows of each program, compiled from its policy.

For every program with a row scope, the entities whose rows can enter or leave it
(``feed_entities``), its scope as SQL over the aliases ``h``/``p`` (the predicate
``readable_rows`` and row-level security use, rendered with literal values) and the columns
whose change it can read (``visibility``); how it names a row it lost (``identity``). The
result (``program_scopes``) is stored with the policy version when the policy is applied
(``policies.apply``); ``db.releases.scopes`` holds the data and reads it back.
"""

from __future__ import annotations

from enum import StrEnum

import asyncpg
import orjson
from sqlalchemy import false

from db.catalog import CATALOG, Kind
from db.entities import Entity
from db.releases.scopes import (
    ALIASES,
    DERIVED_COLUMNS,
    NOT_A_CHANGE,
    EntityScope,
    Visibility,
)
from policies.model import FieldMode, PolicySet, Program
from policies.rls import render_predicate
from policies.rows import scope_rows
from policies.snapshot import load_policy_files


async def applied_policy(connection: asyncpg.Connection) -> PolicySet | None:
    """The policy set last applied to this database (None before the first apply)."""
    files = await connection.fetchval("SELECT files FROM policy_versions ORDER BY no DESC LIMIT 1")
    if files is None:
        return None
    loaded: dict[str, str] = orjson.loads(files)
    return load_policy_files(loaded)


def _object_columns(program: Program, type_name: str) -> set[str]:
    """The columns behind the fields of ``type_name`` the program reads (nested objects too)."""
    columns: set[str] = set()
    for name, attribute in CATALOG[type_name].attributes.items():
        if program.mode(type_name, name) is FieldMode.DENIED and not CATALOG[type_name].public:
            continue
        if attribute.kind is Kind.OBJECT and attribute.target:
            columns |= _object_columns(program, attribute.target)
        elif attribute.kind is Kind.SCALAR:
            column = attribute.column or DERIVED_COLUMNS.get(name)
            if column and column not in NOT_A_CHANGE:
                columns.add(column)
    return columns


def visibility(program: Program, entity: Entity) -> Visibility:
    """What of a household (with its members and receipts), or of a person, the program reads."""
    household = (
        _object_columns(program, "Household") if program.readable_fields("Household") else set()
    )
    person = _object_columns(program, "Person") if program.readable_fields("Person") else set()
    if entity is Entity.HOUSEHOLD:
        if program.mode("Household", "region") is not FieldMode.DENIED:
            household.add("desa_code")
        members = program.mode("Household", "members") is not FieldMode.DENIED
        return Visibility(
            household_columns=tuple(sorted(household)),
            person_columns=tuple(sorted(person)) if members else (),
            members=members,
            assistance=program.mode("Household", "assistance") is not FieldMode.DENIED,
        )
    # A person's own columns, and of their household what the person's fields show of it.
    through: set[str] = set()
    if program.mode("Person", "region") is not FieldMode.DENIED:
        through.add("desa_code")
    if program.mode("Person", "household") is not FieldMode.DENIED:
        through |= household
    return Visibility(
        household_columns=tuple(sorted(through)),
        person_columns=tuple(sorted(person)),
        members=False,
        assistance=False,
    )


def feed_entities(program: Program) -> tuple[Entity, ...]:
    """The entities whose rows can enter or leave the program's scope: those its row scope
    names and admits some row of (households for most programs, persons for dinkes-pbi)."""
    entities = []
    if program.household_scope is not None:
        entities.append(Entity.HOUSEHOLD)
    if program.person_scope is not None:
        entities.append(Entity.PERSON)
    return tuple(
        entity
        for entity in entities
        if not scope_rows(entity, program=program, name=ALIASES[entity]).predicate.compare(false())
    )


class Identity(StrEnum):
    """How a program names a row of its feed (what a LEFT change may carry)."""

    ID = "id"
    """The gateway id, for a program that reads the type's ``id``."""
    PSEUDONYM = "pseudonym"
    """The program's pseudonym of the person's NIK (``Person.nik`` read as PSEUDONYM)."""


def identity(program: Program, entity: Entity) -> Identity | None:
    """How ``program`` identifies rows of ``entity``; None when it reads no identity of them."""
    if program.mode(entity.value, "id") is FieldMode.FULL:
        return Identity.ID
    if entity is Entity.PERSON and program.mode("Person", "nik") is FieldMode.PSEUDONYM:
        return Identity.PSEUDONYM
    return None


def program_scopes(policy_set: PolicySet | None) -> list[EntityScope]:
    """Every (program, entity) the feed follows, in program order; empty without a policy."""
    if policy_set is None:
        return []
    scopes: list[EntityScope] = []
    for name in sorted(policy_set.programs):
        program = policy_set.programs[name]
        for entity in feed_entities(program):
            rows = scope_rows(entity, program=program, name=ALIASES[entity])
            scopes.append(
                EntityScope(
                    program=name,
                    entity=entity,
                    predicate=render_predicate(rows.predicate, rows.table),
                    visibility=visibility(program, entity),
                )
            )
    return scopes
