"""The import layout: three files and their columns, derived from the models and the catalogue.

* ``households``: one row per family, identified by ``kk_number`` (No KK);
* ``persons``: one row per member, with the ``kk_number`` of the family;
* ``assistance``: one row per month a family received a program.

Each column's type, nullability and allowed values come from the SQLAlchemy
model, its description and Regsosek code from ``db.catalog``, so the layout
cannot drift from the schema. Columns the registry derives (ids, region
parents, ``head_sex``, ``youngest_birth_date``, ``received_programs``,
timestamps) are not part of the layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum

from sqlalchemy import Boolean, Column, Date, Integer, SmallInteger
from sqlalchemy.dialects.postgresql import ENUM

from db import catalog
from db.enums import CODEBOOK
from db.models import AssistanceReceipt, Household, Person


class Kind(StrEnum):
    TEXT = "text"
    DIGITS = "digits"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATE = "date"
    ENUM = "enum"


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: Kind
    required: bool
    description: str
    code: str | None = None
    digits: int | None = None
    """Exact number of digits of a DIGITS column."""
    bounds: tuple[int, int] | None = None
    enum: type[StrEnum] | None = None

    def type_text(self) -> str:
        """How the template's README names the type."""
        if self.kind is Kind.DIGITS:
            return f"{self.digits} digits"
        if self.kind is Kind.INTEGER and self.bounds:
            return f"integer {self.bounds[0]}-{self.bounds[1]}"
        if self.kind is Kind.BOOLEAN:
            return "boolean (true/false)"
        if self.kind is Kind.DATE:
            return "date (YYYY-MM-DD)"
        return self.kind.value


@dataclass(frozen=True)
class FileSpec:
    table: str
    """The file's name without extension, and the layout's name for it."""
    description: str
    columns: tuple[ColumnSpec, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


DIGIT_COLUMNS = {"kk_number": 16, "nik": 16, "desa_code": 10, "sls_code": 14}
BOUNDS = {
    "member_count": (1, 30),
    "welfare_decile": (1, 10),
    "floor_area": (1, 5000),
    "member_no": (1, 30),
    "hours_per_week": (0, 168),
    "month": (1, 12),
    "year": (2000, 2100),
}
NOT_IN_LAYOUT = {
    "id",
    "household_id",
    "kecamatan_code",
    "kabupaten_code",
    "provinsi_code",
    "head_sex",
    "youngest_birth_date",
    "received_programs",
    "created_at",
    "updated_at",
}
EXTRA_DESCRIPTIONS = {
    "desa_code": ("r101-r104", "Kode desa/kelurahan BPS (10 digit) / BPS desa code (10 digits)"),
    "member_no": ("r401", "Nomor urut anggota keluarga / Member's number on the family card"),
}
FAMILY_KEY = ColumnSpec(
    "kk_number",
    Kind.DIGITS,
    True,
    "Nomor Kartu Keluarga keluarga ini / No KK of the family the row belongs to",
    code="r114",
    digits=16,
)


def _catalogued() -> dict[str, tuple[str | None, str]]:
    found: dict[str, tuple[str | None, str]] = {}
    for entity in (
        catalog.HOUSEHOLD, catalog.HOUSING, catalog.ASSETS, catalog.ASSISTANCE, catalog.PERSON,
        catalog.DOCUMENTS, catalog.EDUCATION, catalog.EMPLOYMENT, catalog.DISABILITY,
        catalog.HEALTH_INSURANCE, catalog.SOCIAL_PROTECTION,
    ):  # fmt: skip
        for attribute in entity.attributes.values():
            if attribute.column and attribute.column not in found:
                found[attribute.column] = (
                    attribute.code,
                    f"{attribute.indonesian} / {attribute.english}",
                )
    return found


def _spec(column: Column[object], described: dict[str, tuple[str | None, str]]) -> ColumnSpec:
    code, description = described.get(column.name) or EXTRA_DESCRIPTIONS[column.name]
    enum = None
    if column.name in DIGIT_COLUMNS:
        kind = Kind.DIGITS
    elif isinstance(column.type, ENUM):
        kind = Kind.ENUM
        enum_class = column.type.enum_class
        assert enum_class is not None
        assert issubclass(enum_class, Enum)
        enum = enum_class
    elif isinstance(column.type, Boolean):
        kind = Kind.BOOLEAN
    elif isinstance(column.type, SmallInteger | Integer):
        kind = Kind.INTEGER
    elif isinstance(column.type, Date):
        kind = Kind.DATE
    else:
        kind = Kind.TEXT
    return ColumnSpec(
        name=column.name,
        kind=kind,
        required=not column.nullable,
        description=description,
        code=code,
        digits=DIGIT_COLUMNS.get(column.name),
        bounds=BOUNDS.get(column.name),
        enum=enum,  # type: ignore[arg-type]
    )


def _file(table: str, model: type[object], *, description: str, keyed: bool) -> FileSpec:
    described = _catalogued()
    columns = [
        _spec(column, described)
        for column in model.__table__.columns  # type: ignore[attr-defined]
        if column.name not in NOT_IN_LAYOUT
    ]
    return FileSpec(table, description, ((FAMILY_KEY,) if keyed else ()) + tuple(columns))


HOUSEHOLDS = _file(
    "households",
    Household,
    description="One row per family (Kartu Keluarga), identified by kk_number.",
    keyed=False,
)
PERSONS = _file(
    "persons",
    Person,
    description="One row per family member; kk_number names the member's family.",
    keyed=True,
)
ASSISTANCE = _file(
    "assistance",
    AssistanceReceipt,
    description="One row per month in which a family received a program (r501).",
    keyed=True,
)
FILES = (HOUSEHOLDS, PERSONS, ASSISTANCE)


def allowed_values(spec: ColumnSpec) -> list[tuple[str, str]]:
    """``(value, Indonesian label)`` of an enum column, from ``db.enums.CODEBOOK``."""
    if spec.enum is None:
        return []
    labels = CODEBOOK[spec.enum].labels
    return [(member.value, labels.get(member.value, "")) for member in spec.enum]
