"""GraphQL types of the auditors' reports: ``auditSummary``, ``auditAnomalies``,
``chainStatus`` and ``personDisclosures`` (program ``inspektorat-audit`` only).

Values are built by ``audit.reports`` (JSON from PostgreSQL) and projected
onto the selection; these classes only declare the shapes.
"""

from __future__ import annotations

import enum

import strawberry

from schema.scalars import BigInt, Date, DateTime


@strawberry.type(description="Satu program pada satu hari (WIB) / One program on one WIB day")
class ProgramDay:
    day: Date
    program: str
    requests: int = strawberry.field(description="Permintaan /graphql / Requests to /graphql")
    allowed: int
    refused: int = strawberry.field(
        description="Ditolak: FORBIDDEN, BAD_USER_INPUT, QUERY_TOO_COMPLEX, RATE_LIMITED"
        " / Refused requests"
    )
    denied: int = strawberry.field(description="FORBIDDEN")
    rateLimited: int = strawberry.field(description="RATE_LIMITED")
    rowsDisclosed: int = strawberry.field(
        description="Baris (keluarga + orang) yang diungkap / Rows (households + persons) disclosed"
    )
    tokensIssued: int


@strawberry.type(description="Gagal masuk pada satu hari (WIB) / Failed sign-ins on one WIB day")
class FailedSignIns:
    day: Date
    endpoint: str = strawberry.field(description="TOKEN (/oauth/token) atau GRAPHQL (token salah)")
    clientId: str | None = strawberry.field(
        description="Client id yang diakui pemanggil, bila ada / The client id asserted, if any"
    )
    attempts: int


@strawberry.type(description="Field yang diungkap kepada program / A field disclosed to a program")
class FieldDisclosed:
    program: str
    fieldPath: str
    requests: int = strawberry.field(
        description="Permintaan yang mengungkap field ini / Requests that disclosed it"
    )


@strawberry.type(description="Jumlah dalam periode / Totals of the period")
class AuditTotals:
    events: int
    requests: int
    allowed: int
    refused: int
    denied: int
    rateLimited: int
    rowsDisclosed: int
    tokensIssued: int
    failedSignIns: int


@strawberry.type(
    description="Ringkasan jejak audit untuk satu periode / Overview of the audit trail in a period"
)
class AuditSummary:
    from_: DateTime = strawberry.field(name="from")
    to: DateTime
    days: list[Date] = strawberry.field(
        description="Setiap hari (WIB) dalam periode / Every WIB day of the period"
    )
    programs: list[str]
    totals: AuditTotals
    programDays: list[ProgramDay]
    failedSignIns: list[FailedSignIns]
    fieldsDisclosed: list[FieldDisclosed]


@strawberry.enum(description="Aturan anomali / Anomaly rule (see docs/auditing.md)")
class AnomalyRule(enum.Enum):
    VOLUME_SPIKE = "VOLUME_SPIKE"
    OFF_HOURS = "OFF_HOURS"
    DENIAL_BURST = "DENIAL_BURST"
    SIGN_IN_BURST = "SIGN_IN_BURST"
    SCOPE_SWEEP = "SCOPE_SWEEP"


@strawberry.type(description="Kejadian di balik anomali / An event behind an anomaly")
class AnomalyEvent:
    sequence: BigInt
    occurredAt: DateTime
    endpoint: str
    clientId: str | None
    program: str | None
    remoteAddr: str | None
    operationName: str | None
    outcome: str
    errorCode: str | None
    rowCount: int
    fieldPaths: list[str]
    purposeCode: str | None = strawberry.field(
        default=None, description="Tujuan yang disebut permintaan / The purpose it named"
    )
    caseRef: str | None = strawberry.field(
        default=None, description="Nomor perkara yang disebut / The case reference it named"
    )


@strawberry.type(description="Satu anomali / One anomaly")
class AuditAnomaly:
    rule: AnomalyRule
    subject: str = strawberry.field(
        description="Client id, atau alamat bila tidak ada / The client id, else the address"
    )
    clientId: str | None
    program: str | None
    remoteAddr: str | None
    day: Date | None
    firstAt: DateTime
    lastAt: DateTime
    eventCount: int
    measure: float = strawberry.field(description="Nilai terukur / What was measured")
    threshold: float = strawberry.field(description="Ambang aturan / The rule's threshold")
    detail: str
    sequences: list[BigInt] = strawberry.field(
        description="Nomor urut kejadian (paling banyak 200) / Events' sequence numbers (≤ 200)"
    )
    events: list[AnomalyEvent]


@strawberry.type(description="Kerusakan rantai / Damage to the chain")
class ChainDamage:
    sequence: BigInt
    kind: str = strawberry.field(
        description="EDITED, DELETED, REORDERED, INSERTED, TRUNCATED, FORGED"
    )
    detail: str
    throughSequence: BigInt | None


