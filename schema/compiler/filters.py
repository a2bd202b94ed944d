"""The filters of ``households`` and ``persons`` (CONTRACT §5).

Which filter fields a program may use follows from its policy: a filter field
reads the fields ``HOUSEHOLD_FILTER_NEEDS`` / ``PERSON_FILTER_NEEDS`` name, and
the program must read each of them in full (filtering is reading). The
program's ``HouseholdFilter`` and ``PersonFilter`` hold only those fields
(``schema.inputs``), so a query naming another fails validation like a field
that does not exist; planning checks again (FORBIDDEN), a second wall behind
the schema.

Planning a filter is cheap and happens on every request: it validates values
and yields a *shape* (which conditions, used as a cache key for the compiled
SQL) and the bind values. ``predicates`` turns the shape into SQL once per
cached statement.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    String,
    bindparam,
    cast,
    func,
    literal_column,
    not_,
    or_,
    true,
)
from sqlalchemy.sql import ColumnElement, FromClause

from db.enums import AssistanceProgram, Sex
from db.models.base import pg_enum
from db.models.registry import REGION_COLUMNS
from errors import BadInput, Forbidden
from policies import FieldMode, Program
from schema.scalars import parse_id
from schema.sealed_cursors import canonical_criteria

SEVERE = ("A_LOT", "CANNOT")
DIFFICULTY_COLUMNS = (
    "difficulty_seeing",
    "difficulty_hearing",
    "difficulty_walking",
    "difficulty_hands",
    "difficulty_remembering",
    "difficulty_behaviour",
    "difficulty_communicating",
    "difficulty_self_care",
)
DISABILITY_DOMAINS = (
    "seeing",
    "hearing",
    "walking",
    "usingHands",
    "remembering",
    "behaviour",
    "communicating",
    "selfCare",
)

Needs = Mapping[str, Sequence[tuple[str, str]]]

HOUSEHOLD_FILTER_NEEDS: Needs = {
    "regionCode": [("Household", "region")],
    "welfareDecileMin": [("Household", "welfareDecile")],
    "welfareDecileMax": [("Household", "welfareDecile")],
    "receivesProgram": [("Household", "assistance"), ("Assistance", "program")],
    "hasMemberAgedUnder": [("Household", "members"), ("Person", "age")],
    "womanHeaded": [("Household", "members"), ("Person", "sex"), ("Person", "relationshipToHead")],
    "updatedSince": [("Household", "updatedAt")],
}
"""What each ``HouseholdFilter`` field reads: the fields a program must read in full to use it."""

PERSON_FILTER_NEEDS: Needs = {
    "regionCode": [("Person", "region")],
    "sex": [("Person", "sex")],
    "ageMin": [("Person", "age")],
    "ageMax": [("Person", "age")],
    "pregnant": [("Person", "pregnant")],
    "hasDisability": [("Person", "disability")]
    + [("Disability", domain) for domain in DISABILITY_DOMAINS],
    "householdId": [("Person", "household")],
}
"""What each ``PersonFilter`` field reads (``householdId``: the person's household, by id)."""


def usable_filter_fields(needs: Needs, program: Program) -> tuple[str, ...]:
    """The filter fields ``program`` may use, in the order of ``needs``."""
    return tuple(name for name in needs if _may_use(program, needs[name]))


def _may_use(program: Program, fields: Iterable[tuple[str, str]]) -> bool:
    return all(program.mode(type_name, name) is FieldMode.FULL for type_name, name in fields)


@dataclass
class PlannedFilter:
    shape: list[Hashable] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def key(self) -> tuple[Hashable, ...]:
        return tuple(self.shape)

    def criteria(self) -> bytes:
        """The filter's meaning as bytes (what a cursor issued under it is bound to)."""
        return canonical_criteria({"shape": self.shape, "params": self.params})


def _value(filter_input: Mapping[str, Any] | None, name: str) -> Any:
    """A filter field's value; an explicit null is the same as leaving it out."""
    if filter_input is None:
        return None
    return filter_input.get(name)


def _require(program: Program, name: str, needs: Needs) -> None:
    """FORBIDDEN unless the program may use the filter field (its schema has no field it
    may not use, so validation stops such a filter first: this is the second wall)."""
    if not _may_use(program, needs[name]):
        raise Forbidden(f"Your program may not filter on `{name}`.")


def _region(code: Any, planned: PlannedFilter) -> None:
    if (
        not isinstance(code, str)
        or not (code.isascii() and code.isdigit())
        or len(code) not in REGION_COLUMNS
    ):
        raise BadInput("`regionCode` must be a BPS code of 2, 4, 7 or 10 digits.")
    planned.shape.append(("region", len(code)))
    planned.params["q_region"] = code


def _bounded(name: str, value: Any, low: int, high: int) -> int:
    if not isinstance(value, int) or not low <= value <= high:
        raise BadInput(f"`{name}` must be an integer from {low} to {high}.")
    return value


def plan_household_filter(filter_input: Any, program: Program) -> PlannedFilter:
    planned = PlannedFilter()
    if (code := _value(filter_input, "regionCode")) is not None:
        _require(program, "regionCode", HOUSEHOLD_FILTER_NEEDS)
        _region(code, planned)
    for name, op in (("welfareDecileMin", "ge"), ("welfareDecileMax", "le")):
        if (decile := _value(filter_input, name)) is not None:
            _require(program, name, HOUSEHOLD_FILTER_NEEDS)
            planned.shape.append(("decile", op))
            planned.params[f"q_decile_{op}"] = _bounded(name, decile, 1, 10)
    if (received := _value(filter_input, "receivesProgram")) is not None:
        _require(program, "receivesProgram", HOUSEHOLD_FILTER_NEEDS)
        planned.shape.append(("receives",))
        planned.params["q_receives"] = received.value if hasattr(received, "value") else received
    if (years := _value(filter_input, "hasMemberAgedUnder")) is not None:
        _require(program, "hasMemberAgedUnder", HOUSEHOLD_FILTER_NEEDS)
        planned.shape.append(("aged_under",))
        planned.params["q_aged_under"] = _bounded("hasMemberAgedUnder", years, 1, 150)
    if (woman := _value(filter_input, "womanHeaded")) is not None:
        _require(program, "womanHeaded", HOUSEHOLD_FILTER_NEEDS)
        planned.shape.append(("woman_headed", bool(woman)))
    if (since := _value(filter_input, "updatedSince")) is not None:
        _require(program, "updatedSince", HOUSEHOLD_FILTER_NEEDS)
        if not isinstance(since, datetime):
            raise BadInput("`updatedSince` must be an ISO 8601 date-time with a time zone.")
        planned.shape.append(("updated_since",))
        planned.params["q_updated_since"] = since
    return planned


def household_predicates(shape: Iterable[Hashable], table: FromClause) -> list[ColumnElement[bool]]:
    """SQL for a planned household filter (binds named as ``plan_household_filter`` names them)."""
    predicates: list[ColumnElement[bool]] = []
    for token in shape:
        assert isinstance(token, tuple)
        kind = token[0]
        if kind == "region":
            column = table.c[REGION_COLUMNS[token[1]]]
            predicates.append(column == bindparam("q_region", type_=String))
        elif kind == "decile":
            param = bindparam(f"q_decile_{token[1]}", type_=Integer)
            column = table.c.welfare_decile
            predicates.append(column >= param if token[1] == "ge" else column <= param)
        elif kind == "receives":
            received = cast(bindparam("q_receives"), pg_enum(AssistanceProgram))
            predicates.append(received == table.c.received_programs.any_())
        elif kind == "aged_under":
            cutoff = func.current_date() - func.make_interval(
                bindparam("q_aged_under", type_=Integer)
            )
            predicates.append(table.c.youngest_birth_date > cutoff)
        elif kind == "woman_headed":
            woman = table.c.head_sex == literal_column("'FEMALE'")
            predicates.append(woman if token[1] else not_(woman))
        elif kind == "updated_since":
            # Exclusive: a sync that asks from the newest ``updatedAt`` it stored gets only
            # what changed after it. Rows of one release share that time; within it, the
            # UPDATED_AT_ASC cursor's (updatedAt, id) key is the tie-breaker.
            predicates.append(table.c.updated_at > bindparam("q_updated_since"))
    return predicates


def plan_person_filter(filter_input: Any, program: Program) -> PlannedFilter:
    planned = PlannedFilter()
    if (code := _value(filter_input, "regionCode")) is not None:
        _require(program, "regionCode", PERSON_FILTER_NEEDS)
        _region(code, planned)
    if (sex := _value(filter_input, "sex")) is not None:
        _require(program, "sex", PERSON_FILTER_NEEDS)
        planned.shape.append(("sex",))
        planned.params["q_sex"] = sex.value if hasattr(sex, "value") else sex
    for name, op in (("ageMin", "min"), ("ageMax", "max")):
        if (age := _value(filter_input, name)) is not None:
            _require(program, name, PERSON_FILTER_NEEDS)
            planned.shape.append(("age", op))
            planned.params[f"q_age_{op}"] = _bounded(name, age, 0, 150)
    if (pregnant := _value(filter_input, "pregnant")) is not None:
        _require(program, "pregnant", PERSON_FILTER_NEEDS)
        planned.shape.append(("pregnant", bool(pregnant)))
    if (disabled := _value(filter_input, "hasDisability")) is not None:
        _require(program, "hasDisability", PERSON_FILTER_NEEDS)
        planned.shape.append(("disability", bool(disabled)))
    if (household := _value(filter_input, "householdId")) is not None:
        _require(program, "householdId", PERSON_FILTER_NEEDS)
        planned.shape.append(("household",))
        planned.params["q_household"] = parse_id(household) or -1
    return planned


def person_predicates(
    shape: Iterable[Hashable], table: FromClause, home: FromClause | None
) -> list[ColumnElement[bool]]:
    """SQL for a planned person filter; ``home`` is the person's household (for regionCode)."""
    predicates: list[ColumnElement[bool]] = []
    for token in shape:
        assert isinstance(token, tuple)
        kind = token[0]
        if kind == "region":
            assert home is not None
            predicates.append(
                home.c[REGION_COLUMNS[token[1]]] == bindparam("q_region", type_=String)
            )
        elif kind == "sex":
            predicates.append(table.c.sex == cast(bindparam("q_sex"), pg_enum(Sex)))
        elif kind == "age":
            years = func.make_interval(bindparam(f"q_age_{token[1]}", type_=Integer))
            if token[1] == "min":
                predicates.append(table.c.birth_date <= func.current_date() - years)
            else:
                upper = func.current_date() - years - literal_column("interval '1 year'")
                predicates.append(table.c.birth_date > cast(upper, Date))
        elif kind == "pregnant":
            predicates.append(table.c.pregnant if token[1] else not_(table.c.pregnant))
        elif kind == "disability":
            # Literal labels: an ``in_`` of plain values would be an "expanding" bind
            # parameter, which the compiled statement text cannot carry.
            labels: list[ColumnElement[Any]] = [literal_column(f"'{v}'") for v in SEVERE]
            severe = or_(*[table.c[c].in_(labels) for c in DIFFICULTY_COLUMNS])
            predicates.append(severe if token[1] else not_(severe))
        elif kind == "household":
            predicates.append(table.c.household_id == bindparam("q_household", type_=BigInteger))
    return predicates or [true()]


__all__ = [
    "HOUSEHOLD_FILTER_NEEDS",
    "PERSON_FILTER_NEEDS",
    "PlannedFilter",
    "household_predicates",
    "parse_id",
    "person_predicates",
    "plan_household_filter",
    "plan_person_filter",
    "usable_filter_fields",
]
