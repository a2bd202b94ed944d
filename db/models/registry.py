"""The registry: regions (Blok I codes), households (Blok I, III, V), persons
(Blok IV) and assistance receipts (r501).

Three household columns are derived from the members and receipts so that row
scopes never need to look into another table: ``head_sex``,
``youngest_birth_date`` and ``received_programs``. The seeder and the importer
are the only writers of registry rows and both keep them right
(``db.derived.refresh_household_derived``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db import enums
from db.models.base import Base, pg_enum

DIGITS_16 = "^[0-9]{16}$"


class Region(Base):
    """A BPS region: provinsi (2 digits), kabupaten (4), kecamatan (7) or desa (10)."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(
        String(10), ForeignKey("regions.code", ondelete="RESTRICT")
    )
    level: Mapped[enums.RegionLevel] = mapped_column(pg_enum(enums.RegionLevel))
    name: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("code ~ '^[0-9]+$'", name="code_digits"),
        CheckConstraint(
            "(level = 'PROVINSI' AND length(code) = 2 AND parent_code IS NULL)"
            " OR (level = 'KABUPATEN' AND length(code) = 4)"
            " OR (level = 'KECAMATAN' AND length(code) = 7)"
            " OR (level = 'DESA' AND length(code) = 10)",
            name="code_length_matches_level",
        ),
        CheckConstraint(
            "parent_code IS NULL OR starts_with(code, parent_code)", name="code_under_parent"
        ),
        CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
        Index("ix_regions_parent_code", "parent_code"),
    )


REGION_COLUMNS: Final = {
    2: "provinsi_code",
    4: "kabupaten_code",
    7: "kecamatan_code",
    10: "desa_code",
}
"""The household column holding each length of BPS region code: its ``desa_code`` and the
codes of the kecamatan, kabupaten and provinsi above it (generated from it)."""


