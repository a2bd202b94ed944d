"""The data dictionary: every registry attribute the gateway can disclose.

One entry per GraphQL field of the registry types, with the column behind it,
the Regsosek 2022 questionnaire code, a description in Bahasa Indonesia and
English, and how the field may be masked. Policies are checked against this
catalogue and the GraphQL schema is built from it, so a name exists in exactly
one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Mask(StrEnum):
    """How a field is shown in MASKED mode."""

    DIGITS_6_4 = "DIGITS_6_4"
    """First 6 and last 4 digits, ``*`` between (NIK, No KK)."""
    INITIALS = "INITIALS"
    """Each word reduced to its initial and a full stop ("Siti Aminah" → "S. A.")."""
    YEAR = "YEAR"
    """A date reduced to its year."""


class Kind(StrEnum):
    SCALAR = "SCALAR"
    OBJECT = "OBJECT"
    """A value object stored on the same row (``Household.housing``)."""
    RELATION = "RELATION"
    """Another entity, read under that entity's own row scope (``Household.members``)."""


@dataclass(frozen=True)
class Attribute:
    name: str
    graphql_type: str
    """SDL notation, e.g. ``String!``, ``FloorMaterial``, ``[Person!]!``."""
    indonesian: str
    english: str
    code: str | None = None
    column: str | None = None
    """Column of the entity's table; None for derived fields and relations."""
    kind: Kind = Kind.SCALAR
    target: str | None = None
    """The type an OBJECT or RELATION field leads to."""
    mask: Mask | None = None
    pseudonymisable: bool = False

    @property
    def description(self) -> str:
        code = f" ({self.code})" if self.code else ""
        return f"{self.indonesian} / {self.english}{code}"


@dataclass(frozen=True)
class EntityType:
    name: str
    indonesian: str
    english: str
    table: str | None
    """The table whose rows are this type; None for value objects stored on the parent row."""
    attributes: dict[str, Attribute] = field(default_factory=dict)
    public: bool = False
    """Reference data every program may read in full (regions)."""

    @property
    def description(self) -> str:
        return f"{self.indonesian} / {self.english}"


def _entity(
    name: str,
    indonesian: str,
    english: str,
    table: str | None,
    attributes: list[Attribute],
    *,
    public: bool = False,
) -> EntityType:
    return EntityType(
        name=name,
        indonesian=indonesian,
        english=english,
        table=table,
        attributes={attribute.name: attribute for attribute in attributes},
        public=public,
    )


def _flag(name: str, column: str, code: str, indonesian: str, english: str) -> Attribute:
    return Attribute(name, "Boolean!", indonesian, english, code=code, column=column)


REGION = _entity(
    "Region",
    "Wilayah administrasi menurut kode BPS",
    "Administrative region by BPS code",
    "regions",
    [
        Attribute("code", "String!", "Kode wilayah BPS", "BPS region code", "r101-r104", "code"),
        Attribute("name", "String!", "Nama wilayah", "Region name", None, "name"),
        Attribute("level", "RegionLevel!", "Tingkat wilayah", "Region level", None, "level"),
        Attribute(
            "parent",
            "Region",
            "Wilayah induk",
            "Parent region",
            kind=Kind.RELATION,
            target="Region",
        ),
    ],
    public=True,
)

HOUSING = _entity(
    "Housing",
    "Keterangan perumahan (Blok III)",
    "Housing (Block III)",
    None,
    [
        Attribute("tenure", "Tenure!", "Status kepemilikan bangunan", "Tenure", "r301a", "tenure"),
        Attribute("floorArea", "Int!", "Luas lantai (m²)", "Floor area (m²)", "r302", "floor_area"),
        Attribute(
            "floorMaterial",
            "FloorMaterial!",
            "Jenis lantai terluas",
            "Main floor material",
            "r303",
            "floor_material",
        ),
        Attribute(
            "wallMaterial",
            "WallMaterial!",
            "Jenis dinding terluas",
            "Main wall material",
            "r304",
            "wall_material",
        ),
        Attribute(
            "roofMaterial",
            "RoofMaterial!",
            "Jenis atap terluas",
            "Main roof material",
            "r305",
            "roof_material",
        ),
        Attribute(
            "drinkingWater",
            "DrinkingWater!",
            "Sumber air minum utama",
            "Main drinking water source",
            "r306a",
            "drinking_water",
        ),
        Attribute(
            "lighting", "Lighting!", "Sumber penerangan utama", "Lighting", "r307a", "lighting"
        ),
        Attribute(
            "electricityWattage",
            "ElectricityWattage",
            "Daya listrik terpasang (kosong bila bukan PLN)",
            "Installed capacity (null when not PLN)",
            "r307b",
            "electricity_wattage",
        ),
        Attribute(
            "cookingFuel",
            "CookingFuel!",
            "Bahan bakar utama memasak",
            "Main cooking fuel",
            "r308",
            "cooking_fuel",
        ),
        Attribute("toilet", "Toilet!", "Fasilitas buang air besar", "Toilet", "r309a", "toilet"),
        Attribute(
            "wasteDisposal",
            "WasteDisposal!",
            "Pembuangan akhir tinja",
            "Final disposal of faeces",
            "r310",
            "waste_disposal",
        ),
    ],
)

