"""Input types: the filters of CONTRACT §5, built per program like the output types.

A program's ``HouseholdFilter`` and ``PersonFilter`` hold only the fields it may
use (``schema.compiler.filters``: a filter field needs every field it reads in
full), so a filter field it may not use is absent from its introspection and a
query naming it fails validation exactly like one that does not exist. A
program that may use none has no such type (and its roots no ``filter``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

import strawberry

from schema.enums import AssistanceProgram, Sex
from schema.scalars import DateTime

HOUSEHOLD_FILTER_FIELDS: Mapping[str, tuple[Any, str]] = {
    "regionCode": (
        str,
        "Awalan kode wilayah BPS (2, 4, 7 atau 10 digit) / BPS region code prefix",
    ),
    "welfareDecileMin": (int, "Desil terendah (1-10) / Lowest welfare decile"),
    "welfareDecileMax": (int, "Desil tertinggi (1-10) / Highest welfare decile"),
    "receivesProgram": (
        AssistanceProgram,
        "Menerima program bantuan (r501) / Received this program (r501; PBI_JKN matches no"
        " family: PBI-JKN membership is Person.insurance.pbiJkn)",
    ),
    "hasMemberAgedUnder": (
        int,
        "Ada anggota berumur di bawah N tahun / Has a member younger than N years",
    ),
    "womanHeaded": (bool, "Kepala keluarga perempuan / Headed by a woman"),
    "updatedSince": (DateTime, "Diperbarui sejak / Updated at or after this time"),
}

PERSON_FILTER_FIELDS: Mapping[str, tuple[Any, str]] = {
    "regionCode": (str, "Awalan kode wilayah BPS / BPS region code prefix"),
    "sex": (Sex, "Jenis kelamin (r405) / Sex"),
    "ageMin": (int, "Umur minimal (tahun) / Minimum age in years"),
    "ageMax": (int, "Umur maksimal (tahun) / Maximum age in years"),
    "pregnant": (bool, "Sedang hamil (r410) / Pregnant"),
    "hasDisability": (
        bool,
        "Banyak kesulitan atau tidak bisa sama sekali pada salah satu fungsi (r428)"
        " / A lot of difficulty or cannot do at all in any domain",
    ),
    "householdId": (strawberry.ID, "Anggota keluarga ini / Members of this household"),
}


def _filter_input(
    name: str, description: str, specs: Mapping[str, tuple[Any, str]], fields: Sequence[str]
) -> Any:
    if not fields:
        return None
    namespace: dict[str, Any] = {
        "__annotations__": {field: Optional[specs[field][0]] for field in fields}  # noqa: UP045
    }
    for field in fields:
        namespace[field] = strawberry.field(default=None, description=specs[field][1])
    return strawberry.input(type(name, (), namespace), name=name, description=description)


def household_filter(fields: Sequence[str]) -> Any:
    """``HouseholdFilter`` with ``fields`` only (None when there are none)."""
    return _filter_input(
        "HouseholdFilter", "Saringan keluarga / Household filter", HOUSEHOLD_FILTER_FIELDS, fields
    )


def person_filter(fields: Sequence[str]) -> Any:
    """``PersonFilter`` with ``fields`` only (None when there are none)."""
    return _filter_input(
        "PersonFilter", "Saringan orang / Person filter", PERSON_FILTER_FIELDS, fields
    )


@strawberry.input(description="Saringan jejak audit / Audit trail filter")
class AuditFilter:
    clientId: str | None = None
    program: str | None = None
    agency: str | None = None
    outcome: str | None = None
    from_: DateTime | None = strawberry.field(default=None, name="from")
    to: DateTime | None = None
    householdId: strawberry.ID | None = None
