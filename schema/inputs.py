"""Input types: the filters of CONTRACT §5.

The filters are the same for every program; a filter on a field the program
may not read is refused with FORBIDDEN when the operation is planned (see
``schema.compiler.filters``).
"""

from __future__ import annotations

import strawberry

from schema.enums import AssistanceProgram, Sex
from schema.scalars import DateTime


@strawberry.input(description="Saringan keluarga / Household filter")
class HouseholdFilter:
    regionCode: str | None = strawberry.field(
        default=None,
        description="Awalan kode wilayah BPS (2, 4, 7 atau 10 digit) / BPS region code prefix",
    )
    welfareDecileMin: int | None = strawberry.field(
        default=None, description="Desil terendah (1-10) / Lowest welfare decile"
    )
    welfareDecileMax: int | None = strawberry.field(
        default=None, description="Desil tertinggi (1-10) / Highest welfare decile"
    )
    receivesProgram: AssistanceProgram | None = strawberry.field(
        default=None, description="Menerima program bantuan (r501) / Received this program"
    )
    hasMemberAgedUnder: int | None = strawberry.field(
        default=None,
        description="Ada anggota berumur di bawah N tahun / Has a member younger than N years",
    )
    womanHeaded: bool | None = strawberry.field(
        default=None, description="Kepala keluarga perempuan / Headed by a woman"
    )
    updatedSince: DateTime | None = strawberry.field(
        default=None, description="Diperbarui sejak / Updated at or after this time"
    )


@strawberry.input(description="Saringan orang / Person filter")
class PersonFilter:
    regionCode: str | None = strawberry.field(
        default=None, description="Awalan kode wilayah BPS / BPS region code prefix"
    )
    sex: Sex | None = strawberry.field(default=None, description="Jenis kelamin (r405) / Sex")
    ageMin: int | None = strawberry.field(
        default=None, description="Umur minimal (tahun) / Minimum age in years"
    )
    ageMax: int | None = strawberry.field(
        default=None, description="Umur maksimal (tahun) / Maximum age in years"
    )
    pregnant: bool | None = strawberry.field(
        default=None, description="Sedang hamil (r410) / Pregnant"
    )
    hasDisability: bool | None = strawberry.field(
        default=None,
        description="Banyak kesulitan atau tidak bisa sama sekali pada salah satu fungsi (r428)"
        " / A lot of difficulty or cannot do at all in any domain",
    )
    householdId: strawberry.ID | None = strawberry.field(
        default=None, description="Anggota keluarga ini / Members of this household"
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
