"""No combination of a program's fields undoes its masks: the inference check of ``policy check``."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from db.catalog import CATALOG, Mask
from db.facts import ALL, FACTS, VIEWS
from policies import PolicyError, PolicyStore, load_policies
from policies.inference import (
    MIN_CANDIDATES,
    REFERENCE_DAYS,
    Reading,
    birth_parts,
    candidates,
    mask_strengths,
)
from policies.loader import PACKAGED_POLICY_DIR
from policies.model import FieldMode
from tests.policies.test_policy_check import line_of, replace

CSV = "policy.csv"
NIK_MASKED = Reading("Person", "nik", FieldMode.MASKED, "DIGITS_6_4")
NIK_PSEUDONYM = Reading("Person", "nik", FieldMode.PSEUDONYM, "PSEUDONYM")
BIRTH_FULL = Reading("Person", "birthDate", FieldMode.FULL, "FULL")
BIRTH_YEAR = Reading("Person", "birthDate", FieldMode.MASKED, "YEAR")
SEX = Reading("Person", "sex", FieldMode.FULL, "FULL")
AGE = Reading("Person", "age", FieldMode.FULL, "FULL")
REGION = Reading("Person", "region", FieldMode.FULL, "FULL")


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    copy = tmp_path / "policies"
    shutil.copytree(PACKAGED_POLICY_DIR, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return copy


def give_dp3akb_full_birth_dates(directory: Path) -> None:
    replace(
        directory / CSV,
        "p, dp3akb-keluarga, Person.birthDate, MASKED",
        new="p, dp3akb-keluarga, Person.birthDate, FULL",
    )


def test_policy_check_refuses_a_masked_nik_beside_full_birth_date_and_sex(
    policy_dir: Path,
) -> None:
    give_dp3akb_full_birth_dates(policy_dir)
    result = CliRunner().invoke(
        app, ["policy", "check", "--dir", str(policy_dir)], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 1, result.output
    line = line_of(policy_dir / CSV, "p, dp3akb-keluarga, Person.nik, MASKED")
    expected = (
        f"{policy_dir / CSV}:{line}: dp3akb-keluarga: Person.nik MASKED (DIGITS_6_4) is undone"
        " by Person.birthDate FULL + Person.sex FULL: 1 candidate left (needs >= 100)"
    )
    assert expected in result.output


def test_a_server_never_takes_such_a_policy_on_reload(policy_dir: Path) -> None:
    store = PolicyStore(policy_dir)
    before = store.current
    give_dp3akb_full_birth_dates(policy_dir)
    assert store.reload() is False
    assert store.current is before
    assert store.last_error is not None
    assert any("Person.nik MASKED" in problem.reason for problem in store.last_error.problems)
    with pytest.raises(PolicyError):
        PolicyStore(policy_dir)


def test_a_year_mask_beside_the_full_nik_is_undone_by_the_nik(policy_dir: Path) -> None:
    replace(
        policy_dir / CSV,
        "p, dinsos-pkh, Person.birthDate, FULL",
        new="p, dinsos-pkh, Person.birthDate, MASKED",
    )
    with pytest.raises(PolicyError) as raised:
        load_policies(policy_dir)
    line = line_of(policy_dir / CSV, "p, dinsos-pkh, Person.birthDate, MASKED")
    reasons = {problem.reason for problem in raised.value.problems if problem.line == line}
    assert reasons == {
        "dinsos-pkh: Person.birthDate MASKED (YEAR) is undone by Person.nik FULL:"
        " 1 candidate left (needs >= 100)"
    }


def test_the_shipped_policies_pass_and_every_mask_keeps_enough_candidates() -> None:
    policy_set = load_policies(PACKAGED_POLICY_DIR)
    strengths = {
        (program.name, str(strength.field)): strength
        for program in policy_set.programs.values()
        for strength in mask_strengths(program)
    }
    assert set(strengths) == {
        ("dp3akb-keluarga", "Person.nik MASKED (DIGITS_6_4)"),
        ("dp3akb-keluarga", "Person.birthDate MASKED (YEAR)"),
        ("dinkes-pbi", "Person.nik PSEUDONYM"),
    }
    assert all(strength.holds for strength in strengths.values())
    nik = strengths[("dp3akb-keluarga", "Person.nik MASKED (DIGITS_6_4)")]
    assert nik.candidates == 183
    assert {str(reading) for reading in nik.narrowed_by} == {
        "Person.age FULL",
        "Person.birthDate MASKED (YEAR)",
        "Person.name FULL",
        "Person.sex FULL",
    }


def test_a_year_mask_beside_age_is_fine_and_a_full_date_is_not() -> None:
    assert candidates(NIK_MASKED, [BIRTH_YEAR, AGE, SEX]) >= MIN_CANDIDATES
    assert candidates(NIK_MASKED, [BIRTH_FULL, SEX]) == 1
    assert candidates(NIK_MASKED, [BIRTH_FULL]) == 2  # the day, +40 or not
    assert candidates(NIK_MASKED, [SEX]) > 36_000  # a century of days
    assert candidates(BIRTH_YEAR, [AGE, SEX]) >= MIN_CANDIDATES


def test_year_age_and_sex_leave_the_days_on_one_side_of_the_reference_day() -> None:
    """Counted by hand: on 1 July 2025 a girl of 16 born in 2008 was born 2 July - 31 Dec 2008
    (183 days), one of 17 born in 2008 on 1 Jan - 1 July (183 days: 2008 is a leap year)."""
    reference = date(2025, 7, 1)

    def age(born: date) -> int:
        return (
            reference.year - born.year - ((reference.month, reference.day) < (born.month, born.day))
        )

    days = [date(2008, 1, 1) + timedelta(days=n) for n in range(366)]
    assert sum(age(day) == 16 for day in days) == 183
    assert sum(age(day) == 17 for day in days) == 183
    parts = birth_parts(reference)
    assert len(parts[ALL]) == 2 * (reference - date(1925, 7, 1)).days
    assert reference in REFERENCE_DAYS
    assert candidates(NIK_MASKED, [BIRTH_YEAR, AGE, SEX]) <= 184


def test_a_pseudonym_hides_the_serial_whatever_else_is_read() -> None:
    """The check is about rebuilding the hidden value: a pseudonym beside every other block
    still leaves the serial's 10,000 values (re-identification is another matter)."""
    assert candidates(NIK_PSEUDONYM, [BIRTH_FULL, SEX, REGION]) == 10_000
    assert candidates(NIK_PSEUDONYM, [AGE, SEX, REGION]) == 365 * 10_000