ASSETS = _entity(
    "Assets",
    "Kepemilikan aset (Blok V, r502-r506)",
    "Assets owned (Block V, r502-r506)",
    None,
    [
        _flag(
            "lpgTube", "asset_lpg_tube", "r502a", "Tabung gas 5,5 kg atau lebih", "LPG tube ≥5.5 kg"
        ),
        _flag("refrigerator", "asset_refrigerator", "r502b", "Lemari es/kulkas", "Refrigerator"),
        _flag("airConditioner", "asset_air_conditioner", "r502c", "AC", "Air conditioner"),
        _flag("waterHeater", "asset_water_heater", "r502d", "Pemanas air", "Water heater"),
        _flag("landline", "asset_landline", "r502e", "Telepon rumah", "Landline telephone"),
        _flag("flatTv", "asset_flat_tv", "r502f", "Televisi layar datar", "Flat-screen TV"),
        _flag("gold", "asset_gold", "r502g", "Emas/perhiasan ≥10 gram", "Gold/jewellery ≥10 g"),
        _flag("computer", "asset_computer", "r502h", "Komputer/laptop/tablet", "Computer/laptop"),
        _flag("motorcycle", "asset_motorcycle", "r502i", "Sepeda motor", "Motorcycle"),
        _flag("bicycle", "asset_bicycle", "r502j", "Sepeda", "Bicycle"),
        _flag("car", "asset_car", "r502k", "Mobil", "Car"),
        _flag("boat", "asset_boat", "r502l", "Perahu", "Boat"),
        _flag("motorBoat", "asset_motor_boat", "r502m", "Perahu motor", "Motor boat"),
        _flag("smartphone", "asset_smartphone", "r502n", "Smartphone", "Smartphone"),
        _flag(
            "otherLand",
            "asset_other_land",
            "r503",
            "Memiliki lahan/rumah di tempat lain",
            "Owns land or a house elsewhere",
        ),
        _flag("internet", "asset_internet", "r505", "Akses internet", "Internet access"),
        _flag(
            "bankAccount",
            "asset_bank_account",
            "r506",
            "Rekening bank/dompet digital",
            "Bank account or e-wallet",
        ),
    ],
)

ASSISTANCE = _entity(
    "Assistance",
    "Bantuan yang diterima (Blok V, r501)",
    "Assistance received (Block V, r501)",
    "assistance_receipts",
    [
        Attribute(
            "program", "AssistanceProgram!", "Program bantuan", "Program", "r501a-g", "program"
        ),
        Attribute("month", "Int!", "Bulan diterima", "Month received", "r501", "month"),
        Attribute("year", "Int!", "Tahun diterima", "Year received", "r501", "year"),
    ],
)

DOCUMENTS = _entity(
    "Documents",
    "Kepemilikan dokumen kependudukan (r411)",
    "Civil registration documents (r411)",
    None,
    [
        _flag(
            "birthCertificate",
            "has_birth_certificate",
            "r411",
            "Akta kelahiran",
            "Birth certificate",
        ),
        _flag("kia", "has_kia", "r411", "Kartu Identitas Anak (KIA)", "Child identity card"),
        _flag("ktp", "has_ktp", "r411", "KTP elektronik", "Identity card (KTP)"),
    ],
)

EDUCATION = _entity(
    "Education",
    "Pendidikan (r412-r415)",
    "Education (r412-r415)",
    None,
    [
        Attribute(
            "enrolled",
            "Enrollment!",
            "Partisipasi sekolah",
            "School participation",
            "r412",
            "enrollment",
        ),
        Attribute(
            "highestLevel",
            "EducationLevel!",
            "Jenjang pendidikan tertinggi",
            "Highest level completed",
            "r413",
            "education_level",
        ),
    ],
)

