"""The change feed's GraphQL types (CONTRACT §8), per program like the registry types.

Every ``Change`` names its row in ``subjectType`` (``HOUSEHOLD`` or ``PERSON``, the
entities the program's feed follows) and ``subject``: the row's identity in the form
the program reads it (the ``id``, or for a program that reads ``Person.nik`` as
PSEUDONYM, its pseudonym), for every kind. ``subject`` exists only for a program that
reads an identity of every entity its feed follows; it is never null.

``Change.household`` and ``Change.person`` are of the program's own ``Household`` and
``Person`` types, and exist only where the program reads that type. An ENTERED or
UPDATED change carries what the program may read of the row now (null when it no longer
may); a LEFT change carries none of it (both null): what left is told by its
``subject`` alone, so no field of ``Household`` or ``Person`` is ever null against its
declared type.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from typing import Any, Optional

import strawberry

from policies import Entity
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


SUBJECT_TYPES = {
    Entity.HOUSEHOLD: ("HOUSEHOLD", "Keluarga / A household"),
    Entity.PERSON: ("PERSON", "Orang / A person"),
}


def change_subject_type(entities: Collection[Entity]) -> Any:
    """``ChangeSubjectType`` with the entities of the program's feed."""
    members = {
        name: strawberry.enum_value(name, description=description)
        for entity, (name, description) in SUBJECT_TYPES.items()
        if entity in entities
    }
    subject_type: Any = enum.Enum("ChangeSubjectType", members)  # type: ignore[misc]
    return strawberry.enum(
        subject_type,
        description="Jenis baris yang berubah / What kind of row changed",
    )


def change_types(
    *, household: type | None, person: type | None, entities: Collection[Entity], subject: bool
) -> type:
    """``ChangeConnection`` over a program's ``Change``: with the row types it reads, the
    entities its feed follows, and (``subject``) whether it reads an identity of each."""
    annotations: dict[str, Any] = {
        "kind": ChangeKind,
        "release": Release,
        "subjectType": change_subject_type(entities),
    }
    namespace: dict[str, Any] = {
        "kind": strawberry.field(name="kind"),
        "release": strawberry.field(name="release", description="Rilis asal / Its release"),
        "subjectType": strawberry.field(
            name="subjectType", description="Jenis baris / The changed row's kind"
        ),
    }
    if subject:
        annotations["subject"] = strawberry.ID
        namespace["subject"] = strawberry.field(
            name="subject",
            description="Identitas baris seperti dibaca program: id, atau pseudonim NIK; juga"
            " untuk LEFT / The row's identity as the program reads it: its id, or the NIK's"
            " pseudonym; for every kind, LEFT too",
        )
    if household is not None:
        annotations["household"] = Optional[household]  # noqa: UP045
        namespace["household"] = strawberry.field(
            name="household",
            description="Keluarga kini (kosong untuk LEFT) / The household now (null for LEFT)",
        )
    if person is not None:
        annotations["person"] = Optional[person]  # noqa: UP045
        namespace["person"] = strawberry.field(
            name="person",
            description="Orang kini (kosong untuk LEFT) / The person now (null for LEFT)",
        )
    namespace["__annotations__"] = annotations
    change = strawberry.type(
        type("Change", (), namespace),
        name="Change",
        description="Satu perubahan dalam umpan program / One change of the program's feed",
    )
    connection, _ = connection_types(change, "Change")
    return connection
