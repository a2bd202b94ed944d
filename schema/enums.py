"""GraphQL enums: the questionnaire's coded variables, and the API's own."""

from __future__ import annotations

import enum
from collections.abc import Collection
from typing import Any

import strawberry

from db import enums as coded
from db.enums import CODEBOOK


def _coded(py_enum: type[enum.StrEnum]) -> Any:
    entry = CODEBOOK[py_enum]
    members = {
        member.name: strawberry.enum_value(member.value, description=entry.labels[member.name])
        for member in py_enum
    }
    graphql_enum = enum.Enum(py_enum.__name__, members)  # type: ignore[misc]
    return strawberry.enum(
        graphql_enum, description=f"{entry.indonesian} / {entry.english} ({entry.code})"
    )


CODED: dict[str, Any] = {py_enum.__name__: _coded(py_enum) for py_enum in CODEBOOK}
"""Every coded variable's GraphQL enum, by name (``Sex``, ``FloorMaterial`` …)."""


HOUSEHOLD_ORDERS = {
    "ID_ASC": "Menurut id / By id",
    "WELFARE_DECILE_ASC": "Desil termiskin dahulu / Poorest decile first",
    "UPDATED_AT_ASC": "Pembaruan terlama dahulu, untuk tarikan bertahap / Oldest update first",
}


def household_order(usable: Collection[str]) -> Any:
    """``HouseholdOrder`` with the orderings a program may use: an ordering exists for a
    program only if it may read, in full, what it sorts on (``Ordering.usable_by``)."""
    members = {
        name: strawberry.enum_value(name, description=description)
        for name, description in HOUSEHOLD_ORDERS.items()
        if name in usable
    }
    orders: Any = enum.Enum("HouseholdOrder", members)  # type: ignore[misc]
    return strawberry.enum(
        orders, description="Urutan halaman keluarga / Order of a households page"
    )


@strawberry.enum(description="Dimensi pengelompokan statistik / Grouping dimension")
class HouseholdDimension(enum.Enum):
    PROVINSI = "PROVINSI"
    KABUPATEN = "KABUPATEN"
    KECAMATAN = "KECAMATAN"
    DESA = "DESA"
    WELFARE_DECILE = "WELFARE_DECILE"
    HEAD_SEX = "HEAD_SEX"
    ASSISTANCE_PROGRAM = "ASSISTANCE_PROGRAM"


@strawberry.enum(description="Cara program melihat sebuah field / How the program sees a field")
class FieldAccessMode(enum.Enum):
    FULL = strawberry.enum_value("FULL", description="Nilai asli / The value as recorded")
    MASKED = strawberry.enum_value("MASKED", description="Disamarkan / Partly hidden")
    PSEUDONYM = strawberry.enum_value(
        "PSEUDONYM", description="Token tetap per program / A stable per-program token"
    )


RegionLevel = CODED["RegionLevel"]
AssistanceProgram = CODED["AssistanceProgram"]
Sex = CODED["Sex"]

__all__ = [
    "CODED",
    "AssistanceProgram",
    "FieldAccessMode",
    "HouseholdDimension",
    "RegionLevel",
    "Sex",
    "coded",
    "household_order",
]
