"""One chunk of the synthetic registry: families, their members and receipts, as COPY payloads.

Each chunk draws from its own random stream (``seed``, chunk number), so a
chunk's content depends only on the seed, its number and the serial
counters left by the chunks before it: the same seed always gives the same
rows, and the first ``k`` chunks are the same whatever the total.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from db import enums
from db.seed import binary
from db.seed.assistance import PROGRAMS, Receipts, draw_receipts
from db.seed.binary import CopyRows, Segment, literal, unpadded_digits, vocabulary, words
from db.seed.households import Geography, Households, draw_households
from db.seed.identity import Identities
from db.seed.members import FEMALE, Members, draw_members
from db.seed.names import FEMALE_GIVEN, FEMALE_SECOND, HAMLETS, MALE_GIVEN, MALE_SECOND, STREETS
from db.seed.persons import Persons, draw_persons
from db.seed.regions import villages

CHUNK_HOUSEHOLDS = 20_000
KK_ISSUED_FROM = np.datetime64("2005-01-01", "D")
KK_ISSUED_UNTIL = np.datetime64("2022-09-30", "D")

HOUSEHOLD_COLUMNS = (
    "id", "kk_number", "desa_code", "sls_code", "address", "head_name", "member_count",
    "welfare_decile", "tenure", "floor_area", "floor_material", "wall_material",
    "roof_material", "drinking_water", "lighting", "electricity_wattage", "cooking_fuel",
    "toilet", "waste_disposal", "asset_lpg_tube", "asset_refrigerator",
    "asset_air_conditioner", "asset_water_heater", "asset_landline", "asset_flat_tv",
    "asset_gold", "asset_computer", "asset_motorcycle", "asset_bicycle", "asset_car",
    "asset_boat", "asset_motor_boat", "asset_smartphone", "asset_other_land",
    "asset_internet", "asset_bank_account", "head_sex", "youngest_birth_date",
    "received_programs",
)  # fmt: skip
PERSON_COLUMNS = (
    "id", "household_id", "member_no", "nik", "name", "sex", "birth_date",
    "relationship_to_head", "marital_status", "pregnant", "has_birth_certificate", "has_kia",
    "has_ktp", "enrollment", "education_level", "worked_last_week", "hours_per_week",
    "industry", "employment_status", "difficulty_seeing", "difficulty_hearing",
    "difficulty_walking", "difficulty_hands", "difficulty_remembering",
    "difficulty_behaviour", "difficulty_communicating", "difficulty_self_care",
    "chronic_illness", "insurance_pbi_jkn", "insurance_jkn_self_paid",
    "insurance_jkn_employer", "insurance_other", "protection_prakerja", "protection_kur",
    "protection_umi", "protection_pip", "protection_bpjs_tk",
)  # fmt: skip
RECEIPT_COLUMNS = ("id", "household_id", "program", "month", "year")

Vocabulary = tuple[np.ndarray, np.ndarray]


def _labels(enum: type[StrEnum]) -> Vocabulary:
    return vocabulary([member.value for member in enum])


def _programs_array(mask: int, element_oid: int) -> bytes:
    """The binary form of an ``assistance_program[]`` holding the programs in ``mask``."""
    chosen = [p.value.encode() for i, p in enumerate(PROGRAMS) if mask >> i & 1]
    head = [0 if not chosen else 1, 0, element_oid]
    out = b"".join(value.to_bytes(4, "big") for value in head)
    if chosen:
        out += len(chosen).to_bytes(4, "big") + (1).to_bytes(4, "big")
        out += b"".join(len(label).to_bytes(4, "big") + label for label in chosen)
    return out


@dataclass(frozen=True)
class Vocabularies:
    """Every fixed text the encoders need, built once per run."""

    desa: Vocabulary
    given: Vocabulary
    second: Vocabulary
    place: Vocabulary
    number_prefix: Vocabulary
    received: Vocabulary
    """The binary ``assistance_program[]`` of every subset of programs, by bit mask."""

    @classmethod
    def build(cls, *, program_array_oid: int) -> Vocabularies:
        """``program_array_oid`` is the database's OID of the ``assistance_program`` type."""
        return cls(
            desa=vocabulary([village.code for village in villages()]),
            given=vocabulary(MALE_GIVEN + FEMALE_GIVEN),
            second=vocabulary([""] + [" " + word for word in MALE_SECOND + FEMALE_SECOND]),
            place=vocabulary(STREETS + HAMLETS),
            number_prefix=vocabulary([" No. ", ""]),
            received=vocabulary(
                [_programs_array(mask, program_array_oid) for mask in range(1 << len(PROGRAMS))]
            ),
        )


