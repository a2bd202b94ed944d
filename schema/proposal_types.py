"""GraphQL types of what agencies send back (CONTRACT §11): proposals and assistance reports.

``Proposal.household`` is of the program's own ``Household`` type, and exists only where
the program reads that type (as ``Change.household``); what the program may propose is
said by its policy (``policies.proposals``), not by these types: a proposal names
import-layout columns (``tenure``, ``asset_car``) as text and is checked value by value
as the importer checks a file.
"""

from __future__ import annotations

import enum
from typing import Any, Optional

import strawberry

from schema.api_types import connection_types
from schema.change_types import Release
from schema.enums import AssistanceProgram
from schema.scalars import DateTime


@strawberry.enum(name="ProposalKind", description="Jenis usulan / Kind of proposal")
class ProposalKind(enum.Enum):
    USUL = strawberry.enum_value(
        "USUL", description="Usulan keluarga baru (musyawarah desa) / A new family"
    )
    SANGGAH = strawberry.enum_value(
        "SANGGAH", description="Sanggahan atas penerima / An objection to a recipient's data"
    )
    KOREKSI = strawberry.enum_value(
        "KOREKSI", description="Koreksi hasil verifikasi lapangan / A field re-survey's correction"
    )
    REACTIVATE = strawberry.enum_value(
        "REACTIVATE", description="Reaktivasi peserta PBI-JKN / Reinstate a PBI-JKN member"
    )


@strawberry.enum(name="ProposalStatus", description="Status usulan / A proposal's status")
class ProposalStatus(enum.Enum):
    SUBMITTED = strawberry.enum_value("SUBMITTED", description="Diajukan / Submitted")
    FORWARDED = strawberry.enum_value(
        "FORWARDED", description="Diteruskan ke BPS/Kemensos / Forwarded to BPS/Kemensos"
    )
    ACCEPTED = strawberry.enum_value(
        "ACCEPTED", description="Rilis memuat nilai usulan / A release carries the values"
    )
    REJECTED = strawberry.enum_value(
        "REJECTED", description="Rilis mempertahankan nilai lama / A release kept the old value"
    )
    SUPERSEDED = strawberry.enum_value(
        "SUPERSEDED", description="Digantikan usulan berikutnya / Replaced by a later proposal"
    )


@strawberry.input(name="ProposedValue", description="Nilai yang diusulkan / A proposed value")
class ProposedValue:
    field: str = strawberry.field(
        description="Kolom tata letak impor (mis. tenure, floor_area) / An import-layout column"
    )
    value: str = strawberry.field(
        description="Nilai seperti ditulis di berkas impor / The value as an import file writes it"
    )


@strawberry.type(name="ProposedValueOut", description="Nilai yang diusulkan / A proposed value")
class ProposedValueOut:
    field: str
    value: str


@strawberry.input(name="ProposalInput", description="Usulan perubahan / A proposed change")
class ProposalInput:
    kind: ProposalKind
    householdId: Optional[strawberry.ID] = strawberry.field(  # noqa: UP045
        default=None,
        description="Keluarga yang diusulkan (kosong untuk USUL) / The household (none for USUL)",
    )
    values: list[ProposedValue] = strawberry.field(
        description="Nilai usulan per kolom / The values proposed, by import-layout column"
    )
    evidenceSha256: str = strawberry.field(
        description="SHA-256 bukti (foto, berita acara; berkas tetap di instansi) / SHA-256 of"
        " the evidence (the file stays with the agency)"
    )
    caseRef: Optional[str] = None  # noqa: UP045
    note: Optional[str] = None  # noqa: UP045


@strawberry.input(name="ProposalFilter", description="Saring usulan / Filter proposals")
class ProposalFilter:
    status: Optional[ProposalStatus] = None  # noqa: UP045
    kind: Optional[ProposalKind] = None  # noqa: UP045


@strawberry.input(
    name="AssistanceReportInput", description="Bantuan yang disalurkan / Assistance delivered"
)
class AssistanceReportInput:
    subject: strawberry.ID = strawberry.field(
        description="Id keluarga, atau pseudonim orang bagi program PSEUDONYM / A household id,"
        " or for a PSEUDONYM program the person's pseudonym as it reads it"
    )
    program: AssistanceProgram
    year: int
    month: int
    benefit: Optional[str] = None  # noqa: UP045


@strawberry.type(name="RowError", description="Kesalahan satu baris / One row's error")
class RowError:
    index: int
    message: str


@strawberry.type(
    name="AssistanceReportResult",
    description="Hasil laporan: semua diterima, atau tidak satu pun / All rows or none",
)
class AssistanceReportResult:
    accepted: int
    errors: list[RowError]


def proposal_types(household: Any | None) -> tuple[Any, Any]:
    """``Proposal`` (with ``household`` of the program's type, when it reads one) and its
    ``ProposalConnection``."""
    annotations: dict[str, Any] = {
        "id": strawberry.ID,
        "kind": ProposalKind,
        "status": ProposalStatus,
        "values": list[ProposedValueOut],
        "caseRef": Optional[str],  # noqa: UP045
        "evidenceSha256": str,
        "submittedAt": DateTime,
        "statusChangedAt": DateTime,
        "settledIn": Optional[Release],  # noqa: UP045
    }
    if household is not None:
        annotations["household"] = Optional[household]  # noqa: UP045
    namespace: dict[str, Any] = {"__annotations__": annotations}
    namespace["settledIn"] = strawberry.field(
        name="settledIn", description="Rilis yang memutuskan / The release that settled it"
    )
    namespace["statusChangedAt"] = strawberry.field(
        name="statusChangedAt", description="Waktu status terakhir / When the status last changed"
    )
    proposal = strawberry.type(
        type("Proposal", (), namespace),
        name="Proposal",
        description="Usulan program ini; tidak pernah mengubah registri / One of the program's"
        " proposals; it never changes the registry",
    )
    return proposal, connection_types(proposal, "Proposal")[0]
