"""Compile row-scope conditions to SQLAlchemy predicates over ``db.models`` tables.

Household atoms read only the household row itself, through the derived
columns (``kecamatan_code`` …, ``head_sex``, ``youngest_birth_date``,
``received_programs``), so a household predicate never reads another table
and the row-level-security policies cannot recurse. Ages are computed against
``current_date`` in SQL, never in Python, so a cached statement stays right
tomorrow. Every value is a validated literal of the AST, bound as a parameter
(or rendered as a literal for RLS).
"""

from __future__ import annotations

from sqlalchemy import (
    ColumnElement,
    Date,
    FromClause,
    and_,
    cast,
    false,
    func,
    literal,
    not_,
    or_,
    true,
)
from sqlalchemy.dialects import postgresql

from db.catalog import DISABILITY
from db.enums import AssistanceProgram, DifficultyLevel, Sex
from db.models.base import pg_enum
from db.models.registry import REGION_COLUMNS
from policies.conditions import (
    AgeRange,
    And,
    Condition,
    DecileRange,
    Everything,
    HasDifficulty,
    HasMemberAgedUnder,
    Not,
    Nothing,
    Or,
    Pregnant,
    Receives,
    RegionPrefix,
    SexIs,
    WomanHeaded,
)

DIFFICULTY_COLUMNS = tuple(
    attribute.column for attribute in DISABILITY.attributes.values() if attribute.column
)


def household_predicate(condition: Condition, household: FromClause) -> ColumnElement[bool]:
    """``condition`` over one row of ``household`` (an alias of ``households``)."""
    return _compile(condition, household=household, person=None)


def person_predicate(condition: Condition, person: FromClause) -> ColumnElement[bool]:
    """A person-level ``condition`` over one row of ``person`` (an alias of ``persons``)."""
    return _compile(condition, household=None, person=person)


def born_before_years_ago(years: int) -> ColumnElement[object]:
    """``current_date - years``: a date born after which one is younger than ``years``."""
    return cast(func.current_date() - func.make_interval(literal(years)), Date)


def _compile(
    condition: Condition, *, household: FromClause | None, person: FromClause | None
) -> ColumnElement[bool]:
    match condition:
        case Everything():
            return true()
        case Nothing():
            return false()
        case And(items):
            return and_(*(_compile(item, household=household, person=person) for item in items))
        case Or(items):
            return or_(*(_compile(item, household=household, person=person) for item in items))
        case Not(item):
            return not_(_compile(item, household=household, person=person))
        case RegionPrefix() | DecileRange() | HasMemberAgedUnder() | WomanHeaded() | Receives():
            if household is None:
                raise ValueError(f"household condition {condition} in a person scope")
            return _household_atom(condition, household)
        case SexIs() | AgeRange() | Pregnant() | HasDifficulty():
            if person is None:
                raise ValueError(f"person condition {condition} in a household scope")
            return _person_atom(condition, person)


def _household_atom(
    condition: RegionPrefix | DecileRange | HasMemberAgedUnder | WomanHeaded | Receives,
    household: FromClause,
) -> ColumnElement[bool]:
    columns = household.c
    match condition:
        case RegionPrefix(code):
            return columns[REGION_COLUMNS[len(code)]] == literal(code)
        case DecileRange(low, high):
            if low == high:
                return columns.welfare_decile == literal(low)
            parts = []
            if low > 1:
                parts.append(columns.welfare_decile >= literal(low))
            if high < 10:
                parts.append(columns.welfare_decile <= literal(high))
            return and_(*parts) if parts else true()
        case HasMemberAgedUnder(years):
            return columns.youngest_birth_date > born_before_years_ago(years)
        case WomanHeaded(value):
            woman = literal(Sex.FEMALE, type_=pg_enum(Sex))
            return columns.head_sex == woman if value else columns.head_sex != woman
        case Receives(program):
            wanted = postgresql.array([literal(program, type_=pg_enum(AssistanceProgram))])
            array_type = postgresql.ARRAY(pg_enum(AssistanceProgram))
            return columns.received_programs.contains(cast(wanted, array_type))


def _person_atom(
    condition: SexIs | AgeRange | Pregnant | HasDifficulty, person: FromClause
) -> ColumnElement[bool]:
    columns = person.c
    match condition:
        case SexIs(sex):
            return columns.sex == literal(sex, type_=pg_enum(Sex))
        case AgeRange(low, high):
            parts = []
            if low > 0:
                parts.append(columns.birth_date <= born_before_years_ago(low))
            if high is not None:
                parts.append(columns.birth_date > born_before_years_ago(high + 1))
            return and_(*parts) if parts else true()
        case Pregnant(value):
            return columns.pregnant if value else not_(columns.pregnant)
        case HasDifficulty(at_least):
            level = literal(at_least, type_=pg_enum(DifficultyLevel))
            return or_(*(columns[name] >= level for name in DIFFICULTY_COLUMNS))
