"""The shipped policy files grant what CONTRACT §6 says, and nothing else."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from db.catalog import CATALOG, ROOT_FIELDS
from policies import FieldMode, PolicySet, load_policies
from policies.conditions import (
    And,
    DecileRange,
    Everything,
    HasMemberAgedUnder,
    Or,
    RegionPrefix,
    WomanHeaded,
)
from policies.loader import PACKAGED_POLICY_DIR

TODAY = date(2026, 11, 29)
FULL, MASKED, PSEUDONYM, DENIED = (
    FieldMode.FULL,
    FieldMode.MASKED,
    FieldMode.PSEUDONYM,
    FieldMode.DENIED,
)


@pytest.fixture(scope="module")
def policy_set() -> PolicySet:
    return load_policies(PACKAGED_POLICY_DIR)


def _readable(policy_set: PolicySet, program: str, type_name: str) -> dict[str, FieldMode]:
    return dict(policy_set.programs[program].readable_fields(type_name))


def test_every_program_has_my_access_and_an_agreement_in_force(policy_set: PolicySet) -> None:
    for program in policy_set.programs.values():
        assert "myAccess" in program.root_fields
        assert program.agreement.in_force(TODAY), program.name
        assert program.agreement.number
        assert program.purpose
        assert program.legal_basis
        assert program.root_fields <= set(ROOT_FIELDS)


def test_k_min_is_one_for_bps_ten_for_bappeda_and_five_otherwise(policy_set: PolicySet) -> None:
    k = {name: program.k_min for name, program in policy_set.programs.items()}
    assert k.pop("bps-admin") == 1
    assert k.pop("bappeda-statistik") == 10
    assert set(k.values()) == {5}


def test_only_the_auditor_reads_the_audit_trail(policy_set: PolicySet) -> None:
    auditor_roots = {name for name, text in ROOT_FIELDS.items() if "(auditor" in text}
    assert {"auditEvents", "disclosures"} <= auditor_roots
    for name, program in policy_set.programs.items():
        if name != "inspektorat-audit":
            assert not auditor_roots & program.root_fields, name
    auditor = policy_set.programs["inspektorat-audit"]
    assert {"auditEvents", "disclosures", "myAccess"} <= auditor.root_fields
    assert auditor.root_fields <= auditor_roots | {"myAccess"}
    assert auditor.readable_types() == frozenset()


def test_bps_admin_reads_every_catalogued_field_in_full(policy_set: PolicySet) -> None:
    program = policy_set.programs["bps-admin"]
    for type_name, entity in CATALOG.items():
        for field_name in entity.attributes:
            assert program.mode(type_name, field_name) is FULL, (type_name, field_name)
    assert program.household_scope == Everything()


def test_dinsos_pkh_fields(policy_set: PolicySet) -> None:
    household = _readable(policy_set, "dinsos-pkh", "Household")
    assert set(household) == {
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
    }
    person = _readable(policy_set, "dinsos-pkh", "Person")
    assert person["nik"] is FULL
    assert set(person) == {
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
    }
    for type_name in ("Assets", "Employment", "HealthInsurance", "SocialProtection"):
        assert _readable(policy_set, "dinsos-pkh", type_name) == {}
    program = policy_set.programs["dinsos-pkh"]
    assert program.mode("Person", "chronicIllness") is DENIED
    assert program.household_scope == And((RegionPrefix("3509"), DecileRange(1, 4)))


def test_dp3akb_reads_family_composition_with_masked_nik_and_birth_year(
    policy_set: PolicySet,
) -> None:
    assert set(_readable(policy_set, "dp3akb-keluarga", "Household")) == {
        "id",
        "headName",
        "address",
        "region",
        "members",
        "updatedAt",
    }
    person = _readable(policy_set, "dp3akb-keluarga", "Person")
    assert person.pop("nik") is MASKED
    assert person.pop("birthDate") is MASKED
    assert set(person) == {
        "id",
        "name",
        "sex",
        "age",
        "relationshipToHead",
        "maritalStatus",
        "documents",
        "education",
    }
    assert set(person.values()) == {FULL}
    assert policy_set.programs["dp3akb-keluarga"].household_scope == And(
        (RegionPrefix("3509"), Or((HasMemberAgedUnder(18), WomanHeaded(True))))
    )


def test_dinkes_pbi_reads_pseudonymous_persons_and_no_person_id(policy_set: PolicySet) -> None:
    program = policy_set.programs["dinkes-pbi"]
    person = _readable(policy_set, "dinkes-pbi", "Person")
    assert person.pop("nik") is PSEUDONYM
    assert "id" not in person
    assert set(person) == {
        "sex",
        "age",
        "pregnant",
        "disability",
        "chronicIllness",
        "healthInsurance",
        "region",
    }
    assert program.readable_fields("Household") == {}
    assert program.household_scope is None
    assert program.person_scope is not None
    assert program.person_scope.household == And((RegionPrefix("3509"), DecileRange(1, 5)))
    assert program.person_scope.person == Everything()
    assert "person" not in program.root_fields


def test_kec_sumbersari_reads_identity_and_members_basics(policy_set: PolicySet) -> None:
    assert set(_readable(policy_set, "kec-sumbersari", "Household")) == {
        "id",
        "kkNumber",
        "headName",
        "address",
        "region",
        "memberCount",
        "members",
        "updatedAt",
    }
    assert set(_readable(policy_set, "kec-sumbersari", "Person")) == {"id", "name", "sex", "age"}
    assert policy_set.programs["kec-sumbersari"].household_scope == RegionPrefix("3509720")


def test_bappeda_reads_statistics_and_regions_only(policy_set: PolicySet) -> None:
    program = policy_set.programs["bappeda-statistik"]
    assert program.root_fields == {"householdStats", "assistanceOverlap", "regions", "myAccess"}
    assert program.readable_types() == {"Region"}
    assert program.household_scope is None
    assert program.statistics_scope == RegionPrefix("3509")


def test_region_is_public_wherever_it_is_reachable(policy_set: PolicySet) -> None:
    for name, program in policy_set.programs.items():
        expected = (
            {} if name == "inspektorat-audit" else dict.fromkeys(CATALOG["Region"].attributes, FULL)
        )
        assert dict(program.readable_fields("Region")) == expected, name


def test_unknown_types_and_fields_are_denied(policy_set: PolicySet) -> None:
    program = policy_set.programs["bps-admin"]
    assert program.mode("Household", "income") is DENIED
    assert program.mode("Nothing", "id") is DENIED
    assert program.readable_fields("Nothing") == {}


def test_describe_scope_is_plain_language(policy_set: PolicySet) -> None:
    described = {name: p.describe_scope() for name, p in policy_set.programs.items()}
    assert described["dinsos-pkh"].startswith("households in kabupaten 3509 and welfare decile 1-4")
    assert "persons whose household is in kabupaten 3509" in described["dinkes-pbi"].replace(
        "all persons", "persons"
    )
    assert described["inspektorat-audit"] == "no households; no persons"
    assert "statistics over households in kabupaten 3509" in described["bappeda-statistik"]


def test_version_hashes_the_files(tmp_path: Path, policy_set: PolicySet) -> None:
    copy = tmp_path / "policies"
    shutil.copytree(PACKAGED_POLICY_DIR, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    assert load_policies(copy).version == policy_set.version
    path = copy / "programs" / "kec-sumbersari.yaml"
    path.write_text(path.read_text() + "# reviewed\n")
    assert load_policies(copy).version != policy_set.version


def test_statistics_limits_default_to_one_turn_and_thirty_cpu_minutes(
    policy_set: PolicySet, tmp_path: Path
) -> None:
    for program in policy_set.programs.values():  # dinsos-pkh writes the defaults out
        assert program.concurrent_statistics == 1
        assert program.quota.statistics_seconds_per_day == 1_800
    copy = tmp_path / "policies"
    shutil.copytree(PACKAGED_POLICY_DIR, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    program_file = copy / "programs" / "dinsos-pkh.yaml"
    text = program_file.read_text()
    text = text.replace("statistics_seconds_per_day: 1800", "statistics_seconds_per_day: 600")
    program_file.write_text(text.replace("concurrent_statistics: 1", "concurrent_statistics: 2"))
    dinsos = load_policies(copy).programs["dinsos-pkh"]
    assert dinsos.concurrent_statistics == 2
    assert dinsos.quota.statistics_seconds_per_day == 600