class Household(Base):
    """A family on one Kartu Keluarga, as Regsosek enumerated it."""

    __tablename__ = "households"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    kk_number: Mapped[str] = mapped_column(String(16), unique=True)
    desa_code: Mapped[str] = mapped_column(String(10), ForeignKey("regions.code"))
    kecamatan_code: Mapped[str] = mapped_column(
        String(7), Computed("left(desa_code, 7)", persisted=True)
    )
    kabupaten_code: Mapped[str] = mapped_column(
        String(4), Computed("left(desa_code, 4)", persisted=True)
    )
    provinsi_code: Mapped[str] = mapped_column(
        String(2), Computed("left(desa_code, 2)", persisted=True)
    )
    sls_code: Mapped[str] = mapped_column(String(14))
    address: Mapped[str] = mapped_column(Text)
    head_name: Mapped[str] = mapped_column(Text)
    member_count: Mapped[int] = mapped_column(SmallInteger)
    welfare_decile: Mapped[int] = mapped_column(SmallInteger)

    tenure: Mapped[enums.Tenure] = mapped_column(pg_enum(enums.Tenure))
    floor_area: Mapped[int] = mapped_column(SmallInteger)
    floor_material: Mapped[enums.FloorMaterial] = mapped_column(pg_enum(enums.FloorMaterial))
    wall_material: Mapped[enums.WallMaterial] = mapped_column(pg_enum(enums.WallMaterial))
    roof_material: Mapped[enums.RoofMaterial] = mapped_column(pg_enum(enums.RoofMaterial))
    drinking_water: Mapped[enums.DrinkingWater] = mapped_column(pg_enum(enums.DrinkingWater))
    lighting: Mapped[enums.Lighting] = mapped_column(pg_enum(enums.Lighting))
    electricity_wattage: Mapped[enums.ElectricityWattage | None] = mapped_column(
        pg_enum(enums.ElectricityWattage)
    )
    cooking_fuel: Mapped[enums.CookingFuel] = mapped_column(pg_enum(enums.CookingFuel))
    toilet: Mapped[enums.Toilet] = mapped_column(pg_enum(enums.Toilet))
    waste_disposal: Mapped[enums.WasteDisposal] = mapped_column(pg_enum(enums.WasteDisposal))

    asset_lpg_tube: Mapped[bool] = mapped_column(Boolean)
    asset_refrigerator: Mapped[bool] = mapped_column(Boolean)
    asset_air_conditioner: Mapped[bool] = mapped_column(Boolean)
    asset_water_heater: Mapped[bool] = mapped_column(Boolean)
    asset_landline: Mapped[bool] = mapped_column(Boolean)
    asset_flat_tv: Mapped[bool] = mapped_column(Boolean)
    asset_gold: Mapped[bool] = mapped_column(Boolean)
    asset_computer: Mapped[bool] = mapped_column(Boolean)
    asset_motorcycle: Mapped[bool] = mapped_column(Boolean)
    asset_bicycle: Mapped[bool] = mapped_column(Boolean)
    asset_car: Mapped[bool] = mapped_column(Boolean)
    asset_boat: Mapped[bool] = mapped_column(Boolean)
    asset_motor_boat: Mapped[bool] = mapped_column(Boolean)
    asset_smartphone: Mapped[bool] = mapped_column(Boolean)
    asset_other_land: Mapped[bool] = mapped_column(Boolean)
    asset_internet: Mapped[bool] = mapped_column(Boolean)
    asset_bank_account: Mapped[bool] = mapped_column(Boolean)

    head_sex: Mapped[enums.Sex] = mapped_column(pg_enum(enums.Sex))
    youngest_birth_date: Mapped[date] = mapped_column(Date)
    received_programs: Mapped[list[enums.AssistanceProgram]] = mapped_column(
        postgresql.ARRAY(pg_enum(enums.AssistanceProgram)), server_default="{}"
    )

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    members: Mapped[list[Person]] = relationship(
        back_populates="household", lazy="raise", order_by="Person.member_no"
    )

    __table_args__ = (
        CheckConstraint(f"kk_number ~ '{DIGITS_16}'", name="kk_number_16_digits"),
        CheckConstraint("length(desa_code) = 10", name="desa_code_10_digits"),
        CheckConstraint(
            "sls_code ~ '^[0-9]{14}$' AND starts_with(sls_code, desa_code)", name="sls_in_desa"
        ),
        CheckConstraint("welfare_decile BETWEEN 1 AND 10", name="welfare_decile_1_10"),
        CheckConstraint("member_count BETWEEN 1 AND 30", name="member_count_range"),
        CheckConstraint("floor_area BETWEEN 1 AND 5000", name="floor_area_range"),
        CheckConstraint("length(btrim(head_name)) > 0", name="head_name_not_blank"),
        Index("ix_households_provinsi_code_id", "provinsi_code", "id"),
        Index("ix_households_kabupaten_code_id", "kabupaten_code", "id"),
        Index("ix_households_kecamatan_code_id", "kecamatan_code", "id"),
        Index("ix_households_desa_code_id", "desa_code", "id"),
        Index("ix_households_welfare_decile_id", "welfare_decile", "id"),
        Index("ix_households_updated_at_id", "updated_at", "id"),
        # householdStats counts desa x decile x sex from this index alone (index-only scan):
        # it holds every column a household row scope (and so the RLS policy) can name,
        # except received_programs.
        Index(
            "ix_households_stats",
            "desa_code",
            "welfare_decile",
            "head_sex",
            postgresql_include=[
                "kecamatan_code",
                "kabupaten_code",
                "provinsi_code",
                "youngest_birth_date",
            ],
        ),
        Index("ix_households_received_programs", "received_programs", postgresql_using="gin"),
    )


