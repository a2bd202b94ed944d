"""Coded variables of the Regsosek 2022 family questionnaire (REGSOSEK22-K).

Each enum's values are its GraphQL names and its PostgreSQL enum labels, so
the JSON that PostgreSQL builds needs no translation. ``CODEBOOK`` gives, for
each enum, the questionnaire code and a description in Bahasa Indonesia and
English, and the Indonesian label of every value.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Sex(StrEnum):
    MALE = "MALE"
    FEMALE = "FEMALE"


class RegionLevel(StrEnum):
    PROVINSI = "PROVINSI"
    KABUPATEN = "KABUPATEN"
    KECAMATAN = "KECAMATAN"
    DESA = "DESA"


class Tenure(StrEnum):
    OWN = "OWN"
    CONTRACT = "CONTRACT"
    RENT = "RENT"
    RENT_FREE = "RENT_FREE"
    OFFICIAL = "OFFICIAL"
    OTHER = "OTHER"


class FloorMaterial(StrEnum):
    MARBLE_GRANITE = "MARBLE_GRANITE"
    CERAMIC = "CERAMIC"
    PARQUET_VINYL_CARPET = "PARQUET_VINYL_CARPET"
    TILE_TERRAZZO = "TILE_TERRAZZO"
    WOOD_BOARD = "WOOD_BOARD"
    CEMENT_RED_BRICK = "CEMENT_RED_BRICK"
    BAMBOO = "BAMBOO"
    EARTH = "EARTH"
    OTHER = "OTHER"


class WallMaterial(StrEnum):
    MASONRY = "MASONRY"
    PLASTERED_BAMBOO_WIRE = "PLASTERED_BAMBOO_WIRE"
    WOOD_BOARD_GYPSUM = "WOOD_BOARD_GYPSUM"
    WOVEN_BAMBOO = "WOVEN_BAMBOO"
    LOGS = "LOGS"
    BAMBOO = "BAMBOO"
    OTHER = "OTHER"


class RoofMaterial(StrEnum):
    CONCRETE = "CONCRETE"
    CLAY_TILE = "CLAY_TILE"
    ZINC = "ZINC"
    ASBESTOS = "ASBESTOS"
    BAMBOO = "BAMBOO"
    WOOD_SHINGLE = "WOOD_SHINGLE"
    STRAW_PALM_LEAVES = "STRAW_PALM_LEAVES"
    OTHER = "OTHER"


class DrinkingWater(StrEnum):
    BOTTLED_BRANDED = "BOTTLED_BRANDED"
    REFILL = "REFILL"
    PIPED = "PIPED"
    BORE_WELL_PUMP = "BORE_WELL_PUMP"
    PROTECTED_WELL = "PROTECTED_WELL"
    UNPROTECTED_WELL = "UNPROTECTED_WELL"
    PROTECTED_SPRING = "PROTECTED_SPRING"
    UNPROTECTED_SPRING = "UNPROTECTED_SPRING"
    SURFACE_WATER = "SURFACE_WATER"
    RAIN_WATER = "RAIN_WATER"
    OTHER = "OTHER"


class Lighting(StrEnum):
    PLN_METERED = "PLN_METERED"
    PLN_UNMETERED = "PLN_UNMETERED"
    NON_PLN = "NON_PLN"
    NONE = "NONE"


class ElectricityWattage(StrEnum):
    VA_450 = "VA_450"
    VA_900 = "VA_900"
    VA_1300 = "VA_1300"
    VA_2200 = "VA_2200"
    ABOVE_2200 = "ABOVE_2200"


class CookingFuel(StrEnum):
    ELECTRICITY = "ELECTRICITY"
    LPG_5_5KG_PLUS = "LPG_5_5KG_PLUS"
    LPG_12KG = "LPG_12KG"
    LPG_3KG = "LPG_3KG"
    CITY_GAS = "CITY_GAS"
    BIOGAS = "BIOGAS"
    KEROSENE = "KEROSENE"
    BRIQUETTE = "BRIQUETTE"
    CHARCOAL = "CHARCOAL"
    FIREWOOD = "FIREWOOD"
    OTHER = "OTHER"
    DOES_NOT_COOK = "DOES_NOT_COOK"


class Toilet(StrEnum):
    OWN = "OWN"
    SHARED = "SHARED"
    COMMUNAL = "COMMUNAL"
    PUBLIC = "PUBLIC"
    NONE = "NONE"


class WasteDisposal(StrEnum):
    SEPTIC_TANK = "SEPTIC_TANK"
    IPAL = "IPAL"
    POND_PADDY_RIVER = "POND_PADDY_RIVER"
    HOLE = "HOLE"
    OPEN_FIELD_BEACH = "OPEN_FIELD_BEACH"
    OTHER = "OTHER"


class AssistanceProgram(StrEnum):
    """Assistance programs: r501's seven, which the registry records per family, and
    ``PBI_JKN``, which r501 does not ask: PBI-JKN membership is a person's health insurance
    (r431a, ``Person.insurance.pbiJkn``, import column ``insurance_pbi_jkn``). So no
    registry receipt carries it (the seed never draws it; the importer's assistance file
    accepts it, as code 8, only because it follows this enum) and
    ``HouseholdFilter.receivesProgram: PBI_JKN`` matches no family. It is here for what
    programs report delivered (``reportAssistance``: Dinas Kesehatan's PBI-JKN) and for
    ``assistanceOverlap`` (PKH, PBI-JKN and BPNT reaching the same families)."""

    BPNT = "BPNT"
    PKH = "PKH"
    BLT_DESA = "BLT_DESA"
    ELECTRICITY_SUBSIDY = "ELECTRICITY_SUBSIDY"
    PEMDA = "PEMDA"
    FERTILISER_SUBSIDY = "FERTILISER_SUBSIDY"
    LPG_SUBSIDY = "LPG_SUBSIDY"
    PBI_JKN = "PBI_JKN"


class MaritalStatus(StrEnum):
    SINGLE = "SINGLE"
    MARRIED = "MARRIED"
    DIVORCED = "DIVORCED"
    WIDOWED = "WIDOWED"


class Relationship(StrEnum):
    HEAD = "HEAD"
    SPOUSE = "SPOUSE"
    CHILD = "CHILD"
    CHILD_IN_LAW = "CHILD_IN_LAW"
    GRANDCHILD = "GRANDCHILD"
    PARENT_OR_IN_LAW = "PARENT_OR_IN_LAW"
    HELPER = "HELPER"
    OTHER = "OTHER"


class Enrollment(StrEnum):
    NEVER = "NEVER"
    STILL = "STILL"
    NO_LONGER = "NO_LONGER"


class EducationLevel(StrEnum):
    NONE = "NONE"
    SD = "SD"
    SMP = "SMP"
    SMA = "SMA"
    DIPLOMA = "DIPLOMA"
    S1 = "S1"
    S2 = "S2"
    S3 = "S3"


class Industry(StrEnum):
    AGRICULTURE = "AGRICULTURE"
    MINING = "MINING"
    MANUFACTURING = "MANUFACTURING"
    UTILITIES = "UTILITIES"
    CONSTRUCTION = "CONSTRUCTION"
    TRADE = "TRADE"
    TRANSPORT = "TRANSPORT"
    ACCOMMODATION_FOOD = "ACCOMMODATION_FOOD"
    INFORMATION_FINANCE = "INFORMATION_FINANCE"
    EDUCATION = "EDUCATION"
    HEALTH_SOCIAL = "HEALTH_SOCIAL"
    PUBLIC_ADMINISTRATION = "PUBLIC_ADMINISTRATION"
    OTHER_SERVICES = "OTHER_SERVICES"


class EmploymentStatus(StrEnum):
    SELF_EMPLOYED = "SELF_EMPLOYED"
    EMPLOYER_WITH_TEMPORARY_HELP = "EMPLOYER_WITH_TEMPORARY_HELP"
    EMPLOYER_WITH_PERMANENT_STAFF = "EMPLOYER_WITH_PERMANENT_STAFF"
    EMPLOYEE = "EMPLOYEE"
    CASUAL_WORKER = "CASUAL_WORKER"
    UNPAID_FAMILY_WORKER = "UNPAID_FAMILY_WORKER"


class DifficultyLevel(StrEnum):
    NONE = "NONE"
    SOME = "SOME"
    A_LOT = "A_LOT"
    CANNOT = "CANNOT"


class ChronicIllness(StrEnum):
    NONE = "NONE"
    HYPERTENSION = "HYPERTENSION"
    RHEUMATISM = "RHEUMATISM"
    ASTHMA = "ASTHMA"
    HEART_DISEASE = "HEART_DISEASE"
    DIABETES = "DIABETES"
    TUBERCULOSIS = "TUBERCULOSIS"
    STROKE = "STROKE"
    CANCER = "CANCER"
    KIDNEY_FAILURE = "KIDNEY_FAILURE"
    HIV_AIDS = "HIV_AIDS"
    OTHER = "OTHER"


@dataclass(frozen=True)
class CodeEntry:
    """What the questionnaire says of a coded variable."""

    code: str
    indonesian: str
    english: str
    labels: dict[str, str]
    """Indonesian label of every value."""


CODEBOOK: dict[type[StrEnum], CodeEntry] = {
    Sex: CodeEntry("r405", "Jenis kelamin", "Sex", {"MALE": "Laki-laki", "FEMALE": "Perempuan"}),
    RegionLevel: CodeEntry(
        "r101-r104",
        "Tingkat wilayah BPS",
        "BPS region level",
        {
            "PROVINSI": "Provinsi (2 digit)",
            "KABUPATEN": "Kabupaten/kota (4 digit)",
            "KECAMATAN": "Kecamatan (7 digit)",
            "DESA": "Desa/kelurahan (10 digit)",
        },
    ),
    Tenure: CodeEntry(
        "r301a",
        "Status kepemilikan bangunan tempat tinggal",
        "Tenure of the dwelling",
        {
            "OWN": "Milik sendiri",
            "CONTRACT": "Kontrak",
            "RENT": "Sewa",
            "RENT_FREE": "Bebas sewa",
            "OFFICIAL": "Dinas",
            "OTHER": "Lainnya",
        },
    ),
    FloorMaterial: CodeEntry(
        "r303",
        "Jenis lantai terluas",
        "Main floor material",
        {
            "MARBLE_GRANITE": "Marmer/granit",
            "CERAMIC": "Keramik",
            "PARQUET_VINYL_CARPET": "Parket/vinil/karpet",
            "TILE_TERRAZZO": "Ubin/tegel/teraso",
            "WOOD_BOARD": "Kayu/papan",
            "CEMENT_RED_BRICK": "Semen/bata merah",
            "BAMBOO": "Bambu",
            "EARTH": "Tanah",
            "OTHER": "Lainnya",
        },
    ),
    WallMaterial: CodeEntry(
        "r304",
        "Jenis dinding terluas",
        "Main wall material",
        {
            "MASONRY": "Tembok",
            "PLASTERED_BAMBOO_WIRE": "Plesteran anyaman bambu/kawat",
            "WOOD_BOARD_GYPSUM": "Kayu/papan/gipsum",
            "WOVEN_BAMBOO": "Anyaman bambu",
            "LOGS": "Batang kayu",
            "BAMBOO": "Bambu",
            "OTHER": "Lainnya",
        },
    ),
    RoofMaterial: CodeEntry(
        "r305",
        "Jenis atap terluas",
        "Main roof material",
        {
            "CONCRETE": "Beton",
            "CLAY_TILE": "Genteng",
            "ZINC": "Seng",
            "ASBESTOS": "Asbes",
            "BAMBOO": "Bambu",
            "WOOD_SHINGLE": "Kayu/sirap",
            "STRAW_PALM_LEAVES": "Jerami/ijuk/daun-daunan/rumbia",
            "OTHER": "Lainnya",
        },
    ),
    DrinkingWater: CodeEntry(
        "r306a",
        "Sumber air minum utama",
        "Main source of drinking water",
        {
            "BOTTLED_BRANDED": "Air kemasan bermerk",
            "REFILL": "Air isi ulang",
            "PIPED": "Leding",
            "BORE_WELL_PUMP": "Sumur bor/pompa",
            "PROTECTED_WELL": "Sumur terlindung",
            "UNPROTECTED_WELL": "Sumur tak terlindung",
            "PROTECTED_SPRING": "Mata air terlindung",
            "UNPROTECTED_SPRING": "Mata air tak terlindung",
            "SURFACE_WATER": "Air permukaan (sungai/danau/waduk/kolam/irigasi)",
            "RAIN_WATER": "Air hujan",
            "OTHER": "Lainnya",
        },
    ),
    Lighting: CodeEntry(
        "r307a",
        "Sumber penerangan utama",
        "Main source of lighting",
        {
            "PLN_METERED": "Listrik PLN dengan meteran",
            "PLN_UNMETERED": "Listrik PLN tanpa meteran",
            "NON_PLN": "Listrik non-PLN",
            "NONE": "Bukan listrik",
        },
    ),
    ElectricityWattage: CodeEntry(
        "r307b",
        "Daya terpasang",
        "Installed electricity capacity",
        {
            "VA_450": "450 watt",
            "VA_900": "900 watt",
            "VA_1300": "1.300 watt",
            "VA_2200": "2.200 watt",
            "ABOVE_2200": "> 2.200 watt",
        },
    ),
    CookingFuel: CodeEntry(
        "r308",
        "Bahan bakar/energi utama untuk memasak",
        "Main cooking fuel",
        {
            "ELECTRICITY": "Listrik",
            "LPG_5_5KG_PLUS": "Elpiji 5,5 kg/blue gaz",
            "LPG_12KG": "Elpiji 12 kg",
            "LPG_3KG": "Elpiji 3 kg",
            "CITY_GAS": "Gas kota/meteran PGN",
            "BIOGAS": "Biogas",
            "KEROSENE": "Minyak tanah",
            "BRIQUETTE": "Briket",
            "CHARCOAL": "Arang",
            "FIREWOOD": "Kayu bakar",
            "OTHER": "Lainnya",
            "DOES_NOT_COOK": "Tidak memasak di rumah",
        },
    ),
    Toilet: CodeEntry(
        "r309a",
        "Kepemilikan dan penggunaan fasilitas tempat buang air besar",
        "Toilet facility",
        {
            "OWN": "Ada, digunakan hanya anggota keluarga sendiri",
            "SHARED": "Ada, digunakan bersama anggota keluarga dari keluarga tertentu",
            "COMMUNAL": "Ada, di MCK komunal",
            "PUBLIC": "Ada, di MCK umum/siapapun menggunakan",
            "NONE": "Tidak ada fasilitas",
        },
    ),
    WasteDisposal: CodeEntry(
        "r310",
        "Tempat pembuangan akhir tinja",
        "Final disposal of faeces",
        {
            "SEPTIC_TANK": "Tangki septik",
            "IPAL": "IPAL",
            "POND_PADDY_RIVER": "Kolam/sawah/sungai/danau/laut",
            "HOLE": "Lubang tanah",
            "OPEN_FIELD_BEACH": "Pantai/tanah lapang/kebun",
            "OTHER": "Lainnya",
        },
    ),
    AssistanceProgram: CodeEntry(
        "r501a-g",
        "Program bantuan yang diterima dalam setahun terakhir",
        "Assistance received in the past year",
        {
            "BPNT": "r501a Bantuan Pangan Non Tunai/Program Sembako",
            "PKH": "r501b Program Keluarga Harapan",
            "BLT_DESA": "r501c Bantuan Langsung Tunai Desa",
            "ELECTRICITY_SUBSIDY": "r501d Subsidi listrik",
            "PEMDA": "r501e Bantuan pemerintah daerah",
            "FERTILISER_SUBSIDY": "r501f Subsidi pupuk",
            "LPG_SUBSIDY": "r501g Subsidi LPG",
            "PBI_JKN": (
                "PBI-JKN, hanya laporan program; kepesertaan per orang di r431a /"
                " PBI-JKN: program reports only (membership is per person, r431a)"
            ),
        },
    ),
    MaritalStatus: CodeEntry(
        "r408",
        "Status perkawinan",
        "Marital status",
        {
            "SINGLE": "Belum kawin",
            "MARRIED": "Kawin/nikah",
            "DIVORCED": "Cerai hidup",
            "WIDOWED": "Cerai mati",
        },
    ),
    Relationship: CodeEntry(
        "r409",
        "Hubungan dengan kepala keluarga",
        "Relationship to the head of the family",
        {
            "HEAD": "Kepala keluarga",
            "SPOUSE": "Istri/suami",
            "CHILD": "Anak",
            "CHILD_IN_LAW": "Menantu",
            "GRANDCHILD": "Cucu",
            "PARENT_OR_IN_LAW": "Orang tua/mertua",
            "HELPER": "Pembantu/sopir",
            "OTHER": "Lainnya",
        },
    ),
    Enrollment: CodeEntry(
        "r412",
        "Partisipasi sekolah",
        "School participation",
        {
            "NEVER": "Tidak/belum pernah sekolah",
            "STILL": "Masih sekolah",
            "NO_LONGER": "Tidak bersekolah lagi",
        },
    ),
    EducationLevel: CodeEntry(
        "r413",
        "Jenjang pendidikan tertinggi",
        "Highest level of education",
        {
            "NONE": "Tidak punya ijazah",
            "SD": "SD/sederajat",
            "SMP": "SMP/sederajat",
            "SMA": "SMA/SMK/sederajat",
            "DIPLOMA": "D1/D2/D3",
            "S1": "D4/S1",
            "S2": "S2",
            "S3": "S3",
        },
    ),
    Industry: CodeEntry(
        "r418",
        "Lapangan usaha pekerjaan utama",
        "Industry of the main job",
        {
            "AGRICULTURE": "Pertanian, kehutanan, perikanan",
            "MINING": "Pertambangan dan penggalian",
            "MANUFACTURING": "Industri pengolahan",
            "UTILITIES": "Listrik, gas, air, pengelolaan sampah",
            "CONSTRUCTION": "Konstruksi",
            "TRADE": "Perdagangan",
            "TRANSPORT": "Transportasi dan pergudangan",
            "ACCOMMODATION_FOOD": "Penyediaan akomodasi dan makan minum",
            "INFORMATION_FINANCE": "Informasi, komunikasi, keuangan",
            "EDUCATION": "Jasa pendidikan",
            "HEALTH_SOCIAL": "Jasa kesehatan dan kegiatan sosial",
            "PUBLIC_ADMINISTRATION": "Administrasi pemerintahan",
            "OTHER_SERVICES": "Jasa lainnya",
        },
    ),
    EmploymentStatus: CodeEntry(
        "r419",
        "Status kedudukan dalam pekerjaan utama",
        "Status in the main job",
        {
            "SELF_EMPLOYED": "Berusaha sendiri",
            "EMPLOYER_WITH_TEMPORARY_HELP": "Berusaha dibantu buruh tidak tetap/tidak dibayar",
            "EMPLOYER_WITH_PERMANENT_STAFF": "Berusaha dibantu buruh tetap/dibayar",
            "EMPLOYEE": "Buruh/karyawan/pegawai",
            "CASUAL_WORKER": "Pekerja bebas",
            "UNPAID_FAMILY_WORKER": "Pekerja keluarga/tidak dibayar",
        },
    ),
    DifficultyLevel: CodeEntry(
        "r428",
        "Tingkat kesulitan fungsional",
        "Level of functional difficulty",
        {
            "NONE": "Tidak mengalami kesulitan",
            "SOME": "Sedikit kesulitan",
            "A_LOT": "Banyak kesulitan",
            "CANNOT": "Tidak bisa sama sekali",
        },
    ),
    ChronicIllness: CodeEntry(
        "r430",
        "Keluhan kesehatan kronis/menahun",
        "Chronic illness",
        {
            "NONE": "Tidak ada",
            "HYPERTENSION": "Hipertensi (darah tinggi)",
            "RHEUMATISM": "Rematik",
            "ASTHMA": "Asma",
            "HEART_DISEASE": "Masalah jantung",
            "DIABETES": "Diabetes (kencing manis)",
            "TUBERCULOSIS": "Tuberkulosis (TBC)",
            "STROKE": "Stroke",
            "CANCER": "Kanker atau tumor ganas",
            "KIDNEY_FAILURE": "Gagal ginjal",
            "HIV_AIDS": "HIV/AIDS",
            "OTHER": "Lainnya",
        },
    ),
}


def pg_type_name(enum: type[StrEnum]) -> str:
    """The PostgreSQL enum type that stores ``enum`` (snake_case of its name)."""
    name = enum.__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
