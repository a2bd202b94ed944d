"""What a recorded field path disclosed, and about whom: ``households.nodes.members.nik`` is
``Person.nik``, data of a person; ``households.nodes.housing.tenure`` is ``Housing.tenure``,
data of a household.

Audit events record the field paths of the whole request (``audit.events``), each with the
mode it left in when that was not FULL (``households.nodes.members.nik[MASKED]``, as the
compiler records it): the mode at the time of the disclosure, whatever the policy says
now. The breach pack (``audit.breach``) splits the paths by the data subject they describe.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Final

from db.catalog import Kind, attribute


class Owner(StrEnum):
    """Whose data a field is."""

    HOUSEHOLD = "household"
    PERSON = "person"


ROOT_TYPES: Final = {
    "households": "Household",
    "household": "Household",
    "persons": "Person",
    "person": "Person",
    "changes": "Change",
}
"""Root fields whose nodes are registry rows, and the type they lead to."""
CHANGE_TYPES: Final = {"household": "Household", "person": "Person"}
"""``Change.household`` / ``Change.person`` (CONTRACT §8)."""
CONNECTION_STEPS: Final = frozenset({"nodes", "edges", "node"})
OWNERS: Final = {"Household": Owner.HOUSEHOLD, "Person": Owner.PERSON}


@dataclass(frozen=True, slots=True)
class Field:
    """One recorded path resolved: the field's type and name, and whose data it is."""

    path: str
    type_name: str
    field_name: str
    owner: Owner


@cache
def resolve(path: str) -> Field | None:
    """The registry field at the end of ``path``, or None (counts, cursors, ``myAccess``, the
    auditors' own roots: nothing about a data subject)."""
    steps = path.split(".")
    current = ROOT_TYPES.get(steps[0])
    if current is None:
        return None
    owner: Owner | None = OWNERS.get(current)
    for step in steps[1:]:
        if current == "Change":
            if step in CONNECTION_STEPS:
                continue
            current = CHANGE_TYPES.get(step)
            if current is None:
                return None
            owner = OWNERS[current]
            continue
        found = attribute(current, step)
        if found is None:
            if step in CONNECTION_STEPS:
                continue
            return None
        if found.kind is Kind.SCALAR:
            assert owner is not None
            return Field(path, current, step, owner)
        assert found.target is not None
        target = found.target
        if target in OWNERS:
            owner = OWNERS[target]
            current = target
            continue
        # A value object (Housing, Education …) or a region: its fields are data of the owner.
        if path.endswith(f".{step}"):
            assert owner is not None
            return Field(path, current, step, owner)
        current = target
    return None  # a relation or object named without a field of its own


@dataclass(frozen=True, slots=True)
class Disclosed:
    """A field path as the pack shows it: the path, its mode, and whose data it was."""

    path: str
    mode: str
    owner: Owner


def split_mode(recorded: str) -> tuple[str, str]:
    """``households.nodes.members.nik[MASKED]`` → (``households.nodes.members.nik``,
    ``MASKED``); a path recorded without a mode left in full."""
    if recorded.endswith("]") and "[" in recorded:
        path, _, mode = recorded[:-1].rpartition("[")
        return path, mode
    return recorded, "FULL"


def disclosed(recorded: list[str]) -> list[Disclosed]:
    """The subject fields among the ``recorded`` paths (those ``resolve`` finds), each with
    the mode it left in."""
    found = []
    for item in recorded:
        path, mode = split_mode(item)
        field = resolve(path)
        if field is not None:
            found.append(Disclosed(path, mode, field.owner))
    return found