EMPLOYMENT = _entity(
    "Employment",
    "Ketenagakerjaan (r416-r419)",
    "Employment (r416-r419)",
    None,
    [
        _flag(
            "worked", "worked_last_week", "r416", "Bekerja seminggu terakhir", "Worked last week"
        ),
        Attribute(
            "hoursPerWeek",
            "Int",
            "Jam kerja seminggu",
            "Hours worked per week",
            "r417",
            "hours_per_week",
        ),
        Attribute(
            "industry", "Industry", "Lapangan usaha", "Industry of main job", "r418", "industry"
        ),
        Attribute(
            "status",
            "EmploymentStatus",
            "Status dalam pekerjaan",
            "Status in employment",
            "r419",
            "employment_status",
        ),
    ],
)

_DIFFICULTIES = [
    ("seeing", "difficulty_seeing", "r428a", "Melihat", "Seeing"),
    ("hearing", "difficulty_hearing", "r428b", "Mendengar", "Hearing"),
    ("walking", "difficulty_walking", "r428c", "Berjalan/naik tangga", "Walking or climbing steps"),
    (
        "usingHands",
        "difficulty_hands",
        "r428d",
        "Menggunakan tangan/jari",
        "Using hands and fingers",
    ),
    ("remembering", "difficulty_remembering", "r428e", "Mengingat/berkonsentrasi", "Remembering"),
    ("behaviour", "difficulty_behaviour", "r428f", "Perilaku/emosi", "Behaviour and emotions"),
    ("communicating", "difficulty_communicating", "r428g", "Berkomunikasi", "Communicating"),
    ("selfCare", "difficulty_self_care", "r428h", "Mengurus diri sendiri", "Self-care"),
]

DISABILITY = _entity(
    "Disability",
    "Kesulitan fungsional (r428)",
    "Functional difficulty (r428)",
    None,
    [
        Attribute(
            name,
            "DifficultyLevel!",
            f"Kesulitan {indonesian.lower()}",
            f"Difficulty: {english.lower()}",
            code,
            column,
        )
        for name, column, code, indonesian, english in _DIFFICULTIES
    ],
)

HEALTH_INSURANCE = _entity(
    "HealthInsurance",
    "Jaminan kesehatan (r431a)",
    "Health insurance (r431a)",
    None,
    [
        _flag(
            "pbiJkn",
            "insurance_pbi_jkn",
            "r431a",
            "JKN Penerima Bantuan Iuran",
            "JKN, premium subsidised (PBI)",
        ),
        _flag("jknSelfPaid", "insurance_jkn_self_paid", "r431a", "JKN mandiri", "JKN, self-paid"),
        _flag(
            "jknEmployer",
            "insurance_jkn_employer",
            "r431a",
            "JKN pemberi kerja",
            "JKN, employer-paid",
        ),
        _flag(
            "other", "insurance_other", "r431a", "Jaminan kesehatan lain", "Other health insurance"
        ),
    ],
)

SOCIAL_PROTECTION = _entity(
    "SocialProtection",
    "Program perlindungan sosial perorangan (r431b-r431f)",
    "Individual social protection (r431b-r431f)",
    None,
    [
        _flag("prakerja", "protection_prakerja", "r431b", "Kartu Prakerja", "Pre-employment card"),
        _flag(
            "kur",
            "protection_kur",
            "r431c",
            "Kredit Usaha Rakyat",
            "People's business credit (KUR)",
        ),
        _flag(
            "umi",
            "protection_umi",
            "r431d",
            "Pembiayaan Ultra Mikro",
            "Ultra-micro financing (UMi)",
        ),
        _flag("pipKip", "protection_pip", "r431e", "PIP/KIP", "Smart Indonesia Program (PIP/KIP)"),
        _flag(
            "bpjsKetenagakerjaan",
            "protection_bpjs_tk",
            "r431f",
            "BPJS Ketenagakerjaan",
            "Employment social security",
        ),
    ],
)

