"""What each shipped program's schema must expose (CONTRACT §6), written out by hand.

Registry types only; ``Region`` is public reference data for anyone who reaches it.
``EXPECTED_MODES`` lists every field a program reads in another mode than FULL.
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
    "dp3akb-perlindungan-anak": {
        "Person": {"id", "name", "sex", "birthDate", "age", "documents", "region"},
        "Documents": ALL["Documents"],
        "Region": REGION,
    },
}

EXPECTED_MODES: dict[str, dict[tuple[str, str], str]] = {
    "dp3akb-keluarga": {
        ("Person", "nik"): "MASKED",  # first 6 and last 4 digits
        ("Person", "birthDate"): "MASKED",  # the year only, as text: "2008"
    },
    "dinkes-pbi": {("Person", "nik"): "PSEUDONYM"},
}
"""Fields read MASKED or PSEUDONYM (a String in the program's schema); every other field FULL."""

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
    "dp3akb-perlindungan-anak": {"persons", "person", "regions", "myAccess"},
    "bappeda-statistik": {"householdStats", "assistanceOverlap", "regions", "myAccess"},
    "inspektorat-audit": {
        "auditEvents",
        "disclosures",
        "auditSummary",
        "auditAnomalies",
        "chainStatus",
        "personDisclosures",
        "subjectReport",
        "breachPack",
        "myAccess",
    },
}
