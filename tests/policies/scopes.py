"""Random registries, random row scopes, and an independent Python evaluator of scopes.

The evaluator works on the raw members and receipts (never on the derived
household columns) and computes ages the way a person would: full years
since birth, one more on each birthday.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from hypothesis import strategies as st

from db.enums import AssistanceProgram, DifficultyLevel, Relationship, Sex
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

DESAS = ("3509010001", "3509010002", "3509720001", "3510010001", "3201010001")
PREFIXES = (
    "35",
    "32",
    "3509",
    "3510",
    "3201",
    "3509010",
    "3509720",
    "3510010",
    "3201010",
    *DESAS,
    "3509999999",
)
AGES = (5, 18, 60)
"""Ages the random scopes use; random birth dates cluster on the birthdays around them."""
BIRTHDAYS = sorted({age + shift for age in AGES for shift in (0, 1)})
"""Every age a bound ``age < N`` or ``age <= N`` turns on."""
LEVELS = list(DifficultyLevel)


@dataclass(frozen=True)
class PersonRow:
    sex: Sex
    birth_date: date
    relationship: Relationship
    pregnant: bool
    difficulties: tuple[DifficultyLevel, ...]


@dataclass(frozen=True)
class HouseholdRow:
    desa: str
    decile: int
    members: tuple[PersonRow, ...]
    programs: frozenset[AssistanceProgram]


def years_ago(today: date, years: int) -> date:
    """``current_date - make_interval(years)`` as PostgreSQL computes it."""
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return today.replace(year=today.year - years, day=28)


def age(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def birth_dates(today: date) -> st.SearchStrategy[date]:
    near_birthdays = st.builds(
        lambda years, days: years_ago(today, years) + timedelta(days=days),
        st.sampled_from(BIRTHDAYS),
        st.integers(-1, 1),
    )
    anywhere = st.dates(min_value=years_ago(today, 95), max_value=today)
    return st.one_of(near_birthdays, near_birthdays, anywhere)


def persons(today: date, relationship: Relationship) -> st.SearchStrategy[PersonRow]:
    def build(sex: Sex, birth: date, pregnant: bool, levels: list[DifficultyLevel]) -> PersonRow:
        return PersonRow(sex, birth, relationship, pregnant and sex is Sex.FEMALE, tuple(levels))

    none = [DifficultyLevel.NONE] * 8
    return st.builds(
        build,
        st.sampled_from(list(Sex)),
        birth_dates(today),
        st.booleans(),
        st.one_of(st.just(none), st.lists(st.sampled_from(LEVELS), min_size=8, max_size=8)),
    )


def households(today: date) -> st.SearchStrategy[HouseholdRow]:
    others = [r for r in Relationship if r is not Relationship.HEAD]
    members = st.tuples(
        persons(today, Relationship.HEAD),
        st.lists(
            st.sampled_from(others).flatmap(lambda relationship: persons(today, relationship)),
            max_size=4,
        ),
    ).map(lambda pair: (pair[0], *pair[1]))
    return st.builds(
        HouseholdRow,
        st.sampled_from(DESAS),
        st.integers(1, 10),
        members,
        st.frozensets(st.sampled_from(list(AssistanceProgram))),
    )


def registries(today: date) -> st.SearchStrategy[list[HouseholdRow]]:
    return st.lists(households(today), min_size=1, max_size=25)


def _decile_ranges() -> st.SearchStrategy[Condition]:
    return st.tuples(st.integers(1, 10), st.integers(1, 10)).map(
        lambda pair: DecileRange(min(pair), max(pair))
    )


def _age_ranges() -> st.SearchStrategy[Condition]:
    lows = st.sampled_from((0, *AGES, *BIRTHDAYS))
    highs = st.one_of(st.none(), st.sampled_from(AGES))
    return st.tuples(lows, highs).map(_age_range)


def _age_range(pair: tuple[int, int | None]) -> Condition:
    low, high = pair
    return AgeRange(low, None if high is None else max(low, high))


HOUSEHOLD_ATOMS: st.SearchStrategy[Condition] = st.one_of(
    st.sampled_from(PREFIXES).map(RegionPrefix),
    _decile_ranges(),
    st.sampled_from(AGES).map(HasMemberAgedUnder),
    st.booleans().map(WomanHeaded),
    st.sampled_from(list(AssistanceProgram)).map(Receives),
    st.just(Everything()),
    st.just(Nothing()),
)

PERSON_ATOMS: st.SearchStrategy[Condition] = st.one_of(
    st.sampled_from(list(Sex)).map(SexIs),
    _age_ranges(),
    st.booleans().map(Pregnant),
    st.sampled_from(LEVELS[1:]).map(HasDifficulty),
    st.just(Everything()),
    st.just(Nothing()),
)


def conditions(atoms: st.SearchStrategy[Condition]) -> st.SearchStrategy[Condition]:
    def combine(children: st.SearchStrategy[Condition]) -> st.SearchStrategy[Condition]:
        items = st.lists(children, min_size=1, max_size=3).map(tuple)
        return st.one_of(items.map(And), items.map(Or), children.map(Not))

    return st.recursive(atoms, combine, max_leaves=8)


def holds(
    condition: Condition, *, today: date, household: HouseholdRow, person: PersonRow | None
) -> bool:
    """The condition for this household (and person, for person atoms), in plain Python."""

    def check(item: Condition) -> bool:
        return holds(item, today=today, household=household, person=person)

    match condition:
        case Everything():
            return True
        case Nothing():
            return False
        case And(items):
            return all(check(item) for item in items)
        case Or(items):
            return any(check(item) for item in items)
        case Not(item):
            return not check(item)
        case RegionPrefix(code):
            return household.desa.startswith(code)
        case DecileRange(low, high):
            return low <= household.decile <= high
        case HasMemberAgedUnder(years):
            return any(age(member.birth_date, today) < years for member in household.members)
        case WomanHeaded(value):
            head = next(m for m in household.members if m.relationship is Relationship.HEAD)
            return (head.sex is Sex.FEMALE) == value
        case Receives(program):
            return program in household.programs
    assert person is not None, condition
    match condition:
        case SexIs(sex):
            return person.sex is sex
        case AgeRange(youngest, oldest):
            years = age(person.birth_date, today)
            return youngest <= years and (oldest is None or years <= oldest)
        case Pregnant(value):
            return person.pregnant == value
        case HasDifficulty(at_least):
            return any(
                LEVELS.index(level) >= LEVELS.index(at_least) for level in person.difficulties
            )
    raise AssertionError(condition)


def to_yaml(condition: Condition) -> object:
    """The condition written in the policy files' language (for parser round trips)."""
    match condition:
        case Everything():
            return "all"
        case Nothing():
            return "none"
        case And(items):
            return {"_and": [to_yaml(item) for item in items]}
        case Or(items):
            return {"_or": [to_yaml(item) for item in items]}
        case Not(item):
            return {"_not": to_yaml(item)}
        case RegionPrefix(code):
            return {"region": {"prefix": code}}
        case DecileRange(low, high):
            return {"welfare_decile": {"gte": low, "lte": high}}
        case HasMemberAgedUnder(years):
            return {"has_member_aged_under": years}
        case WomanHeaded(value):
            return {"woman_headed": value}
        case Receives(program):
            return {"receives": program.value}
        case SexIs(sex):
            return {"sex": sex.value}
        case AgeRange(low, high):
            return {"age": {"gte": low} if high is None else {"gte": low, "lte": high}}
        case Pregnant(value):
            return {"pregnant": value}
        case HasDifficulty(at_least):
            return {"has_difficulty": {"at_least": at_least.value}}
    raise AssertionError(condition)
