"""The registry's GraphQL types as one program sees them.

Types are generated from the data dictionary (``db/catalog.py``) for each
program: a field the program may not read is not in its schema at all (not in
introspection, not in GraphiQL, and a query naming it fails validation exactly
like a field that does not exist). A masked or pseudonymised field is a
``String`` whose description says so.
"""

from __future__ import annotations

from typing import Any, Optional

import strawberry

from db.catalog import CATALOG, Attribute, Kind
from policies import FieldMode, Program
from schema.enums import CODED
from schema.scalars import Date, DateTime

SCALARS: dict[str, Any] = {
    "ID": strawberry.ID,
    "String": str,
    "Int": int,
    "Float": float,
    "Boolean": bool,
    "Date": Date,
    "DateTime": DateTime,
}

MODE_NOTES = {
    FieldMode.MASKED: " [DISAMARKAN / MASKED: {how}]",
    FieldMode.PSEUDONYM: " [PSEUDONIM / PSEUDONYM: token tetap per program, stable per program]",
}
MASK_HOW = {
    "DIGITS_6_4": "6 digit pertama dan 4 terakhir / first 6 and last 4 digits",
    "INITIALS": "inisial / initials",
    "YEAR": "tahun saja / year only",
}


def readable_fields(program: Program) -> dict[str, dict[str, FieldMode]]:
    """For every registry type the program can reach, the fields it reads and how.

    An object or relation field is kept only when its target type keeps at
    least one field, so that no type in the schema is empty.
    """
    fields: dict[str, dict[str, FieldMode]] = {}
    for type_name, entity in CATALOG.items():
        if entity.public:
            fields[type_name] = {name: FieldMode.FULL for name in entity.attributes}
        else:
            fields[type_name] = {
                name: mode
                for name in entity.attributes
                if (mode := program.mode(type_name, name)) is not FieldMode.DENIED
            }
    changed = True
    while changed:
        changed = False
        for type_name, granted in fields.items():
            for name in list(granted):
                target = CATALOG[type_name].attributes[name].target
                if target is not None and not fields.get(target):
                    del granted[name]
                    changed = True
    return {type_name: granted for type_name, granted in fields.items() if granted}


def _annotation(sdl: str, classes: dict[str, type], *, masked: bool) -> Any:
    non_null = sdl.endswith("!")
    core = sdl[:-1] if non_null else sdl
    if core.startswith("["):
        inner = _annotation(core[1:-1], classes, masked=False)
        annotation: Any = list[inner]  # type: ignore[valid-type]
    elif masked:
        annotation = str
    elif core in SCALARS:
        annotation = SCALARS[core]
    elif core in CODED:
        annotation = CODED[core]
    else:
        annotation = classes[core]
    return annotation if non_null else Optional[annotation]  # noqa: UP045


def _description(attribute: Attribute, mode: FieldMode) -> str:
    note = MODE_NOTES.get(mode)
    if note is None:
        return attribute.description
    how = MASK_HOW.get(attribute.mask.value if attribute.mask else "", "")
    return attribute.description + note.format(how=how)


def build_registry_types(program: Program) -> dict[str, type]:
    """Strawberry types (by GraphQL name) of the registry as ``program`` may read it."""
    visible = readable_fields(program)
    classes: dict[str, type] = {name: type(name, (), {}) for name in visible}
    for type_name, granted in visible.items():
        cls = classes[type_name]
        annotations: dict[str, Any] = {}
        for name, mode in granted.items():
            attribute = CATALOG[type_name].attributes[name]
            masked = (
                mode in (FieldMode.MASKED, FieldMode.PSEUDONYM) and attribute.kind is Kind.SCALAR
            )
            annotations[name] = _annotation(attribute.graphql_type, classes, masked=masked)
            setattr(
                cls, name, strawberry.field(name=name, description=_description(attribute, mode))
            )
        cls.__annotations__ = annotations
    return {
        type_name: strawberry.type(
            classes[type_name], name=type_name, description=CATALOG[type_name].description
        )
        for type_name in visible
    }
