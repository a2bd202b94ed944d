"""Parse the row-scope language of ``programs/<program>.yaml`` (Hasura-style boolean expressions).

Grammar (a condition is a YAML value)::

    condition   := "all" | "none" | mapping      # a mapping's keys are ANDed
    key         := "_and": [condition, ...]     # at least one item
                 | "_or":  [condition, ...]
                 | "_not": condition
                 | attribute: argument
    household attributes:
        region: {prefix: "3509"}                 # a 2, 4, 7 or 10-digit BPS code
        welfare_decile: {gte: 1, lte: 4}         # any of eq, gte, gt, lte, lt; desil 1-10
        has_member_aged_under: 18                # some member younger than 18 today
        woman_headed: true
        receives: PKH                            # an AssistanceProgram
    person attributes:
        sex: FEMALE
        age: {gte: 15, lte: 49}                  # full years today
        pregnant: true
        has_difficulty: true                     # r428 at A_LOT or worse (Washington Group)
                      | {at_least: SOME}

Example: ``{_and: [{region: {prefix: "3509"}}, {welfare_decile: {lte: 4}}]}``.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import TypeVar

from db.enums import AssistanceProgram, DifficultyLevel, Sex
from policies.conditions import (
    REGION_PREFIX_LENGTHS,
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
from policies.yamlnodes import Node, Reader

E = TypeVar("E", bound=StrEnum)
AtomParser = Callable[[Reader, Node], Condition | None]

MAX_AGE = 150


def parse_household_condition(reader: Reader, node: Node) -> Condition | None:
    """A household condition, or None after recording why it is not one."""
    return _parse(reader, node, atoms=_HOUSEHOLD_ATOMS, kind="household", other=_PERSON_ATOMS)


def parse_person_condition(reader: Reader, node: Node) -> Condition | None:
    """A person-level condition, or None after recording why it is not one."""
    return _parse(reader, node, atoms=_PERSON_ATOMS, kind="person", other=_HOUSEHOLD_ATOMS)


def _parse(
    reader: Reader,
    node: Node,
    *,
    atoms: dict[str, AtomParser],
    kind: str,
    other: dict[str, AtomParser],
) -> Condition | None:
    value = reader.value(node)
    if value == "all":
        return Everything()
    if value == "none":
        return Nothing()
    if isinstance(value, str | int | bool) or value is None:
        reader.problem(node, f"a {kind} condition is all, none or a mapping, not {value!r}")
        return None
    entries = reader.mapping(node, f"a {kind} condition")
    if entries is None:
        return None
    if not entries:
        reader.problem(node, f"empty {kind} condition (write all or none)")
        return None
    parts: list[Condition] = []
    ok = True
    for key, (key_node, value_node) in entries.items():
        part: Condition | None
        if key in ("_and", "_or"):
            part = _combine(reader, value_node, key=key, atoms=atoms, kind=kind, other=other)
        elif key == "_not":
            inner = _parse(reader, value_node, atoms=atoms, kind=kind, other=other)
            part = Not(inner) if inner is not None else None
        elif key in atoms:
            part = atoms[key](reader, value_node)
        else:
            if key in other:
                reason = f"{key!r} is not a {kind} attribute here"
            else:
                reason = f"unknown {kind} attribute {key!r}"
            expected = ", ".join(["_and", "_or", "_not", *sorted(atoms)])
            reader.problem(key_node, f"{reason} (expected: {expected})")
            part = None
        if part is None:
            ok = False
        else:
            parts.append(part)
    if not ok:
        return None
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _combine(
    reader: Reader,
    node: Node,
    *,
    key: str,
    atoms: dict[str, AtomParser],
    kind: str,
    other: dict[str, AtomParser],
) -> Condition | None:
    items = reader.sequence(node, key)
    if items is None:
        return None
    if not items:
        reader.problem(node, f"{key} needs at least one condition")
        return None
    parsed = [_parse(reader, item, atoms=atoms, kind=kind, other=other) for item in items]
    conditions = [item for item in parsed if item is not None]
    if len(conditions) != len(parsed):
        return None
    return And(tuple(conditions)) if key == "_and" else Or(tuple(conditions))


def _enum_value(reader: Reader, node: Node, *, enum: type[E], what: str) -> E | None:
    value = reader.value(node)
    if isinstance(value, str):
        try:
            return enum(value)
        except ValueError:
            pass
    expected = ", ".join(member.value for member in enum)
    reader.problem(node, f"{what} must be one of {expected}, not {value!r}")
    return None


def _range(
    reader: Reader, node: Node, *, what: str, minimum: int, maximum: int
) -> tuple[int, int] | None:
    """Inclusive bounds from ``{eq|gte|gt|lte|lt: n}``; empty ranges are errors."""
    entries = reader.mapping(node, what)
    if entries is None:
        return None
    bounds = {"eq", "gte", "gt", "lte", "lt"}
    reader.unknown_keys(entries, allowed=bounds, what=what)
    if not set(entries) <= bounds:
        return None
    if not entries:
        reader.problem(node, f"{what} needs a bound (eq, gte, gt, lte or lt)")
        return None
    if "eq" in entries and len(entries) > 1:
        reader.problem(node, f"{what}: eq cannot be combined with other bounds")
        return None
    if ("gte" in entries and "gt" in entries) or ("lte" in entries and "lt" in entries):
        reader.problem(node, f"{what}: two lower or two upper bounds")
        return None
    low, high = minimum, maximum
    for key, (_, value_node) in entries.items():
        number = reader.integer(value_node, f"{what}.{key}", minimum=minimum, maximum=maximum)
        if number is None:
            return None
        if key in ("eq", "gte"):
            low = number
        if key in ("eq", "lte"):
            high = number
        if key == "gt":
            low = number + 1
        if key == "lt":
            high = number - 1
    if low > high:
        reader.problem(node, f"{what} is an empty range (matches nothing; write none)")
        return None
    return low, high


def _region(reader: Reader, node: Node) -> Condition | None:
    entries = reader.mapping(node, "region")
    if entries is None:
        return None
    reader.unknown_keys(entries, allowed={"prefix"}, what="region")
    if "prefix" not in entries:
        reader.problem(node, "region needs a prefix (a 2, 4, 7 or 10-digit BPS code)")
        return None
    value_node = entries["prefix"][1]
    value = reader.value(value_node)
    code = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not (code.isascii() and code.isdigit() and len(code) in REGION_PREFIX_LENGTHS):
        reader.problem(
            value_node, f"region prefix must be a 2, 4, 7 or 10-digit code, not {value!r}"
        )
        return None
    return RegionPrefix(code) if len(entries) == 1 else None


def _welfare_decile(reader: Reader, node: Node) -> Condition | None:
    bounds = _range(reader, node, what="welfare_decile", minimum=1, maximum=10)
    return DecileRange(*bounds) if bounds else None


def _has_member_aged_under(reader: Reader, node: Node) -> Condition | None:
    years = reader.integer(node, "has_member_aged_under", minimum=1, maximum=MAX_AGE)
    return HasMemberAgedUnder(years) if years is not None else None


def _woman_headed(reader: Reader, node: Node) -> Condition | None:
    value = reader.boolean(node, "woman_headed")
    return WomanHeaded(value) if value is not None else None


def _receives(reader: Reader, node: Node) -> Condition | None:
    program = _enum_value(reader, node, enum=AssistanceProgram, what="receives")
    return Receives(program) if program is not None else None


def _sex(reader: Reader, node: Node) -> Condition | None:
    sex = _enum_value(reader, node, enum=Sex, what="sex")
    return SexIs(sex) if sex is not None else None


def _age(reader: Reader, node: Node) -> Condition | None:
    bounds = _range(reader, node, what="age", minimum=0, maximum=MAX_AGE)
    if bounds is None:
        return None
    low, high = bounds
    return AgeRange(low, None if high == MAX_AGE else high)


def _pregnant(reader: Reader, node: Node) -> Condition | None:
    value = reader.boolean(node, "pregnant")
    return Pregnant(value) if value is not None else None


def _has_difficulty(reader: Reader, node: Node) -> Condition | None:
    if reader.value(node) is True:
        return HasDifficulty(DifficultyLevel.A_LOT)
    entries = reader.mapping(node, "has_difficulty (true or {at_least: LEVEL})")
    if entries is None:
        return None
    reader.unknown_keys(entries, allowed={"at_least"}, what="has_difficulty")
    if "at_least" not in entries:
        reader.problem(node, "has_difficulty needs at_least: SOME, A_LOT or CANNOT")
        return None
    level = _enum_value(reader, entries["at_least"][1], enum=DifficultyLevel, what="at_least")
    if level is DifficultyLevel.NONE:
        reader.problem(entries["at_least"][1], "at_least: NONE matches everyone (write all)")
        return None
    return HasDifficulty(level) if level is not None and len(entries) == 1 else None


_HOUSEHOLD_ATOMS: dict[str, AtomParser] = {
    "region": _region,
    "welfare_decile": _welfare_decile,
    "has_member_aged_under": _has_member_aged_under,
    "woman_headed": _woman_headed,
    "receives": _receives,
}

_PERSON_ATOMS: dict[str, AtomParser] = {
    "sex": _sex,
    "age": _age,
    "pregnant": _pregnant,
    "has_difficulty": _has_difficulty,
}
