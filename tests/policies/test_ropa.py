"""Records of processing from the enforced policy (UU PDP Pasal 31) and the DPIA check
(Pasal 34): ``policy ropa`` flags specific data; ``policy check`` fails without a ``dpia:``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from policies import load_policies
from policies.loader import PACKAGED_POLICY_DIR
from policies.ropa import missing_dpia, record, specific_data

NO_DATABASE = {"DATABASE_URL": "", "COLUMNS": "300"}
"""The files alone (no registered documents to re-validate)."""


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    shutil.copytree(
        PACKAGED_POLICY_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    return folder


def test_ropa_flags_dinkes_pbi_health_fields(policy_dir: Path) -> None:
    result = CliRunner().invoke(
        app, ["policy", "ropa", "--json", "--dir", str(policy_dir)], env=NO_DATABASE
    )
    assert result.exit_code == 0, result.output
    programs = {entry["program"]: entry for entry in json.loads(result.output)["programs"]}
    dinkes = programs["dinkes-pbi"]
    assert dinkes["specificData"] == [
        "health: chronicIllness, disability, pregnancy, healthInsurance",
        "children: members under 18",
    ]
    assert dinkes["protectedFields"] == [{"field": "Person.nik", "mode": "PSEUDONYM"}]
    assert dinkes["recipient"]["agency"] == "dinkes-jember"
    assert dinkes["purposes"][0]["code"] == "PENETAPAN_PBI"
    assert dinkes["dpia"]
    child = programs["dp3akb-perlindungan-anak"]
    assert child["specificData"] == ["children: members under 18"]
    assert child["purposes"][0]["caseRefRequired"] is True
    assert programs["bappeda-statistik"]["specificData"] == []
    assert programs["bappeda-statistik"]["statisticsK"] == 10
    assert programs["inspektorat-audit"]["specificData"] == []


def test_ropa_html_escapes_and_flags(policy_dir: Path) -> None:
    result = CliRunner().invoke(
        app, ["policy", "ropa", "--html", "--dir", str(policy_dir)], env=NO_DATABASE
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("<!doctype html>")
    assert "<h2>dinkes-pbi</h2>" in result.output
    assert "health: chronicIllness" in result.output
    assert "<script" not in result.output


def test_policy_check_fails_when_dinkes_pbi_loses_its_dpia(policy_dir: Path) -> None:
    program_file = policy_dir / "programs" / "dinkes-pbi.yaml"
    text = program_file.read_text()
    program_file.write_text(re.sub(r"(?m)^dpia:.*\n", "", text))
    result = CliRunner().invoke(app, ["policy", "check", "--dir", str(policy_dir)], env=NO_DATABASE)
    assert result.exit_code == 1
    assert "dinkes-pbi receives specific data (health: chronicIllness" in result.output
    assert "names no dpia:" in result.output


def test_every_shipped_program_with_specific_data_names_its_dpia() -> None:
    policy_set = load_policies(PACKAGED_POLICY_DIR)
    assert missing_dpia(policy_set) == []
    flagged = {name for name, program in policy_set.programs.items() if specific_data(program)}
    assert flagged == {
        "bps-admin",
        "dinsos-pkh",
        "dp3akb-keluarga",
        "dinkes-pbi",
        "kec-sumbersari",
        "dp3akb-perlindungan-anak",
    }


def test_adults_only_person_scope_receives_no_children(policy_dir: Path) -> None:
    program_file = policy_dir / "programs" / "dinkes-pbi.yaml"
    program_file.write_text(
        program_file.read_text().replace("    person: all", "    person:\n      age: {gte: 18}")
    )
    program = load_policies(policy_dir).programs["dinkes-pbi"]
    assert "children: members under 18" not in specific_data(program)
    assert record(program)["specificData"] == [
        "health: chronicIllness, disability, pregnancy, healthInsurance"
    ]
