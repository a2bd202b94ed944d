"""Each program's row scope as the SQL the feed is computed with, and what it can see change.

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
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import false

from db.catalog import CATALOG, Kind
from policies import Entity, FieldMode, PolicySet, Program, scope_rows
from policies.rls import render_predicate

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


ALIASES = {Entity.HOUSEHOLD: HOUSEHOLD_ALIAS, Entity.PERSON: PERSON_ALIAS}


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
