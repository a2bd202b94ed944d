"""From explicit grants to the fields a program actually reads.

A type is *reachable* for a program when a granted root field returns it or
a granted relation/object field leads to it. Reachable types get their
``ALWAYS_READABLE`` fields (CONTRACT §6: ``id``, and ``updatedAt`` on
Household), except ``Person.id`` for a program that reads ``Person.nik`` as
PSEUDONYM (its pseudonym is its identifier). A public type (``Region``) is
readable in full wherever it is reachable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from db.catalog import ALWAYS_READABLE, CATALOG, Kind
from policies.model import FieldMode

ROOT_TYPES: dict[str, str] = {
    "households": "Household",
    "household": "Household",
    "persons": "Person",
    "person": "Person",
    "regions": "Region",
}
"""Root fields that return a catalogued type."""


@dataclass(frozen=True)
class FieldIssue:
    """An explicit grant that makes no sense (unreachable, empty object, id beside a pseudonym)."""

    type_name: str
    field_name: str
    reason: str


def resolve_fields(
    *, root_fields: frozenset[str], granted: Mapping[tuple[str, str], FieldMode]
) -> tuple[Mapping[str, Mapping[str, FieldMode]], list[FieldIssue]]:
    """The readable fields by type, and the grants that make no sense."""
    reachable = {ROOT_TYPES[root] for root in root_fields if root in ROOT_TYPES}
    pending = list(reachable)
    while pending:
        type_name = pending.pop()
        for (granted_type, field_name), _ in granted.items():
            if granted_type != type_name:
                continue
            target = CATALOG[type_name].attributes[field_name].target
            if target and target not in reachable:
                reachable.add(target)
                pending.append(target)
        if CATALOG[type_name].public:
            for attribute in CATALOG[type_name].attributes.values():
                if attribute.target and attribute.target not in reachable:
                    reachable.add(attribute.target)
                    pending.append(attribute.target)
    issues = [
        FieldIssue(type_name, field_name, f"no granted root or field leads to {type_name}")
        for type_name, field_name in sorted(granted)
        if type_name not in reachable
    ]
    pseudonymous = granted.get(("Person", "nik")) is FieldMode.PSEUDONYM
    if pseudonymous and ("Person", "id") in granted:
        issues.append(
            FieldIssue("Person", "id", "a program reading nik as PSEUDONYM gets no Person.id")
        )
    fields: dict[str, dict[str, FieldMode]] = {}
    for type_name in sorted(reachable):
        entity = CATALOG[type_name]
        modes = {
            field_name: mode
            for (granted_type, field_name), mode in granted.items()
            if granted_type == type_name
        }
        if entity.public:
            modes = dict.fromkeys(entity.attributes, FieldMode.FULL)
        if type_name == "Person" and pseudonymous:
            modes.pop("id", None)
        for field_name in ALWAYS_READABLE.get(type_name, frozenset()):
            if type_name == "Person" and field_name == "id" and pseudonymous:
                continue
            modes.setdefault(field_name, FieldMode.FULL)
        fields[type_name] = {name: modes[name] for name in entity.attributes if name in modes}
    for (type_name, field_name), _ in sorted(granted.items()):
        attribute = CATALOG[type_name].attributes[field_name]
        if attribute.kind is Kind.OBJECT and attribute.target and not fields.get(attribute.target):
            reason = f"no field of {attribute.target} is granted"
            issues.append(FieldIssue(type_name, field_name, reason))
    frozen = {name: MappingProxyType(modes) for name, modes in fields.items() if modes}
    return MappingProxyType(frozen), issues
