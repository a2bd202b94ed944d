"""The API's own GraphQL types: connections, page info, statistics, access, audit."""

from __future__ import annotations

import strawberry

from schema.enums import AssistanceProgram, FieldAccessMode, Sex
from schema.scalars import BigInt, Date, DateTime


@strawberry.type(description="Informasi halaman (Relay) / Page information (Relay)")
class PageInfo:
    hasNextPage: bool = strawberry.field(description="Ada halaman berikutnya / More rows follow")
    hasPreviousPage: bool = strawberry.field(
        description="Ada baris sebelum kursor `after` / Rows exist before `after`"
    )
    startCursor: str | None = strawberry.field(
        description="Kursor baris pertama / First row's cursor"
    )
    endCursor: str | None = strawberry.field(
        description="Kursor baris terakhir, untuk `after` / Last row's cursor, for `after`"
    )


def connection_types(node: type, name: str) -> tuple[type, type]:
    """``<name>Connection`` and ``<name>Edge`` over a program's ``node`` type."""
    edge = type(f"{name}Edge", (), {"__annotations__": {"cursor": str, "node": node}})
    edge.cursor = strawberry.field(name="cursor", description="Kursor buram / Opaque cursor")  # type: ignore[attr-defined]
    edge.node = strawberry.field(name="node")  # type: ignore[attr-defined]
    edge_type = strawberry.type(edge, name=f"{name}Edge")
    connection = type(
        f"{name}Connection",
        (),
        {
            "__annotations__": {
                "totalCount": int,
                "pageInfo": PageInfo,
                "nodes": list[node],  # type: ignore[valid-type]
                "edges": list[edge_type],  # type: ignore[valid-type]
            },
            "totalCount": strawberry.field(
                name="totalCount",
                description="Jumlah baris yang boleh dilihat program / Rows the program may see",
            ),
            "pageInfo": strawberry.field(name="pageInfo"),
            "nodes": strawberry.field(name="nodes"),
            "edges": strawberry.field(name="edges"),
        },
    )
    return strawberry.type(connection, name=f"{name}Connection"), edge_type


@strawberry.type(description="Kunci sel statistik / Key of a statistics cell")
class StatKey:
    regionCode: str | None = None
    regionName: str | None = None
    welfareDecile: int | None = None
    headSex: Sex | None = None
    assistanceProgram: AssistanceProgram | None = None


@strawberry.type(
    description="Sel statistik; `count` kosong bila disembunyikan (kontrol pengungkapan)"
    " / A statistics cell; `count` is null when suppressed (disclosure control)"
)
class StatCell:
    key: StatKey
    count: int | None
    suppressed: bool


@strawberry.type(description="Perjanjian kerja sama (PKS) / Data-sharing agreement")
class Agreement:
    number: str
    validFrom: Date
    validUntil: Date


@strawberry.type(description="Satu tujuan pemrosesan / One purpose of processing")
class AccessPurpose:
    code: str
    description: str
    caseRefRequired: bool = strawberry.field(
        description="Wajib menyebut nomor perkara / A case reference is required"
    )
    narrowsFields: bool = strawberry.field(
        description="Membatasi field yang dapat dibaca / Narrows the readable fields"
    )


@strawberry.type(description="Akses pada satu field / Access to one field")
class FieldAccess:
    type: str
    field: str
    mode: FieldAccessMode


@strawberry.type(description="Hak akses pemanggil / The caller's access")
class Access:
    client: str
    agency: str
    agencyName: str
    program: str
    purpose: str
    legalBasis: str
    agreement: Agreement
    rowScope: str = strawberry.field(description="Cakupan baris / Row scope, human-readable")
    fields: list[FieldAccess]
    purposes: list[AccessPurpose] = strawberry.field(
        description="Tujuan dalam perjanjian; yang pertama berlaku bila permintaan tidak menyebut"
        " / The agreement's purposes; the first applies when a request names none"
    )
    purposeCode: str | None = strawberry.field(
        description="Tujuan permintaan ini / The purpose this request runs under"
    )
    caseRef: str | None = strawberry.field(
        description="Nomor perkara permintaan ini / This request's case reference"
    )


@strawberry.type(description="Satu kejadian audit / One audit event")
class AuditEvent:
    sequence: BigInt
    occurredAt: DateTime
    clientId: str | None
    agency: str | None
    program: str | None
    agreement: str | None
    purpose: str | None
    operationName: str | None
    documentHash: str | None
    outcome: str = strawberry.field(description="ALLOWED, DENIED, INVALID, UNAUTHENTICATED …")
    errorCode: str | None
    fieldPaths: list[str]
    householdIds: list[strawberry.ID]
    personIds: list[strawberry.ID]
    purposeCode: str | None = strawberry.field(
        description="Kode tujuan yang disebut permintaan / The purpose code the request named"
    )
    caseRef: str | None = strawberry.field(
        description="Nomor perkara / The case reference the request named"
    )
    traceId: str | None = strawberry.field(
        description="ID jejak W3C / The W3C trace id the request belonged to"
    )


@strawberry.type(
    description="Satu pengungkapan data keluarga / One disclosure of a household's data"
)
class Disclosure:
    sequence: BigInt
    occurredAt: DateTime
    clientId: str | None
    agency: str | None
    program: str | None
    agreement: str | None
    purpose: str | None
    fieldPaths: list[str]
    householdDisclosed: bool = strawberry.field(
        description="Data keluarga itu sendiri diungkap / The household's own fields were disclosed"
    )
    personIds: list[strawberry.ID] = strawberry.field(
        description="Anggota yang datanya diungkap / Members whose fields were disclosed"
    )
    purposeCode: str | None = strawberry.field(
        default=None,
        description="Kode tujuan yang disebut permintaan / The purpose code the request named",
    )
    caseRef: str | None = strawberry.field(
        default=None, description="Nomor perkara / The case reference the request named"
    )


AuditEventConnection, AuditEventEdge = connection_types(AuditEvent, "AuditEvent")
