"""The row-scope language as typed values (the AST the YAML files parse into).

A *household condition* speaks about one household row: its region, welfare
decile (``desil``), whether a member is under some age, whether a woman heads
it, which assistance it received. A *person condition* speaks about one
person row: sex, age, pregnancy, functional difficulty. ``And``/``Or``/``Not``
and the constants ``Everything``/``Nothing`` combine either kind; the parser
never mixes the two kinds in one tree.

Every value here has been validated by the parser (region codes are digits of
a BPS length, deciles 1-10, enum members), so the compiler may render them as
SQL literals for the row-level-security policies.
"""

from __future__ import annotations

from dataclasses import dataclass

from db.enums import AssistanceProgram, DifficultyLevel, Sex

REGION_PREFIX_LENGTHS = {2: "provinsi", 4: "kabupaten", 7: "kecamatan", 10: "desa"}
"""BPS code lengths and the level each names."""


@dataclass(frozen=True)
class Everything:
    """Every row."""


@dataclass(frozen=True)
class Nothing:
    """No row."""


@dataclass(frozen=True)
class And:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


@dataclass(frozen=True)
class RegionPrefix:
    """The household's desa code starts with ``code`` (2, 4, 7 or 10 digits)."""

    code: str


@dataclass(frozen=True)
class DecileRange:
    """``low <= welfare_decile <= high`` (both 1-10)."""

    low: int
    high: int


@dataclass(frozen=True)
class HasMemberAgedUnder:
    """Some member is younger than ``years`` full years today."""

    years: int


@dataclass(frozen=True)
class WomanHeaded:
    """The head of the family is (``value=True``) or is not a woman."""

    value: bool


@dataclass(frozen=True)
class Receives:
    """The household received ``program`` (any month on record)."""

    program: AssistanceProgram


@dataclass(frozen=True)
class SexIs:
    sex: Sex


@dataclass(frozen=True)
class AgeRange:
    """``low <= age <= high`` in full years today; ``high`` None means no upper bound."""

    low: int
    high: int | None


@dataclass(frozen=True)
class Pregnant:
    value: bool


@dataclass(frozen=True)
class HasDifficulty:
    """Some functional-difficulty domain (r428) is at ``at_least`` or worse."""

    at_least: DifficultyLevel


HouseholdAtom = RegionPrefix | DecileRange | HasMemberAgedUnder | WomanHeaded | Receives
PersonAtom = SexIs | AgeRange | Pregnant | HasDifficulty
Condition = Everything | Nothing | And | Or | Not | HouseholdAtom | PersonAtom
Scope = Condition
"""A household scope: a condition whose atoms are household atoms."""


@dataclass(frozen=True)
class PersonScope:
    """Persons scoped directly: ``household`` holds for their household AND ``person`` for them."""

    household: Condition
    person: Condition


def describe(condition: Condition) -> str:
    """The condition in plain English, for ``myAccess`` and ``policy explain``."""
    match condition:
        case Everything():
            return "all"
        case Nothing():
            return "none"
        case And(items):
            return " and ".join(_nested(item) for item in items)
        case Or(items):
            return " or ".join(_nested(item) for item in items)
        case Not(item):
            return f"not {_nested(item)}"
        case RegionPrefix(code):
            return f"in {REGION_PREFIX_LENGTHS[len(code)]} {code}"
        case DecileRange(low, high):
            return f"welfare decile {low}" if low == high else f"welfare decile {low}-{high}"
        case HasMemberAgedUnder(years):
            return f"with a member under {years}"
        case WomanHeaded(value):
            return "headed by a woman" if value else "not headed by a woman"
        case Receives(program):
            return f"receiving {program.value}"
        case SexIs(sex):
            return sex.value.lower()
        case AgeRange(low, high):
            return f"aged {low} or over" if high is None else f"aged {low}-{high}"
        case Pregnant(value):
            return "pregnant" if value else "not pregnant"
        case HasDifficulty(at_least):
            return f"with a functional difficulty at level {at_least.value} or worse"


def _nested(condition: Condition) -> str:
    text = describe(condition)
    return f"({text})" if isinstance(condition, And | Or) else text