@strawberry.type(description="Status rantai hash audit / The audit hash chain's status")
class ChainStatus:
    ok: bool
    verification: str = strawberry.field(
        description="FULL (seluruh rantai) atau INCREMENTAL (sejak kepala terakhir)"
        " / FULL (whole chain walked) or INCREMENTAL (since the last verified head)"
    )
    checkedAt: DateTime
    fullWalkAt: DateTime
    headSequence: BigInt
    headHash: str
    headAt: DateTime | None
    lastSequence: BigInt
    signedHeadSequence: BigInt | None
    checkpoints: int
    checkpointsValid: int
    damage: ChainDamage | None


@strawberry.type(
    description="Pengungkapan data satu orang / One disclosure of a person's or their family's data"
)
class PersonDisclosure:
    sequence: BigInt
    occurredAt: DateTime
    clientId: str | None
    agency: str | None
    program: str | None
    agreement: str | None
    purpose: str | None
    fieldPaths: list[str]
    personDisclosed: bool = strawberry.field(
        description="Data orang itu diungkap / The person's own fields were disclosed"
    )
    householdDisclosed: bool = strawberry.field(
        description="Data keluarganya diungkap / Their household's fields were disclosed"
    )
    purposeCode: str | None = strawberry.field(
        default=None,
        description="Kode tujuan yang disebut permintaan / The purpose code the request named",
    )
    caseRef: str | None = strawberry.field(
        default=None, description="Nomor perkara / The case reference the request named"
    )


@strawberry.type(
    description="Siapa menerima data pemilik NIK (UU PDP Pasal 32) / Who received the data"
    " of the person holding a NIK"
)
class PersonDisclosures:
    found: bool
    personIds: list[strawberry.ID]
    householdIds: list[strawberry.ID]
    disclosures: list[PersonDisclosure]


@strawberry.type(description="Field yang diungkap dan modusnya / A field disclosed and its mode")
class DisclosedField:
    path: str
    mode: str = strawberry.field(description="FULL, MASKED atau PSEUDONYM")


@strawberry.type(
    description="Anggota keluarga seperti dilihat auditor / A family member as an auditor sees"
    " them: member number, NIK with only its last four digits, name as initials"
)
class SubjectMember:
    personId: strawberry.ID
    householdId: strawberry.ID
    memberNo: int = strawberry.field(
        description="Nomor urut anggota (r401) / The member's line on the roster (r401)"
    )
    nikMasked: str
    initials: str


@strawberry.type(description="Pengungkapan yang disegel / Disclosures sealed until a date")
class SealedEntries:
    until: Date = strawberry.field(
        description="Ditahan sampai dan termasuk hari ini (WIB) / Withheld through this WIB day"
    )
    count: int


@strawberry.type(description="Satu pengungkapan dalam laporan subjek / One disclosure reported")
class SubjectReportEntry:
    sequence: BigInt
    occurredAt: DateTime
    clientId: str | None
    agency: str | None
    program: str | None
    agreement: str | None
    purpose: str | None
    purposeCode: str | None
    caseRef: str | None
    operationName: str | None
    fieldPaths: list[str]
    fields: list[DisclosedField]
    householdDisclosed: bool = strawberry.field(
        description="Data keluarga diungkap / The household's own fields were disclosed"
    )
    personIds: list[strawberry.ID]
    members: list[str] = strawberry.field(
        description="Anggota yang datanya diungkap (nomor, NIK tersamar, inisial) / Members"
        " whose fields were disclosed (number, masked NIK, initials)"
    )


@strawberry.type(
    description="Laporan bertanda tangan: siapa menerima data orang atau keluarga ini"
    " (UU PDP Pasal 32) / Signed report of who received this person's or family's data"
)
class SubjectReport:
    kind: str
    version: int
    nik: str | None
    kkNumber: str | None
    found: bool
    generatedAt: DateTime
    asOf: Date = strawberry.field(
        description="Hari (WIB) yang menentukan segel / The WIB day seals are judged on"
    )
    householdIds: list[strawberry.ID]
    personIds: list[strawberry.ID]
    members: list[SubjectMember]
    entries: list[SubjectReportEntry]
    sealedCount: int = strawberry.field(
        description="Pengungkapan yang ditahan / Disclosures withheld under a seal"
    )
    sealed: list[SealedEntries]
    iss: str | None = strawberry.field(
        description="Penerbit: alamat gateway, seperti pada token / The issuer: the gateway's"
        " URL, as its access tokens name it",
    )
    kid: str = strawberry.field(description="Kunci penanda tangan / The signing key's kid")
    jws: str = strawberry.field(
        description="Laporan ini sebagai JWS compact, dapat diverifikasi dengan"
        " /.well-known/jwks.json / This report as a compact JWS, verifiable with the JWKS"
    )


@strawberry.type(
    description="Ringkasan paket dampak kebocoran satu klien (UU PDP Pasal 46) / A client's"
    " breach impact summary; the full pack, naming every subject, is `regsosek audit breach`"
)
class BreachPack:
    verified: bool = strawberry.field(
        description="Rantai audit utuh dalam jendela / The chain is intact over the window"
    )
    damage: ChainDamage | None
    firstSequence: BigInt | None
    lastSequence: BigInt | None
    events: int = strawberry.field(description="Disclosing requests of the client")
    households: int
    persons: int
    summaryHtml: str | None = strawberry.field(
        description="Halaman ringkasan mandiri / The self-contained summary page (HTML)"
    )
