"""What each shipped program's schema must expose (CONTRACT §6), written out by hand.

Registry types only; ``Region`` is public reference data for anyone who reaches it.
"""

from __future__ import annotations

from db.catalog import CATALOG

ALL = {name: set(entity.attributes) for name, entity in CATALOG.items()}
REGION = {"code", "name", "level", "parent"}

EXPECTED: dict[str, dict[str, set[str]]] = {
    "bps-admin": ALL,
    "dinsos-pkh": {
        "Household": {
            "id",
            "kkNumber",
            "headName",
            "address",
            "region",
            "memberCount",
            "welfareDecile",
            "housing",
            "assistance",
            "members",
            "updatedAt",
        },
        "Housing": ALL["Housing"],
        "Assistance": ALL["Assistance"],
        "Person": {
            "id",
            "nik",
            "name",
            "sex",
            "birthDate",
            "age",
            "relationshipToHead",
            "pregnant",
            "education",
            "disability",
        },
        "Education": ALL["Education"],
        "Disability": ALL["Disability"],
        "Region": REGION,
    },
    "dp3akb-keluarga": {
        "Household": {"id", "headName", "address", "region", "members", "updatedAt"},
        "Person": {
            "id",
            "nik",
            "name",
            "sex",
            "birthDate",
            "age",
            "relationshipToHead",
            "maritalStatus",
            "documents",
            "education",
        },
        "Documents": ALL["Documents"],
        "Education": ALL["Education"],
        "Region": REGION,
    },
    "dinkes-pbi": {
        "Person": {
            "nik",
            "sex",
            "age",
            "pregnant",
            "disability",
            "chronicIllness",
            "healthInsurance",
            "region",
        },
        "Disability": ALL["Disability"],
        "HealthInsurance": ALL["HealthInsurance"],
        "Region": REGION,
    },
    "kec-sumbersari": {
        "Household": {
            "id",
            "kkNumber",
            "headName",
            "address",
            "region",
            "memberCount",
            "members",
            "updatedAt",
        },
        "Person": {"id", "name", "sex", "age"},
        "Region": REGION,
    },
    "bappeda-statistik": {"Region": REGION},
    "inspektorat-audit": {},
}

EXPECTED_ROOTS: dict[str, set[str]] = {
    "bps-admin": {
        "households",
        "household",
        "persons",
        "person",
        "householdStats",
        "regions",
        "myAccess",
        "releases",
        "changes",
    },
    "bappeda-statistik": {"householdStats", "regions", "myAccess"},
    "inspektorat-audit": {
        "auditEvents",
        "disclosures",
        "auditSummary",
        "auditAnomalies",
        "chainStatus",
        "personDisclosures",
        "myAccess",
    },
}
