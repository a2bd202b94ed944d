"""``regsosek policy check`` finds each kind of mistake and names its file and line."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from db.catalog import EntityType
from policies import PolicyError, load_policies
from policies.loader import PACKAGED_POLICY_DIR


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """A writable copy of the shipped policies."""
    copy = tmp_path / "policies"
    shutil.copytree(PACKAGED_POLICY_DIR, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return copy


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def replace(path: Path, old: str, *, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


@dataclass(frozen=True)
class Case:
    """A mistake: how to make it, and where the checker must point."""

    edit: Callable[[Path], object]
    file: str
    needle: str | None
    """Text on the line the problem must name (None: line 1 or 0, the whole file)."""
    reason: str


CSV = "policy.csv"
DINSOS = "programs/dinsos-pkh.yaml"

CASES = {
    "yaml_syntax": Case(
        lambda d: append(d / DINSOS, "extra: [unclosed\n"), DINSOS, None, "not valid YAML"
    ),
    "unknown_scope_attribute": Case(
        lambda d: replace(d / DINSOS, "welfare_decile: {lte: 4}", new="welfare_desil: {lte: 4}"),
        DINSOS,
        "welfare_desil",
        "unknown household attribute 'welfare_desil'",
    ),
    "person_attribute_in_household_scope": Case(
        lambda d: replace(d / DINSOS, "welfare_decile: {lte: 4}", new="sex: FEMALE"),
        DINSOS,
        "sex: FEMALE",
        "'sex' is not a household attribute here",
    ),
    "sealed_until_not_a_date": Case(
        lambda d: append(d / DINSOS, "sealed_until: next spring\n"),
        DINSOS,
        "sealed_until: next spring",
        "sealed_until must be a date (YYYY-MM-DD)",
    ),
    "bad_region_prefix": Case(
        lambda d: replace(d / DINSOS, 'prefix: "3509"', new='prefix: "35091"'),
        DINSOS,
        "35091",
        "region prefix must be a 2, 4, 7 or 10-digit code",
    ),
    "empty_decile_range": Case(
        lambda d: replace(
            d / DINSOS, "welfare_decile: {lte: 4}", new="welfare_decile: {gte: 5, lte: 3}"
        ),
        DINSOS,
        "gte: 5",
        "empty range",
    ),
    "decile_out_of_range": Case(
        lambda d: replace(d / DINSOS, "welfare_decile: {lte: 4}", new="welfare_decile: {lte: 11}"),
        DINSOS,
        "lte: 11",
        "between 1 and 10",
    ),
    "unknown_assistance_program": Case(
        lambda d: replace(d / DINSOS, "welfare_decile: {lte: 4}", new="receives: RASKIN"),
        DINSOS,
        "RASKIN",
        "receives must be one of",
    ),
    "duplicate_yaml_key": Case(
        lambda d: append(d / DINSOS, "k_min: 7\n"), DINSOS, "k_min: 7", "duplicate key 'k_min'"
    ),
    "unknown_yaml_key": Case(
        lambda d: append(d / DINSOS, "extras: {}\n"), DINSOS, "extras", "unknown key 'extras'"
    ),
    "no_concurrent_statistics": Case(
        lambda d: replace(d / DINSOS, "concurrent_statistics: 1", new="concurrent_statistics: 0"),
        DINSOS,
        "concurrent_statistics: 0",
        "limits.concurrent_statistics must be between 1 and 16",
    ),
    "unknown_limit": Case(
        lambda d: replace(d / DINSOS, "limits:\n", new="limits:\n  max_cost: 10\n"),
        DINSOS,
        "max_cost",
        "unknown key 'max_cost' in limits",
    ),
    "no_statistics_budget": Case(
        lambda d: replace(
            d / DINSOS, "statistics_seconds_per_day: 1800", new="statistics_seconds_per_day: 0"
        ),
        DINSOS,
        "statistics_seconds_per_day",
        "quota.statistics_seconds_per_day must be between 1",
    ),
    "inverted_agreement_window": Case(
        lambda d: replace(d / DINSOS, "valid_until: 2027-01-31", new="valid_until: 2025-01-31"),
        DINSOS,
        "valid_until",
        "agreement window is inverted",
    ),
    "k_min_below_one": Case(
        lambda d: replace(d / DINSOS, "k_min: 5", new="k_min: 0"),
        DINSOS,
        "k_min: 0",
        "k_min must be between 1",
    ),
    "missing_agreement": Case(
        lambda d: replace(d / DINSOS, "agreement:", new="agreementx:"),
        DINSOS,
        "agreementx",
        "unknown key 'agreementx'",
    ),
    "unknown_type": Case(
        lambda d: append(d / CSV, "p, dinsos-pkh, Houshold.kkNumber, FULL\n"),
        CSV,
        "Houshold.kkNumber",
        "unknown type 'Houshold'",
    ),
    "unknown_field": Case(
        lambda d: append(d / CSV, "p, dinsos-pkh, Household.income, FULL\n"),
        CSV,
        "Household.income",
        "unknown field Household.income",
    ),
    "unknown_root_field": Case(
        lambda d: append(d / CSV, "p, dinsos-pkh, Query.everything, FULL\n"),
        CSV,
        "Query.everything",
        "unknown root field Query.everything",
    ),
    "query_wildcard": Case(
        lambda d: append(d / CSV, "p, dinsos-pkh, Query.*, FULL\n"),
        CSV,
        "Query.*",
        "grant root fields one by one",
    ),
    "mask_not_in_catalogue": Case(
        lambda d: append(d / CSV, "p, kec-sumbersari, Household.address, MASKED\n"),
        CSV,
        "Household.address, MASKED",
        "cannot be MASKED",
    ),
    "pseudonym_not_in_catalogue": Case(
        lambda d: replace(
            d / CSV, "p, dinsos-pkh, Person.name, FULL", new="p, dinsos-pkh, Person.name, PSEUDONYM"
        ),
        CSV,
        "Person.name, PSEUDONYM",
        "cannot be PSEUDONYM",
    ),
    "explicit_denied": Case(
        lambda d: append(d / CSV, "p, dinsos-pkh, Household.assets, DENIED\n"),
        CSV,
        "Household.assets, DENIED",
        "DENIED is the default",
    ),
    "unknown_rule_type": Case(
        lambda d: append(d / CSV, "x, dinsos-pkh, Household.id, FULL\n"),
        CSV,
        "x, dinsos-pkh",
        "unknown rule type 'x'",
    ),
    "two_modes_for_one_field": Case(
        lambda d: append(d / CSV, "p, dinsos-pkh, Person.nik, MASKED\n"),
        CSV,
        "dinsos-pkh, Person.nik, MASKED",
        "Person.nik is granted both FULL and MASKED",
    ),
    "program_without_agency": Case(
        lambda d: replace(d / CSV, "g, kec-sumbersari, kec-sumbersari-jember\n", new=""),
        "programs/kec-sumbersari.yaml",
        None,
        "kec-sumbersari has no agency",
    ),
    "program_with_two_agencies": Case(
        lambda d: append(d / CSV, "g, kec-sumbersari, bps-jember\n"),
        CSV,
        "g, kec-sumbersari, bps-jember",
        "bound to several agencies",
    ),
    "program_without_yaml": Case(
        lambda d: append(
            d / CSV, "g, dinas-baru, dinas-baru\np, dinas-baru, Query.myAccess, FULL\n"
        ),
        CSV,
        "g, dinas-baru",
        "dinas-baru has no file programs/dinas-baru.yaml",
    ),
    "yaml_without_program_rules": Case(
        lambda d: shutil.copy(d / DINSOS, d / "programs/dinas-lain.yaml"),
        "programs/dinas-lain.yaml",
        None,
        "dinas-lain has no agency",
    ),
    "object_without_fields": Case(
        lambda d: replace(d / CSV, "p, dinsos-pkh, Housing.*, FULL\n", new=""),
        CSV,
        "p, dinsos-pkh, Household.housing",
        "Household.housing is granted but no field of Housing is granted",
    ),
    "unreachable_grant": Case(
        lambda d: replace(d / CSV, "p, kec-sumbersari, Household.members, FULL\n", new=""),
        CSV,
        "p, kec-sumbersari, Person.name",
        "no granted root or field leads to Person",
    ),
    "person_id_beside_pseudonym": Case(
        lambda d: append(d / CSV, "p, dinkes-pbi, Person.id, FULL\n"),
        CSV,
        "p, dinkes-pbi, Person.id",
        "gets no Person.id",
    ),
    "row_root_without_rows": Case(
        lambda d: append(d / CSV, "p, bappeda-statistik, Query.households, FULL\n"),
        CSV,
        "bappeda-statistik, Query.households",
        "rows.households is none",
    ),
    "broken_casbin_model": Case(
        lambda d: (d / "model.conf").write_text("[request_definition]\nr = sub\n"),
        "model.conf",
        None,
        "not a valid casbin model",
    ),
    "unknown_proposal_kind": Case(
        lambda d: replace(d / DINSOS, "kinds: [KOREKSI, SANGGAH]", new="kinds: [KOREKSI, HAPUS]"),
        DINSOS,
        "HAPUS",
        "unknown proposal kind 'HAPUS'",
    ),
    "proposed_column_not_in_the_layout": Case(
        lambda d: replace(d / DINSOS, '"asset_*"]', new='"asset_*", income]'),
        DINSOS,
        "income",
        "'income' names no proposable column of the import layout",
    ),
    "new_families_without_a_region": Case(
        lambda d: replace(d / "programs/kec-sumbersari.yaml", '  region: "3509720"\n', new=""),
        "programs/kec-sumbersari.yaml",
        "kinds: [USUL, SANGGAH]",
        "proposals.region is required to propose new families (USUL)",
    ),
    "propose_granted_without_proposals": Case(
        lambda d: replace(d / "programs/kec-sumbersari.yaml", "proposals:", new="unused:"),
        "programs/kec-sumbersari.yaml",
        "unused:",
        "unknown key",
    ),
    "proposals_without_the_grant": Case(
        lambda d: replace(d / CSV, "p, dinsos-pkh, Mutation.proposeChange, FULL\n", new=""),
        DINSOS,
        "proposals:",
        "proposals: is given but Mutation.proposeChange is not granted",
    ),
    "unknown_reported_assistance": Case(
        lambda d: replace(d / DINSOS, "assistance: [PKH, BPNT]", new="assistance: [PKH, KIP]"),
        DINSOS,
        "assistance: [PKH, KIP]",
        "unknown assistance program 'KIP'",
    ),
    "report_granted_without_reports": Case(
        lambda d: replace(d / DINSOS, "reports:\n  assistance: [PKH, BPNT]\n", new=""),
        CSV,
        "p, dinsos-pkh, Mutation.reportAssistance",
        "dinsos-pkh: Mutation.reportAssistance is granted but its file has no reports:",
    ),
    "reports_without_the_grant": Case(
        lambda d: replace(d / CSV, "p, dinkes-pbi, Mutation.reportAssistance, FULL\n", new=""),
        "programs/dinkes-pbi.yaml",
        "reports:",
        "reports: is given but Mutation.reportAssistance is not granted",
    ),
    "mutation_granted_as_a_query": Case(
        lambda d: replace(
            d / CSV, "Mutation.reportAssistance, FULL", new="Query.reportAssistance, FULL"
        ),
        CSV,
        "Query.reportAssistance",
        "unknown root field Query.reportAssistance",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_check_names_file_line_and_reason(policy_dir: Path, name: str) -> None:
    case = CASES[name]
    case.edit(policy_dir)
    with pytest.raises(PolicyError) as raised:
        load_policies(policy_dir)
    expected_line = line_of(policy_dir / case.file, case.needle) if case.needle else None
    matches = [
        problem
        for problem in raised.value.problems
        if problem.file == case.file and case.reason in problem.reason
    ]
    assert matches, [str(problem) for problem in raised.value.problems]
    if expected_line is not None:
        assert expected_line in {problem.line for problem in matches}


def test_a_program_may_be_sealed_until_a_date(policy_dir: Path) -> None:
    assert load_policies(policy_dir).programs["dinsos-pkh"].sealed_until is None
    append(policy_dir / DINSOS, "sealed_until: 2027-03-31\n")
    policies = load_policies(policy_dir)
    assert policies.programs["dinsos-pkh"].sealed_until == date(2027, 3, 31)
    assert policies.programs["dp3akb-keluarga"].sealed_until is None


def test_each_program_reports_only_its_own_assistance(policy_dir: Path) -> None:
    programs = load_policies(policy_dir).programs
    reported = {
        name: sorted(program.reports.assistance)
        for name, program in programs.items()
        if program.reports is not None
    }
    assert reported == {"dinkes-pbi": ["PBI_JKN"], "dinsos-pkh": ["BPNT", "PKH"]}


def test_cli_check_exits_1_printing_every_problem(policy_dir: Path) -> None:
    append(policy_dir / CSV, "p, dinsos-pkh, Household.income, FULL\n")
    replace(policy_dir / DINSOS, "k_min: 5", new="k_min: 0")
    result = CliRunner().invoke(app, ["policy", "check", "--dir", str(policy_dir)])
    assert result.exit_code == 1
    csv_line = line_of(policy_dir / CSV, "Household.income")
    assert f"{policy_dir / CSV}:{csv_line}: unknown field Household.income" in result.output
    yaml_line = line_of(policy_dir / DINSOS, "k_min: 0")
    assert re.search(rf"{re.escape(str(policy_dir / DINSOS))}:{yaml_line}: k_min", result.output)


def test_cli_check_exits_0_with_a_summary(policy_dir: Path) -> None:
    result = CliRunner().invoke(
        app, ["policy", "check", "--dir", str(policy_dir)], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 0, result.output
    assert "8 programs, no problems" in result.output
    assert "dinsos-pkh" in result.output


def test_cli_explain_prints_the_predicates_and_the_field_table(policy_dir: Path) -> None:
    result = CliRunner().invoke(
        app, ["policy", "explain", "dinsos-pkh", "--dir", str(policy_dir)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "households.kabupaten_code = '3509' AND households.welfare_decile <= 4" in result.output
    assert "persons_household.welfare_decile <= 4" in result.output
    rows = {
        tuple(cell.strip() for cell in line.split("│")[1:-1])
        for line in result.output.splitlines()
        if line.count("│") == 5
    }
    assert ("Household", "welfareDecile", "FULL", "") in rows
    assert ("Household", "assets", "DENIED", "") in rows
    assert ("Person", "employment", "DENIED", "") in rows
    type_rows = {(row[0], row[1]) for row in rows}
    assert len(type_rows) == sum(len(entity.attributes) for entity in _catalog().values())


def test_cli_explain_shows_masked_and_pseudonym_modes(policy_dir: Path) -> None:
    for program, field, mode in (
        ("dp3akb-keluarga", "nik", "MASKED"),
        ("dinkes-pbi", "nik", "PSEUDONYM"),
    ):
        result = CliRunner().invoke(
            app, ["policy", "explain", program, "--dir", str(policy_dir)], env={"COLUMNS": "200"}
        )
        assert result.exit_code == 0, result.output
        assert re.search(rf"Person\s*│\s*{field}\s*│\s*{mode}", result.output)


def test_cli_explain_unknown_program_exits_1(policy_dir: Path) -> None:
    result = CliRunner().invoke(app, ["policy", "explain", "nobody", "--dir", str(policy_dir)])
    assert result.exit_code == 1


def _catalog() -> dict[str, EntityType]:
    from db.catalog import CATALOG

    return dict(CATALOG)
