"""The one place that decides which registry rows a program may read.

Every read of ``households``, ``persons`` or ``assistance_receipts`` goes
through ``readable_rows`` (and ``householdStats`` through
``statistics_rows``): the caller selects from the returned alias and must
AND the returned predicate into its WHERE clause. The predicate never admits
a row outside the program's scope, admits nothing outside the agreement's
validity window (checked against ``current_date`` in SQL), and is ``false``
for an entity the program may not read at all. The same predicates, rendered
with literals, are the row-level-security policies (``policies.rls``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Table,
    and_,
    false,
    func,
    literal,
    literal_column,
    select,
    true,
)

from db.entities import Entity
from db.models import AssistanceReceipt, Household, Person
from policies.conditions import Condition, Everything
from policies.model import FieldMode, Program
from policies.scope import household_predicate, person_predicate

HOUSEHOLDS: Table = Household.__table__  # type: ignore[assignment]
PERSONS: Table = Person.__table__  # type: ignore[assignment]
ASSISTANCE_RECEIPTS: Table = AssistanceReceipt.__table__  # type: ignore[assignment]


TABLES: dict[Entity, Table] = {
    Entity.HOUSEHOLD: HOUSEHOLDS,
    Entity.PERSON: PERSONS,
    Entity.ASSISTANCE: ASSISTANCE_RECEIPTS,
}


@dataclass(frozen=True)
class Readable:
    """An alias of the entity's table and the predicate its rows must satisfy."""

    table: FromClause
    predicate: ColumnElement[bool]


def readable_rows(
    entity: Entity, *, program: Program, name: str, parent_visible: bool = False
) -> Readable:
    """The rows of ``entity`` the program may read, as alias ``name`` and a predicate over it.

    ``parent_visible=True`` promises that the caller joins the rows to a
    household already restricted by ``readable_rows(HOUSEHOLD)`` (members or
    assistance of a visible household): the inherited household condition is
    then left out, while the person-level conditions of a direct person scope
    still apply.
    """
    scope = scope_rows(entity, program=program, name=name, parent_visible=parent_visible)
    if not _reads(program, entity):
        return scope
    return Readable(scope.table, and_(agreement_in_force(program), scope.predicate))


def scope_rows(
    entity: Entity, *, program: Program, name: str, parent_visible: bool = False
) -> Readable:
    """``readable_rows`` without the agreement's validity window: the row scope as such.

    For computing which rows enter or leave a program's scope when a release
    or a policy change is recorded (``db.releases``); never for serving rows.
    """
    table = TABLES[entity].alias(name)
    if not _reads(program, entity):
        return Readable(table, false())
    match entity:
        case Entity.HOUSEHOLD:
            predicate = _household(program, table)
        case Entity.PERSON:
            predicate = _person(program, table, name=name, parent_visible=parent_visible)
        case Entity.ASSISTANCE:
            predicate = _inherited(program, table, name=name, parent_visible=parent_visible)
    return Readable(table, predicate)


def statistics_rows(*, program: Program, name: str) -> Readable:
    """The households ``householdStats`` may count for the program (before suppression).

    Under row-level security this also needs ``SET LOCAL regsosek.statistics = 'on'``
    in the transaction (see ``policies.rls``).
    """
    table = HOUSEHOLDS.alias(name)
    return Readable(table, statistics_predicate(program, table))


def statistics_predicate(program: Program, household: FromClause) -> ColumnElement[bool]:
    """``statistics_rows``' predicate over a given alias of ``households``."""
    if program.statistics_scope is None:
        return false()
    predicate = household_predicate(program.statistics_scope, household)
    return and_(agreement_in_force(program), predicate)


def person_households_predicate(program: Program, household: FromClause) -> ColumnElement[bool]:
    """The households whose members the program may see (``home_of_visible_person``, RLS).

    The household part of a direct person scope, or the household scope that
    persons inherit; false when the program reads no persons.
    """
    if not _reads(program, Entity.PERSON):
        return false()
    scope = program.person_scope
    condition = scope.household if scope is not None else program.household_scope
    if condition is None:
        return false()
    return and_(agreement_in_force(program), household_predicate(condition, household))


