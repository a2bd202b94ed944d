"""Purposes in the policy files (``policies.purposes``): read, checked against the grants,
narrowed like the program's own fields, and chosen per request."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from errors import Forbidden
from policies import PolicyError, choose_purpose, load_policies
from policies.loader import PACKAGED_POLICY_DIR

PKH = "programs/dinsos-pkh.yaml"


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    shutil.copytree(
        PACKAGED_POLICY_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    return folder


def _reasons(folder: Path) -> list[str]:
    with pytest.raises(PolicyError) as raised:
        load_policies(folder)
    return [f"{problem.file}:{problem.line}: {problem.reason}" for problem in raised.value.problems]


def test_the_shipped_purposes() -> None:
    programs = load_policies(PACKAGED_POLICY_DIR).programs
    assert [p.code for p in programs["dinsos-pkh"].purposes] == [
        "VERIFIKASI_PKH",
        "PENANGANAN_PENGADUAN",
    ]
    child = programs["dp3akb-perlindungan-anak"].purposes
    assert [(p.code, p.case_ref_required, p.narrows) for p in child] == [
        ("PERLINDUNGAN_ANAK", True, False)
    ]
    complaint = programs["dinsos-pkh"].purpose_named("PENANGANAN_PENGADUAN")
    assert complaint is not None
    narrowed = programs["dinsos-pkh"].under(complaint)
    assert "welfareDecile" not in narrowed.readable_fields("Household")
    assert "headName" in narrowed.readable_fields("Household")
    assert "householdStats" not in narrowed.root_fields
    assert set(narrowed.readable_fields("Person")) == {"id", "nik", "name", "relationshipToHead"}


def test_choosing_a_purpose() -> None:
    programs = load_policies(PACKAGED_POLICY_DIR).programs
    pkh = programs["dinsos-pkh"]
    assert choose_purpose(pkh, code=None, case_ref=None) == pkh.purposes[0]
    with pytest.raises(Forbidden, match="requires a case reference"):
        choose_purpose(pkh, code="PENANGANAN_PENGADUAN", case_ref=None)
    with pytest.raises(Forbidden, match="no purpose 'PAJAK'"):
        choose_purpose(pkh, code="PAJAK", case_ref=None)
    with pytest.raises(Forbidden, match="case reference must be"):
        choose_purpose(pkh, code=None, case_ref="x" * 201)
    with pytest.raises(Forbidden, match="case reference must be"):
        choose_purpose(pkh, code=None, case_ref="a\nb")


def test_a_program_without_purposes_names_none(policy_dir: Path) -> None:
    path = policy_dir / "programs" / "kec-sumbersari.yaml"
    text = path.read_text()
    path.write_text(re.sub(r"^purposes:\n(?:[ #].*\n)*", "", text, flags=re.M))
    program = load_policies(policy_dir).programs["kec-sumbersari"]
    assert program.purposes == ()
    assert choose_purpose(program, code=None, case_ref=None) is None
    with pytest.raises(Forbidden):
        choose_purpose(program, code="PELAYANAN_KECAMATAN", case_ref=None)


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("  - code: VERIFIKASI_PKH", "  - code: verifikasi", "must be upper-case letters"),
        ("  - code: PENANGANAN_PENGADUAN", "  - code: VERIFIKASI_PKH", "is listed twice"),
        ("      - Person.relationshipToHead", "      - person.name", "Type.field or Type.*"),
        (
            "      - Person.relationshipToHead",
            "      - Person.chronicIllness",
            "narrows to Person.chronicIllness, which dinsos-pkh is not granted",
        ),
        ("    case_ref_required: true", "    case_ref_required: ya", "must be true or false"),
        ("dpia:", "documents: always\ndpia:", "documents must be required or optional"),
    ],
)
def test_bad_purposes_are_named_with_their_file(
    policy_dir: Path, old: str, new: str, reason: str
) -> None:
    path = policy_dir / PKH
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    reasons = _reasons(policy_dir)
    assert any(PKH in line and reason in line for line in reasons), reasons
