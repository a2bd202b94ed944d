"""Records of processing (UU PDP Pasal 31) and the DPIA trigger (Pasal 34), from the policy
that is enforced: never a document written beside it.

Each program is one processing activity: the controller (the registry's steward), the
recipient agency, the legal basis, the purposes, the agreement, the data categories it
receives with *specific data* (Pasal 4 ayat 2: health, and children's data) flagged, which
fields it receives masked or pseudonymised, k for statistics, and how long its audit records
are kept. A program that receives specific data must name its impact assessment (``dpia:``);
``regsosek policy check`` fails otherwise.
"""

from __future__ import annotations

from typing import Any, Final

from db.catalog import CATALOG
from policies.conditions import AgeRange, And, Condition
from policies.model import FieldMode, PolicySet, Program

HEALTH_FIELDS: Final = ("chronicIllness", "disability", "pregnancy", "healthInsurance")
"""Health data (specific data, Pasal 4 ayat 2 huruf b) as the issue names them."""
HEALTH_ATTRIBUTES: Final = {
    "chronicIllness": "chronicIllness",
    "disability": "disability",
    "pregnant": "pregnancy",
    "healthInsurance": "healthInsurance",
}
"""``Person`` fields that are health data, and the category each is named by."""
ADULT_AGE: Final = 18

AUDIT_RETENTION: Final = (
    "Selama registri beroperasi: jejak audit hanya-tambah dan berantai hash; tidak ada peran"
    " yang dapat menghapus kejadian / For the life of the registry: the audit trail is"
    " append-only and hash-chained; no role can delete an event"
)

CATEGORIES: Final = {
    "Household": {
        "kkNumber": "identitas / identity",
        "headName": "identitas / identity",
        "address": "alamat / address",
        "region": "wilayah / region",
        "memberCount": "komposisi keluarga / family composition",
        "members": "komposisi keluarga / family composition",
        "welfareDecile": "kesejahteraan / welfare",
        "housing": "perumahan / housing",
        "assets": "aset / assets",
        "assistance": "bantuan sosial / social assistance",
    },
    "Person": {
        "nik": "identitas / identity",
        "name": "identitas / identity",
        "sex": "demografi / demographics",
        "birthDate": "demografi / demographics",
        "age": "demografi / demographics",
        "relationshipToHead": "komposisi keluarga / family composition",
        "maritalStatus": "demografi / demographics",
        "documents": "dokumen kependudukan / civil-registration documents",
        "education": "pendidikan / education",
        "employment": "pekerjaan / employment",
        "socialProtection": "perlindungan sosial / social protection",
        "region": "wilayah / region",
    },
}


def health_fields(program: Program) -> list[str]:
    """The health data the program receives, by the issue's names."""
    readable = program.readable_fields("Person")
    return [name for field, name in HEALTH_ATTRIBUTES.items() if field in readable]


def receives_children(program: Program) -> bool:
    """Whether the program can receive data of persons under 18: it reads persons beyond
    their id, and its person scope does not require an age of 18 or over."""
    readable = set(program.readable_fields("Person")) - {"id"}
    if not readable:
        return False
    if program.person_scope is None:
        return True
    return not _adults_only(program.person_scope.person)


def _adults_only(condition: Condition) -> bool:
    match condition:
        case AgeRange(low, _):
            return low >= ADULT_AGE
        case And(items):
            return any(_adults_only(item) for item in items)
    return False


def specific_data(program: Program) -> list[str]:
    """The program's specific data categories: ``health: …`` and ``children (under 18)``."""
    found = []
    health = health_fields(program)
    if health:
        found.append(f"health: {', '.join(health)}")
    if receives_children(program):
        found.append("children: members under 18")
    return found


def missing_dpia(policy_set: PolicySet) -> list[tuple[str, list[str]]]:
    """Programs that receive specific data without a ``dpia:`` reference, with the data."""
    return [
        (name, specific_data(program))
        for name, program in sorted(policy_set.programs.items())
        if program.dpia is None and specific_data(program)
    ]


def _categories(program: Program) -> list[str]:
    found: dict[str, None] = {}
    for type_name, fields in CATEGORIES.items():
        readable = program.readable_fields(type_name)
        for field, category in fields.items():
            if field in readable:
                found[category] = None
    if health_fields(program):
        found["kesehatan / health"] = None
    if "householdStats" in program.root_fields:
        found["statistik agregat / aggregate statistics"] = None
    return list(found)


def _protected(program: Program) -> list[dict[str, str]]:
    protected = []
    for type_name in CATALOG:
        for field, mode in program.readable_fields(type_name).items():
            if mode in (FieldMode.MASKED, FieldMode.PSEUDONYM):
                protected.append({"field": f"{type_name}.{field}", "mode": mode.value})
    return protected


def record(program: Program) -> dict[str, Any]:
    """One program's record of processing, as ``regsosek policy ropa --json`` prints it."""
    statistics = "householdStats" in program.root_fields
    return {
        "program": program.name,
        "controller": program.controller,
        "recipient": {"agency": program.agency, "name": program.agency_name},
        "legalBasis": program.legal_basis,
        "purpose": program.purpose,
        "purposes": [
            {
                "code": purpose.code,
                "description": purpose.description,
                "caseRefRequired": purpose.case_ref_required,
            }
            for purpose in program.purposes
        ],
        "agreement": {
            "number": program.agreement.number,
            "validFrom": program.agreement.valid_from.isoformat(),
            "validUntil": program.agreement.valid_until.isoformat(),
        },
        "rowScope": program.describe_scope(),
        "dataCategories": _categories(program),
        "specificData": specific_data(program),
        "protectedFields": _protected(program),
        "statisticsK": program.k_min if statistics else None,
        "auditRetention": AUDIT_RETENTION,
        "dpia": program.dpia,
        "documentsRequired": program.documents_required,
    }


def records(policy_set: PolicySet) -> dict[str, Any]:
    """Every program's record, with the policy version they were read from."""
    return {
        "policyVersion": policy_set.version,
        "programs": [record(policy_set.programs[name]) for name in sorted(policy_set.programs)],
    }
