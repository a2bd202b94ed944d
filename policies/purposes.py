"""Purposes of an agreement, and the one a request names (CONTRACT §9).

A program's file may list its purposes; a request names one with the
``Regsosek-Purpose`` header (or ``extensions.purpose``) and, where the purpose
says so, a case reference (``Regsosek-Case-Ref`` / ``extensions.caseRef``): a
musyawarah desa minute, a decree, a complaint ticket. Without a name the first
listed purpose applies. A purpose may narrow the program's fields: for a request
under it, every other field is unreadable exactly as a denied one (its own schema).

``purposes:`` in ``programs/<program>.yaml``::

    purposes:
      - code: PERLINDUNGAN_ANAK
        description: Penanganan kasus perlindungan anak / Child-protection case work
        case_ref_required: true          # optional, default false
        fields: [Person.name, Person.age] # optional: narrow to these grants (Type.field, Type.*)
        rows: {region: {prefix: "3509720"}} # optional: a household condition rows must meet

A purpose that narrows rows has no change feed (``changes``/``releases`` are relative to the
program's own scope).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from errors import Forbidden
from policies.conditions import Condition
from policies.model import Program, Purpose
from policies.scope_parser import parse_household_condition
from policies.yamlnodes import Node, Reader

PURPOSE_CODE: Final = re.compile(r"^[A-Z][A-Z0-9_]{1,63}$")
FIELD_REFERENCE: Final = re.compile(r"^[A-Z][A-Za-z]*\.(\*|[a-z][A-Za-z]*)$")
MAX_CASE_REF: Final = 200
"""The audit column's width (``audit_events.case_ref``)."""
CASE_REF: Final = re.compile(r"^[\w./:#()\- ]{1,200}$")
PURPOSE_KEYS: Final = {"code", "description", "case_ref_required", "fields", "rows"}


@dataclass(frozen=True)
class PurposeEntry:
    """A purpose as written, before its field list is checked against the grants."""

    code: str
    description: str
    case_ref_required: bool
    fields: tuple[str, ...] | None
    line: int
    households: Condition | None = None


def read_purposes(reader: Reader, node: Node) -> list[PurposeEntry] | None:
    """The ``purposes:`` list; None after recording its problems."""
    items = reader.sequence(node, "purposes")
    if items is None:
        return None
    if not items:
        reader.problem(node, "purposes must list at least one purpose")
        return None
    before = len(reader.problems)
    entries: list[PurposeEntry] = []
    seen: set[str] = set()
    for item in items:
        entry = _purpose(reader, item)
        if entry is None:
            continue
        if entry.code in seen:
            reader.problem(item, f"purpose {entry.code} is listed twice")
            continue
        seen.add(entry.code)
        entries.append(entry)
    return None if len(reader.problems) > before else entries


def _purpose(reader: Reader, node: Node) -> PurposeEntry | None:
    entries = reader.mapping(node, "a purpose")
    if entries is None:
        return None
    reader.unknown_keys(entries, allowed=PURPOSE_KEYS, what="a purpose")
    for key in ("code", "description"):
        if key not in entries:
            reader.problem(node, f"a purpose needs {key}")
    if "code" not in entries or "description" not in entries:
        return None
    code = reader.string(entries["code"][1], "purpose code")
    if code is not None and not PURPOSE_CODE.match(code):
        reader.problem(
            entries["code"][1],
            f"purpose code {code!r} must be upper-case letters, digits and _ (2-64)",
        )
        code = None
    description = reader.string(entries["description"][1], "purpose description")
    required: bool | None = False
    if "case_ref_required" in entries:
        required = reader.boolean(entries["case_ref_required"][1], "case_ref_required")
    fields: tuple[str, ...] | None = None
    if "fields" in entries:
        fields = _fields(reader, entries["fields"][1])
        if fields is None:
            return None
    households: Condition | None = None
    if "rows" in entries:
        households = parse_household_condition(reader, entries["rows"][1])
        if households is None:
            return None
    if code is None or description is None or required is None:
        return None
    line = int(node.start_mark.line) + 1
    return PurposeEntry(code, description, required, fields, line, households)


def _fields(reader: Reader, node: Node) -> tuple[str, ...] | None:
    items = reader.sequence(node, "purpose fields")
    if items is None:
        return None
    names: list[str] = []
    for item in items:
        value = reader.value(item)
        if not isinstance(value, str) or not FIELD_REFERENCE.match(value):
            reader.problem(item, "a purpose's fields are Type.field or Type.* (Person.name)")
            return None
        names.append(value)
    if not names:
        reader.problem(node, "purpose fields must name at least one field")
        return None
    return tuple(names)


def choose_purpose(program: Program, *, code: str | None, case_ref: str | None) -> Purpose | None:
    """The purpose a request runs under; FORBIDDEN for one the program lacks, or a missing
    (or malformed) case reference where the purpose requires one.

    Without a name the first listed purpose applies; a program that lists none runs under
    its agreement's single purpose (None here) and accepts no name.
    """
    if case_ref is not None and not CASE_REF.match(case_ref):
        raise Forbidden(
            "The case reference must be 1-200 letters, digits, spaces or . / : # ( ) - _."
        )
    if not program.purposes:
        if code is not None:
            raise Forbidden(f"Your program's agreement has no purpose {code[:64]!r}.")
        return None
    purpose = program.purposes[0] if code is None else program.purpose_named(code)
    if purpose is None:
        listed = ", ".join(p.code for p in program.purposes)
        raise Forbidden(
            f"Your program's agreement has no purpose {code[:64]!r} (it lists: {listed})."
            if code is not None
            else "Name a purpose."
        )
    if purpose.case_ref_required and not case_ref:
        raise Forbidden(
            f"Purpose {purpose.code} requires a case reference: send it in the"
            " `Regsosek-Case-Ref` header (or `extensions.caseRef`)."
        )
    return purpose


def narrowed_grants(
    granted: Mapping[tuple[str, str], object], fields: tuple[str, ...]
) -> tuple[set[tuple[str, str]], list[str]]:
    """The grants a purpose's field list keeps, and the entries that name no grant."""
    kept: set[tuple[str, str]] = set()
    unknown: list[str] = []
    for reference in fields:
        type_name, field_name = reference.split(".", 1)
        matched = {
            key
            for key in granted
            if key[0] == type_name and (field_name == "*" or key[1] == field_name)
        }
        if not matched:
            unknown.append(reference)
        kept |= matched
    return kept, unknown
