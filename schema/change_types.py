"""The change feed's GraphQL types (CONTRACT §8), per program like the registry types.

``Change.household`` and ``Change.person`` are of the program's own
``Household`` and ``Person`` types, and exist only where the program reads
that type. An ENTERED or UPDATED change carries what the program may read of
the row now (null when it no longer may); a LEFT change carries only the
row's identity in the form the program reads it (``id``, or for a program
that reads ``Person.nik`` as PSEUDONYM, ``nik``: its pseudonym), every other
selected field null.
"""

from __future__ import annotations

import enum
from typing import Any, Optional

import strawberry

from schema.api_types import connection_types
from schema.scalars import DateTime


@strawberry.enum(
    name="ChangeKind",
    description="Perubahan relatif terhadap cakupan baris program / A change relative to the"
    " program's own row scope",
)
class ChangeKind(enum.Enum):
    ENTERED = strawberry.enum_value(
        "ENTERED", description="Masuk cakupan / Was outside the scope, is inside now"
    )
    UPDATED = strawberry.enum_value(
        "UPDATED",
        description="Berubah pada field yang boleh dibaca / Inside before and after, and a field"
        " the program reads changed",
    )
    LEFT = strawberry.enum_value(
        "LEFT", description="Keluar cakupan / Was inside the scope, is outside now (or removed)"
    )


@strawberry.type(name="Release", description="Rilis data registri / A registry release")
class Release:
    id: strawberry.ID = strawberry.field(
        description="Pengenal rilis (mis. 2025Q3, seed) / Release id (e.g. 2025Q3, seed)"
    )
    importedAt: DateTime = strawberry.field(
        description="Waktu rilis dicatat / When the release was recorded"
    )


def change_types(household: type | None, person: type | None) -> type:
    """``ChangeConnection`` over a program's ``Change`` (with the row types it reads)."""
    annotations: dict[str, Any] = {"kind": ChangeKind, "release": Release}
    namespace: dict[str, Any] = {
        "kind": strawberry.field(name="kind"),
        "release": strawberry.field(name="release", description="Rilis asal / Its release"),
    }
    if household is not None:
        annotations["household"] = Optional[household]  # noqa: UP045
        namespace["household"] = strawberry.field(
            name="household",
            description="Keluarga (LEFT: hanya id) / The household (LEFT: its id only)",
        )
    if person is not None:
        annotations["person"] = Optional[person]  # noqa: UP045
        namespace["person"] = strawberry.field(
            name="person",
            description="Orang (LEFT: hanya identitasnya) / The person (LEFT: identity only)",
        )
    namespace["__annotations__"] = annotations
    change = strawberry.type(
        type("Change", (), namespace),
        name="Change",
        description="Satu perubahan dalam umpan program / One change of the program's feed",
    )
    connection, _ = connection_types(change, "Change")
    return connection