HOUSEHOLD = _entity(
    "Household",
    "Keluarga menurut Kartu Keluarga (Regsosek 2022)",
    "Family on one Kartu Keluarga (Regsosek 2022)",
    "households",
    [
        Attribute("id", "ID!", "Pengenal keluarga di gateway", "Gateway household id"),
        Attribute(
            "kkNumber",
            "String!",
            "Nomor Kartu Keluarga",
            "Family card number (No KK)",
            "r114",
            "kk_number",
            mask=Mask.DIGITS_6_4,
            pseudonymisable=True,
        ),
        Attribute(
            "headName",
            "String!",
            "Nama kepala keluarga",
            "Name of the head of the family",
            "r108",
            "head_name",
            mask=Mask.INITIALS,
        ),
        Attribute("address", "String!", "Alamat", "Address", "r107", "address"),
        Attribute(
            "slsCode", "String!", "Kode SLS (14 digit)", "SLS code (14 digits)", "r105", "sls_code"
        ),
        Attribute(
            "region",
            "Region!",
            "Desa/kelurahan tempat tinggal",
            "Desa/kelurahan of residence",
            "r101-r104",
            kind=Kind.RELATION,
            target="Region",
        ),
        Attribute(
            "memberCount",
            "Int!",
            "Jumlah anggota keluarga",
            "Number of members",
            "r112",
            "member_count",
        ),
        Attribute(
            "welfareDecile",
            "Int!",
            "Desil kesejahteraan (1 = termiskin)",
            "Welfare decile (1 = poorest)",
            "desil",
            "welfare_decile",
        ),
        Attribute(
            "housing",
            "Housing!",
            "Perumahan",
            "Housing",
            "r301-r310",
            kind=Kind.OBJECT,
            target="Housing",
        ),
        Attribute(
            "assets", "Assets!", "Aset", "Assets", "r502-r506", kind=Kind.OBJECT, target="Assets"
        ),
        Attribute(
            "assistance",
            "[Assistance!]!",
            "Bantuan yang diterima",
            "Assistance received",
            "r501",
            kind=Kind.RELATION,
            target="Assistance",
        ),
        Attribute(
            "members",
            "[Person!]!",
            "Anggota keluarga (Blok IV)",
            "Family members (Block IV)",
            kind=Kind.RELATION,
            target="Person",
        ),
        Attribute(
            "updatedAt", "DateTime!", "Waktu pembaruan terakhir", "Last updated", None, "updated_at"
        ),
    ],
)

PERSON = _entity(
    "Person",
    "Anggota keluarga (Blok IV)",
    "Family member (Block IV)",
    "persons",
    [
        Attribute("id", "ID!", "Pengenal orang di gateway", "Gateway person id"),
        Attribute(
            "nik",
            "String!",
            "Nomor Induk Kependudukan",
            "National identity number (NIK)",
            "r403",
            "nik",
            mask=Mask.DIGITS_6_4,
            pseudonymisable=True,
        ),
        Attribute("name", "String!", "Nama", "Name", "r402", "name", mask=Mask.INITIALS),
        Attribute("sex", "Sex!", "Jenis kelamin", "Sex", "r405", "sex"),
        Attribute(
            "birthDate",
            "Date!",
            "Tanggal lahir",
            "Date of birth",
            "r406",
            "birth_date",
            mask=Mask.YEAR,
        ),
        Attribute("age", "Int!", "Umur (tahun, hari ini)", "Age in years, today", "r407"),
        Attribute(
            "relationshipToHead",
            "Relationship!",
            "Hubungan dengan kepala keluarga",
            "Relationship to the head",
            "r409",
            "relationship_to_head",
        ),
        Attribute(
            "maritalStatus",
            "MaritalStatus!",
            "Status perkawinan",
            "Marital status",
            "r408",
            "marital_status",
        ),
        Attribute("pregnant", "Boolean!", "Sedang hamil", "Pregnant", "r410", "pregnant"),
        Attribute(
            "documents",
            "Documents!",
            "Dokumen",
            "Documents",
            "r411",
            kind=Kind.OBJECT,
            target="Documents",
        ),
        Attribute(
            "education",
            "Education!",
            "Pendidikan",
            "Education",
            "r412-r415",
            kind=Kind.OBJECT,
            target="Education",
        ),
        Attribute(
            "employment",
            "Employment!",
            "Ketenagakerjaan",
            "Employment",
            "r416-r419",
            kind=Kind.OBJECT,
            target="Employment",
        ),
        Attribute(
            "disability",
            "Disability!",
            "Kesulitan fungsional",
            "Functional difficulty",
            "r428",
            kind=Kind.OBJECT,
            target="Disability",
        ),
        Attribute(
            "chronicIllness",
            "ChronicIllness!",
            "Penyakit kronis/menahun",
            "Chronic illness",
            "r430",
            "chronic_illness",
        ),
        Attribute(
            "healthInsurance",
            "HealthInsurance!",
            "Jaminan kesehatan",
            "Health insurance",
            "r431a",
            kind=Kind.OBJECT,
            target="HealthInsurance",
        ),
        Attribute(
            "socialProtection",
            "SocialProtection!",
            "Perlindungan sosial",
            "Social protection",
            "r431b-r431f",
            kind=Kind.OBJECT,
            target="SocialProtection",
        ),
        Attribute(
            "region",
            "Region!",
            "Desa/kelurahan keluarganya",
            "Desa/kelurahan of the person's family",
            "r101-r104",
            kind=Kind.RELATION,
            target="Region",
        ),
        Attribute(
            "household",
            "Household",
            "Keluarganya (kosong bila di luar cakupan)",
            "The person's family (null when outside scope)",
            kind=Kind.RELATION,
            target="Household",
        ),
    ],
)