class Person(Base):
    """A member of a household (Blok IV)."""

    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    household_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("households.id", ondelete="CASCADE")
    )
    member_no: Mapped[int] = mapped_column(SmallInteger)
    nik: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(Text)
    sex: Mapped[enums.Sex] = mapped_column(pg_enum(enums.Sex))
    birth_date: Mapped[date] = mapped_column(Date)
    relationship_to_head: Mapped[enums.Relationship] = mapped_column(pg_enum(enums.Relationship))
    marital_status: Mapped[enums.MaritalStatus] = mapped_column(pg_enum(enums.MaritalStatus))
    pregnant: Mapped[bool] = mapped_column(Boolean)
    has_birth_certificate: Mapped[bool] = mapped_column(Boolean)
    has_kia: Mapped[bool] = mapped_column(Boolean)
    has_ktp: Mapped[bool] = mapped_column(Boolean)
    enrollment: Mapped[enums.Enrollment] = mapped_column(pg_enum(enums.Enrollment))
    education_level: Mapped[enums.EducationLevel] = mapped_column(pg_enum(enums.EducationLevel))
    worked_last_week: Mapped[bool] = mapped_column(Boolean)
    hours_per_week: Mapped[int | None] = mapped_column(SmallInteger)
    industry: Mapped[enums.Industry | None] = mapped_column(pg_enum(enums.Industry))
    employment_status: Mapped[enums.EmploymentStatus | None] = mapped_column(
        pg_enum(enums.EmploymentStatus)
    )
    difficulty_seeing: Mapped[enums.DifficultyLevel] = mapped_column(pg_enum(enums.DifficultyLevel))
    difficulty_hearing: Mapped[enums.DifficultyLevel] = mapped_column(
        pg_enum(enums.DifficultyLevel)
    )
    difficulty_walking: Mapped[enums.DifficultyLevel] = mapped_column(
        pg_enum(enums.DifficultyLevel)
    )
    difficulty_hands: Mapped[enums.DifficultyLevel] = mapped_column(pg_enum(enums.DifficultyLevel))
    difficulty_remembering: Mapped[enums.DifficultyLevel] = mapped_column(
        pg_enum(enums.DifficultyLevel)
    )
    difficulty_behaviour: Mapped[enums.DifficultyLevel] = mapped_column(
        pg_enum(enums.DifficultyLevel)
    )
    difficulty_communicating: Mapped[enums.DifficultyLevel] = mapped_column(
        pg_enum(enums.DifficultyLevel)
    )
    difficulty_self_care: Mapped[enums.DifficultyLevel] = mapped_column(
        pg_enum(enums.DifficultyLevel)
    )
    chronic_illness: Mapped[enums.ChronicIllness] = mapped_column(pg_enum(enums.ChronicIllness))
    insurance_pbi_jkn: Mapped[bool] = mapped_column(Boolean)
    insurance_jkn_self_paid: Mapped[bool] = mapped_column(Boolean)
    insurance_jkn_employer: Mapped[bool] = mapped_column(Boolean)
    insurance_other: Mapped[bool] = mapped_column(Boolean)
    protection_prakerja: Mapped[bool] = mapped_column(Boolean)
    protection_kur: Mapped[bool] = mapped_column(Boolean)
    protection_umi: Mapped[bool] = mapped_column(Boolean)
    protection_pip: Mapped[bool] = mapped_column(Boolean)
    protection_bpjs_tk: Mapped[bool] = mapped_column(Boolean)

    household: Mapped[Household] = relationship(back_populates="members", lazy="raise")

    __table_args__ = (
        CheckConstraint(f"nik ~ '{DIGITS_16}'", name="nik_16_digits"),
        CheckConstraint("member_no BETWEEN 1 AND 30", name="member_no_range"),
        CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
        CheckConstraint(
            "hours_per_week IS NULL OR hours_per_week BETWEEN 0 AND 168", name="hours_range"
        ),
        CheckConstraint("NOT pregnant OR sex = 'FEMALE'", name="only_women_pregnant"),
        UniqueConstraint("household_id", "member_no"),
    )


class AssistanceReceipt(Base):
    """One month in which a household received a program's assistance (r501)."""

    __tablename__ = "assistance_receipts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    household_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("households.id", ondelete="CASCADE")
    )
    program: Mapped[enums.AssistanceProgram] = mapped_column(pg_enum(enums.AssistanceProgram))
    month: Mapped[int] = mapped_column(SmallInteger)
    year: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint("month BETWEEN 1 AND 12", name="month_1_12"),
        CheckConstraint("year BETWEEN 2000 AND 2100", name="year_range"),
        UniqueConstraint("household_id", "program", "year", "month"),
        Index("ix_assistance_receipts_program_household_id", "program", "household_id"),
    )
