"""The import layout: three files and their columns, derived from the models and the catalogue,
and how one value of a column is read (``parse_value``: the importer's rule and message, which
the agencies' proposals share).

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

import datetime as dt
import re
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


Value = str | int | bool | dt.date | None
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
TRUE = {"true", "t", "1", "yes", "y", "ya"}
FALSE = {"false", "f", "0", "no", "n", "tidak"}


class BadValue(ValueError):
    """A value that does not fit its column; the message is the reason shown to the operator."""


def shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def parse_value(spec: ColumnSpec, text: str | None) -> Value:
    """``text`` as the column's Python value; :class:`BadValue` with the reason otherwise."""
    if text is None:
        if spec.required:
            raise BadValue("a value is required")
        return None
    if spec.kind is Kind.DIGITS:
        if not (text.isascii() and text.isdigit() and len(text) == spec.digits):
            raise BadValue(f"must be exactly {spec.digits} digits, not {shown(text)}")
        return text
    if spec.kind is Kind.INTEGER:
        if not _INTEGER.fullmatch(text):
            raise BadValue(f"must be a whole number, not {shown(text)}")
        number = int(text)
        if spec.bounds and not spec.bounds[0] <= number <= spec.bounds[1]:
            low, high = spec.bounds
            raise BadValue(f"must be between {low} and {high}, not {number}")
        return number
    if spec.kind is Kind.BOOLEAN:
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise BadValue(f"must be true or false, not {shown(text)}")
    if spec.kind is Kind.DATE:
        try:
            if not _DATE.fullmatch(text):
                raise ValueError
            return dt.date.fromisoformat(text)
        except ValueError:
            raise BadValue(f"must be a date written YYYY-MM-DD, not {shown(text)}") from None
    if spec.kind is Kind.ENUM:
        assert spec.enum is not None
        allowed = [member.value for member in spec.enum]
        if text.isascii() and text.isdigit():  # the questionnaire's code: 1 = its first answer
            number = int(text)
            if 1 <= number <= len(allowed):
                return allowed[number - 1]
            raise BadValue(
                f"must be one of {', '.join(allowed)} or its questionnaire code 1-{len(allowed)};"
                f" not {shown(text)}"
            )
        if text.upper() not in allowed:
            raise BadValue(
                f"must be one of {', '.join(allowed)} or its questionnaire code 1-{len(allowed)};"
                f" not {shown(text)}"
            )
        return text.upper()
    return text


def layout_text(value: Value) -> str:
    """A column's value as an import file writes it (``parse_value`` reads it back)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