ENUM_LABELS: dict[type[StrEnum], Vocabulary] = {
    enum: _labels(enum)
    for enum in (
        enums.Sex, enums.Tenure, enums.FloorMaterial, enums.WallMaterial, enums.RoofMaterial,
        enums.DrinkingWater, enums.Lighting, enums.ElectricityWattage, enums.CookingFuel,
        enums.Toilet, enums.WasteDisposal, enums.Relationship, enums.MaritalStatus,
        enums.Enrollment, enums.EducationLevel, enums.Industry, enums.EmploymentStatus,
        enums.DifficultyLevel, enums.ChronicIllness, enums.AssistanceProgram,
    )
}  # fmt: skip


def label(codes: np.ndarray, enum: type[StrEnum]) -> Segment:
    """Enum labels by member index; negative codes (NULLs, masked by the caller) read as 0."""
    return words(np.maximum(codes, 0), ENUM_LABELS[enum])


@dataclass(frozen=True)
class Chunk:
    households: bytes
    persons: bytes
    receipts: bytes
    household_count: int
    person_count: int
    receipt_count: int


@dataclass
class ChunkMaker:
    """Draws chunks in order, carrying the id and serial counters from one to the next."""

    seed: int
    geography: Geography
    vocabularies: Vocabularies
    identities: Identities = field(default_factory=Identities)
    next_household: int = 1
    next_person: int = 1
    next_receipt: int = 1
    number: int = 0

    def make(self, size: int) -> Chunk:
        rng = np.random.default_rng([self.seed, self.number])
        families = draw_households(rng, self.geography, size=size)
        members = draw_members(rng, families)
        persons = draw_persons(rng, families=families, members=members)
        receipts = draw_receipts(rng, families)
        ordinal = self.geography.kecamatan_ordinal[families.village]
        niks = self.identities.niks(
            kecamatan_ordinal=ordinal[members.household],
            birth_date=persons.birth_date,
            female=members.sex == FEMALE,
        )
        issued = KK_ISSUED_FROM + rng.integers(
            0, int((KK_ISSUED_UNTIL - KK_ISSUED_FROM).astype(np.int64)), size
        )
        kk = self.identities.kk_numbers(kecamatan_ordinal=ordinal, issued=issued)
        household_ids = np.arange(self.next_household, self.next_household + size)
        names = [
            words(persons.given_name, self.vocabularies.given),
            words(persons.second_name, self.vocabularies.second),
        ]
        chunk = Chunk(
            households=self._households(
                families,
                ids=household_ids,
                members=members,
                persons=persons,
                receipts=receipts,
                kk=kk,
                names=names,
            ),
            persons=self._persons(
                members, persons=persons, niks=niks, names=names, household_ids=household_ids
            ),
            receipts=self._receipts(receipts, household_ids),
            household_count=size,
            person_count=len(members),
            receipt_count=len(receipts),
        )
        self.next_household += size
        self.next_person += len(members)
        self.next_receipt += len(receipts)
        self.number += 1
        return chunk

    def _households(
        self,
        families: Households,
        *,
        ids: np.ndarray,
        members: Members,
        persons: Persons,
        receipts: Receipts,
        kk: np.ndarray,
        names: list[Segment],
    ) -> bytes:
        n = len(families)
        v = self.vocabularies
        rows = CopyRows(n)
        rows.bigint(ids)
        rows.text(binary.digits(kk, 16))
        desa = words(families.village, v.desa)
        rows.text(desa)
        rows.text(desa, binary.digits(families.rt, 4))
        town = families.town
        number = unpadded_digits(families.house_number, 3)
        rows.text(
            words(np.where(town, families.place, len(STREETS) + families.place), v.place),
            words(np.where(town, 0, 1), v.number_prefix),
            Segment(number.data, np.where(town, number.lengths, 0).astype(np.int32)),
            literal(" RT ", n),
            binary.digits(families.rt, 3),
            literal(" RW ", n),
            binary.digits(families.rw, 3),
        )
        head = members.head
        rows.text(*(Segment(s.data[head], s.lengths[head]) for s in names))
        rows.smallint(members.member_count)
        rows.smallint(families.decile)
        rows.text(label(families.tenure, enums.Tenure))
        rows.smallint(families.floor_area)
        rows.text(label(families.floor_material, enums.FloorMaterial))
        rows.text(label(families.wall_material, enums.WallMaterial))
        rows.text(label(families.roof_material, enums.RoofMaterial))
        rows.text(label(families.drinking_water, enums.DrinkingWater))
        rows.text(label(families.lighting, enums.Lighting))
        no_wattage = families.electricity_wattage < 0
        rows.text(
            label(families.electricity_wattage, enums.ElectricityWattage),
            null=no_wattage,
        )
        rows.text(label(families.cooking_fuel, enums.CookingFuel))
        rows.text(label(families.toilet, enums.Toilet))
        rows.text(label(families.waste_disposal, enums.WasteDisposal))
        for column in range(families.assets.shape[1]):
            rows.boolean(families.assets[:, column])
        rows.text(label(members.sex[head], enums.Sex))
        youngest = np.maximum.reduceat(persons.birth_date, head)
        rows.date(youngest)
        rows.text(words(receipts.programs_mask, v.received))
        return rows.build()

    def _persons(
        self,
        members: Members,
        *,
        persons: Persons,
        niks: np.ndarray,
        names: list[Segment],
        household_ids: np.ndarray,
    ) -> bytes:
        n = len(members)
        rows = CopyRows(n)
        rows.bigint(np.arange(self.next_person, self.next_person + n))
        rows.bigint(household_ids[members.household])
        rows.smallint(members.member_no)
        rows.text(binary.digits(niks, 16))
        rows.text(*names)
        rows.text(label(members.sex, enums.Sex))
        rows.date(persons.birth_date)
        rows.text(label(members.relationship, enums.Relationship))
        rows.text(label(members.marital_status, enums.MaritalStatus))
        rows.boolean(persons.pregnant)
        for column in range(3):
            rows.boolean(persons.documents[:, column])
        rows.text(label(persons.enrollment, enums.Enrollment))
        rows.text(label(persons.education_level, enums.EducationLevel))
        rows.boolean(persons.worked)
        idle = ~persons.worked
        rows.smallint(np.maximum(persons.hours, 0), null=idle)
        rows.text(label(persons.industry, enums.Industry), null=idle)
        rows.text(label(persons.employment_status, enums.EmploymentStatus), null=idle)
        for column in range(persons.difficulty.shape[1]):
            rows.text(label(persons.difficulty[:, column], enums.DifficultyLevel))
        rows.text(label(persons.chronic_illness, enums.ChronicIllness))
        for column in range(persons.insurance.shape[1]):
            rows.boolean(persons.insurance[:, column])
        for column in range(persons.protection.shape[1]):
            rows.boolean(persons.protection[:, column])
        return rows.build()

    def _receipts(self, receipts: Receipts, household_ids: np.ndarray) -> bytes:
        n = len(receipts)
        rows = CopyRows(n)
        rows.bigint(np.arange(self.next_receipt, self.next_receipt + n))
        rows.bigint(household_ids[receipts.household])
        rows.text(label(receipts.program, enums.AssistanceProgram))
        rows.smallint(receipts.month)
        rows.integer(receipts.year)
        return rows.build()