def agreement_in_force(program: Program) -> ColumnElement[bool]:
    """``current_date`` within the agreement's window, decided by the database at query time."""
    window = program.agreement
    return func.current_date().between(literal(window.valid_from), literal(window.valid_until))


def _reads(program: Program, entity: Entity) -> bool:
    """Whether the program can read the entity's type at all (defence in depth)."""
    if entity is Entity.ASSISTANCE:
        return program.mode("Household", "assistance") is not FieldMode.DENIED
    return bool(program.readable_fields(entity.value))


def _household(program: Program, table: FromClause) -> ColumnElement[bool]:
    if program.household_scope is None:
        return false()
    return household_predicate(program.household_scope, table)


@dataclass(frozen=True)
class MemberScope:
    """The scope of a member row (a person, an assistance receipt) in its two parts."""

    household: Condition
    """What the row's household must satisfy (``Everything()``: any household)."""
    own: ColumnElement[bool]
    """What the row itself must satisfy (``true()`` when it inherits its household's scope)."""


def member_scope(entity: Entity, *, program: Program, table: FromClause) -> MemberScope | None:
    """A person's or receipt's scope without the agreement's window, over ``table``; None
    when the program has none (it reads no such rows).

    A direct person scope gives both parts; otherwise the row inherits the program's
    household scope. ``readable_rows`` is the window, an ``EXISTS`` on the household part
    and the own part; the RLS policy (``policies.rls``) probes the household part of every
    program in one ``EXISTS``.
    """
    if entity is Entity.HOUSEHOLD:
        raise ValueError("households are not member rows")
    if not _reads(program, entity):
        return None
    scope = program.person_scope if entity is Entity.PERSON else None
    if scope is not None:
        return MemberScope(scope.household, person_predicate(scope.person, table))
    if program.household_scope is None:
        return None
    return MemberScope(program.household_scope, true())


def _person(
    program: Program, table: FromClause, *, name: str, parent_visible: bool
) -> ColumnElement[bool]:
    scope = member_scope(Entity.PERSON, program=program, table=table)
    if scope is None:
        return false()
    direct = program.person_scope is not None
    if scope.household == Everything() or (
        parent_visible and (not direct or scope.household == program.household_scope)
    ):
        return scope.own
    exists = _household_exists(scope.household, table, name=name)
    return and_(exists, scope.own) if direct else exists


def _inherited(
    program: Program, table: FromClause, *, name: str, parent_visible: bool
) -> ColumnElement[bool]:
    """A receipt's row is visible when its household is."""
    scope = member_scope(Entity.ASSISTANCE, program=program, table=table)
    if scope is None:
        return false()
    if parent_visible or scope.household == Everything():
        return true()
    return _household_exists(scope.household, table, name=name)


def _household_exists(condition: Condition, table: FromClause, *, name: str) -> ColumnElement[bool]:
    household = HOUSEHOLDS.alias(f"{name}_household")
    return (
        select(literal_column("1"))
        .select_from(household)
        .where(household.c.id == table.c.household_id, household_predicate(condition, household))
        .correlate(table)
        .exists()
    )


def home_of_visible_person(*, program: Program, name: str) -> Readable:
    """The household of a person the program may see, to read where the person lives.

    The caller joins it on ``id = <a visible person>.household_id`` and reads
    only ``desa_code`` (``Person.region``): a visible person's household
    satisfies the household part of that person's scope, which is also what
    the households RLS policy admits for the program (the predicate repeats
    it, so the alias never admits a household no visible person lives in).
    No other household field may be read through it.
    """
    table = HOUSEHOLDS.alias(name)
    return Readable(table, person_households_predicate(program, table))