CATALOG: dict[str, EntityType] = {
    entity.name: entity
    for entity in (
        HOUSEHOLD,
        PERSON,
        REGION,
        HOUSING,
        ASSETS,
        ASSISTANCE,
        DOCUMENTS,
        EDUCATION,
        EMPLOYMENT,
        DISABILITY,
        HEALTH_INSURANCE,
        SOCIAL_PROTECTION,
    )
}

ROOT_FIELDS: dict[str, str] = {
    "households": "Keluarga yang boleh dilihat program / Households the program may see",
    "household": "Satu keluarga / One household",
    "persons": "Orang yang boleh dilihat program / Persons the program may see",
    "person": "Satu orang / One person",
    "householdStats": "Statistik dengan kontrol pengungkapan / Disclosure-controlled counts",
    "regions": "Wilayah BPS / BPS regions",
    "myAccess": "Hak akses pemanggil / The caller's access",
    "auditEvents": "Jejak audit (auditor) / Audit trail (auditors)",
    "disclosures": "Pengungkapan data satu keluarga (auditor) / Disclosures of one household",
    "auditSummary": "Ringkasan jejak audit satu periode (auditor) / A period's overview (auditors)",
    "auditAnomalies": "Anomali dalam satu periode (auditor) / Anomalies in a period (auditors)",
    "chainStatus": "Status rantai hash audit (auditor) / The audit chain's status (auditors)",
    "personDisclosures": "Pengungkapan data pemilik NIK (auditor) / Disclosures of a person by NIK",
    "subjectReport": "Laporan bertanda tangan atas pengungkapan data satu orang (NIK) atau"
    " keluarga (No KK) (auditor) / Signed report of the disclosures of a person or family",
    "breachPack": "Ringkasan dampak kebocoran satu klien (auditor) / A client's breach impact"
    " summary (auditors)",
    "releases": "Rilis data registri, terbaru dahulu / Registry releases, newest first",
    "changes": "Perubahan dalam cakupan program: masuk, berubah, keluar; kursor adalah penanda"
    " konsumen / Changes within the program's scope: entered, updated, left; the cursor is"
    " the consumer's bookmark",
    "proposals": "Usulan perubahan program ini dan statusnya / The program's own proposals and"
    " their status",
    "assistanceOverlap": "Keluarga yang dijangkau beberapa program, dengan kontrol pengungkapan /"
    " Households reached by several programs (disclosure-controlled counts)",
    "proposeChange": "Usulkan perubahan data (usul, sanggah, koreksi, reaktivasi); BPS yang"
    " memutuskan / Propose a change (new family, objection, correction, reactivation); BPS decides",
    "reportAssistance": "Laporkan bantuan yang telah disalurkan / Report assistance delivered",
}
"""Every root field (of ``Query``, and of ``Mutation`` for ``MUTATION_FIELDS``); policies grant
programs a subset."""

MUTATION_FIELDS: frozenset[str] = frozenset({"proposeChange", "reportAssistance"})
"""The root fields of ``Mutation`` (granted as ``Mutation.<field>``): a program's writes,
which never touch a registry row."""

ALWAYS_READABLE: dict[str, frozenset[str]] = {
    "Household": frozenset({"id", "updatedAt"}),
    "Person": frozenset({"id"}),
}
"""Fields a program that can read the type always reads (CONTRACT §6); a program
that reads ``Person.nik`` as PSEUDONYM gets no ``Person.id``."""


def attribute(type_name: str, field_name: str) -> Attribute | None:
    entity = CATALOG.get(type_name)
    return entity.attributes.get(field_name) if entity else None