def test_a_masked_kk_number_keeps_its_issue_date_hidden() -> None:
    kk = Reading("Household", "kkNumber", FieldMode.MASKED, "DIGITS_6_4")
    region = Reading("Household", "region", FieldMode.FULL, "FULL")
    assert candidates(kk, [region, BIRTH_FULL, SEX]) == FACTS["kk_issued"].values


def test_the_table_names_catalogued_fields_modes_and_parts() -> None:
    for (type_name, field_name), by_mode in VIEWS.items():
        attribute = CATALOG[type_name].attributes[field_name]
        for how, views in by_mode.items():
            assert how in {"FULL", "PSEUDONYM"} or how == (attribute.mask and attribute.mask.value)
            for view in views:
                assert view.part in FACTS[view.fact].parts
    enumerated = [fact for fact in FACTS.values() if fact.values is None]
    for fact in enumerated:
        assert set(fact.parts) == set(birth_parts(REFERENCE_DAYS[0]))
    for type_name, entity in CATALOG.items():
        for field_name, attribute in entity.attributes.items():
            if attribute.mask is Mask.DIGITS_6_4:
                assert "DIGITS_6_4" in VIEWS[(type_name, field_name)]


def test_policy_explain_shows_each_mask_against_the_other_fields(policy_dir: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["policy", "explain", "dp3akb-keluarga", "--dir", str(policy_dir)],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    rows = {
        tuple(cell.strip() for cell in line.split("│")[1:-1])
        for line in result.output.splitlines()
        if line.count("│") in (4, 5)
    }
    assert ("Person", "birthDate", "MASKED", "YEAR") in rows
    masks = {row[0]: row[1:] for row in rows if len(row) == 3}
    assert masks["Person.nik MASKED (DIGITS_6_4)"][0] == "183"
    assert "Person.birthDate MASKED (YEAR)" in masks["Person.nik MASKED (DIGITS_6_4)"][1]
    assert masks["Person.birthDate MASKED (YEAR)"][0] == "183"
