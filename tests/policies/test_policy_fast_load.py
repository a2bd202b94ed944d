"""A policy load's shortcuts decide exactly what the plain computation decides.

Two shortcuts make a load cheap: casbin is asked only the questions one of the
program's rules can allow under the shipped matcher (``policies.grants``), and
birth candidates are counted with sorts and ``bincount`` (``policies.inference``).
Each is checked here against a straightforward reference, on the shipped
policies and on broken or unsafe variants of them, so that neither can ever
change a grant, a mask's strength or a refusal.
"""

from __future__ import annotations

import functools
import itertools
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import casbin
import numpy as np
import numpy.typing as npt
import pytest
from casbin.model import Model

import policies.inference as inference
import policies.loader as loader
from db.catalog import CATALOG, MUTATION_FIELDS, ROOT_FIELDS
from db.facts import BIRTH
from policies import PolicyError, PolicySet, load_policies
from policies.errors import Problem
from policies.grants import GRANTABLE, KEY_MATCH_MODEL, File, _parse_rules, read_grants
from policies.inference import REFERENCE_DAYS, MaskStrength, birth_parts, mask_strengths
from policies.loader import MODEL_FILE, PACKAGED_POLICY_DIR, POLICY_FILE, PROGRAMS_DIR
from policies.model import FieldMode
from tests.policies.test_policy_check import append, replace

SHIPPED_MATCHER = "m = r.sub == p.sub && keyMatch(r.obj, p.obj) && r.act == p.act"
SAME_MATCHER_REORDERED = "m = keyMatch(r.obj, p.obj) && r.act == p.act && r.sub == p.sub"
"""Means the same, but is not ``KEY_MATCH_MODEL``: casbin is then asked every question."""


def unchanged(directory: Path) -> None:
    del directory


def dp3akb_full_birth_dates(directory: Path) -> None:
    replace(
        directory / POLICY_FILE,
        "p, dp3akb-keluarga, Person.birthDate, MASKED",
        new="p, dp3akb-keluarga, Person.birthDate, FULL",
    )


def dinsos_year_mask_beside_full_nik(directory: Path) -> None:
    replace(
        directory / POLICY_FILE,
        "p, dinsos-pkh, Person.birthDate, FULL",
        new="p, dinsos-pkh, Person.birthDate, MASKED",
    )


def dinsos_nik_full_and_masked(directory: Path) -> None:
    append(directory / POLICY_FILE, "p, dinsos-pkh, Person.nik, MASKED\n")


def dinsos_name_as_pseudonym(directory: Path) -> None:
    replace(
        directory / POLICY_FILE,
        "p, dinsos-pkh, Person.name, FULL",
        new="p, dinsos-pkh, Person.name, PSEUDONYM",
    )


def kec_without_agency(directory: Path) -> None:
    replace(directory / POLICY_FILE, "g, kec-sumbersari, kec-sumbersari-jember\n", new="")


def program_without_file(directory: Path) -> None:
    append(directory / POLICY_FILE, "g, ghost-program, ghost\np, ghost-program, Person.*, FULL\n")


def bappeda_reads_ages_and_sexes(directory: Path) -> None:
    append(
        directory / POLICY_FILE,
        "p, bappeda-statistik, Person.age, FULL\np, bappeda-statistik, Person.sex, FULL\n",
    )


VARIANTS: dict[str, Callable[[Path], None]] = {
    "shipped": unchanged,
    "dp3akb birthDate FULL": dp3akb_full_birth_dates,
    "dinsos birthDate MASKED": dinsos_year_mask_beside_full_nik,
    "dinsos nik FULL and MASKED": dinsos_nik_full_and_masked,
    "dinsos name PSEUDONYM": dinsos_name_as_pseudonym,
    "kec without agency": kec_without_agency,
    "program without file": program_without_file,
    "bappeda ages and sexes": bappeda_reads_ages_and_sexes,
}


@pytest.fixture
def fresh_caches(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No decided set and no counted fact carried into or out of the test."""
    monkeypatch.setattr(loader, "_decided", {})
    inference.fact_candidates.cache_clear()
    yield
    inference.fact_candidates.cache_clear()


def variant(tmp_path: Path, name: str) -> Path:
    directory = tmp_path / "policies"
    shutil.copytree(
        PACKAGED_POLICY_DIR, directory, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    VARIANTS[name](directory)
    return directory


def files_of(directory: Path) -> tuple[File, File, set[str]]:
    model = File(MODEL_FILE, (directory / MODEL_FILE).read_text())
    policy = File(POLICY_FILE, (directory / POLICY_FILE).read_text())
    programs = {path.stem for path in (directory / PROGRAMS_DIR).glob("*.yaml")}
    return model, policy, programs


@functools.lru_cache(maxsize=16)
def reference_birth_parts(reference: date) -> dict[str, npt.NDArray[np.int64]]:
    """Every (day, sex) of the century before ``reference``, each day's calendar computed
    for that reference alone, as the inference check was first written."""
    first = reference.replace(year=reference.year - 100) + timedelta(days=1)
    days = np.arange(np.datetime64(first), np.datetime64(reference) + 1)
    index = np.repeat(np.arange(len(days), dtype=np.int64), 2)
    sex = np.tile(np.array([0, 1], dtype=np.int64), len(days))
    born = np.repeat(days, 2)
    year = born.astype("datetime64[Y]").astype(np.int64) + 1970
    month_start = born.astype("datetime64[M]")
    month = month_start.astype(np.int64) % 12 + 1
    day = (born - month_start).astype(np.int64) + 1
    passed = (month < reference.month) | ((month == reference.month) & (day <= reference.day))
    age = reference.year - year - (~passed).astype(np.int64)
    return {
        "all": index * 2 + sex,
        "date": index,
        "year": year - int(year.min()),
        "sex": sex,
        "age": age,
    }


def reference_birth_candidates(reference: date, target: str, observed: frozenset[str]) -> int:
    """The plain count (three ``np.unique``), as the inference check was first written."""
    parts = reference_birth_parts(reference)
    known = np.zeros(len(parts["all"]), dtype=np.int64)
    for name in sorted(observed):
        column = parts[name]
        known = known * (int(column.max()) + 1) + column
    _, known = np.unique(known, return_inverse=True)
    wanted = parts[target]
    width = int(wanted.max()) + 1
    pairs = np.unique(known.astype(np.int64) * width + wanted)
    keys, counts = np.unique(pairs // width, return_counts=True)
    return int(np.median(counts[np.searchsorted(keys, known)]))


def reference_modes(
    model: File, policy: File, programs: set[str]
) -> dict[str, tuple[frozenset[str], dict[str, frozenset[FieldMode]]]]:
    """One enforcer over every valid rule of the policy, asked every question: program →
    (root fields, every field allowed in at least one mode → the modes allowed)."""
    casbin_model = Model()
    casbin_model.load_model_from_text(model.text)
    enforcer = casbin.Enforcer(casbin_model)
    for rule in _parse_rules(policy, []):
        if rule.kind == "p":
            enforcer.add_policy(*rule.values)
    answers = {}
    for program in programs:
        roots = frozenset(
            root
            for root in ROOT_FIELDS
            if enforcer.enforce(
                program, f"{'Mutation' if root in MUTATION_FIELDS else 'Query'}.{root}", "FULL"
            )
        )
        fields = {}
        for type_name, entity in CATALOG.items():
            for field_name in entity.attributes:
                obj = f"{type_name}.{field_name}"
                allowed = frozenset(
                    mode for mode in GRANTABLE if enforcer.enforce(program, obj, mode.value)
                )
                if allowed:
                    fields[obj] = allowed
        answers[program] = (roots, fields)
    return answers


@dataclass(frozen=True)
class Outcome:
    """What a load decides: the set's programs, or the problems it is refused for."""

    programs: dict[str, object] | None
    problems: list[Problem] | None
    strengths: dict[str, list[MaskStrength]]


def outcome(directory: Path) -> Outcome:
    try:
        loaded: PolicySet = load_policies(directory)
    except PolicyError as error:
        return Outcome(None, error.problems, {})
    strengths = {name: mask_strengths(program) for name, program in loaded.programs.items()}
    return Outcome(dict(loaded.programs), None, strengths)


def test_the_shipped_model_is_the_one_the_shortcut_knows() -> None:
    shipped = (PACKAGED_POLICY_DIR / MODEL_FILE).read_text()
    assert SHIPPED_MATCHER in shipped
    assert SHIPPED_MATCHER in KEY_MATCH_MODEL


@pytest.mark.parametrize("name", list(VARIANTS))
def test_grants_equal_asking_casbin_every_question(tmp_path: Path, name: str) -> None:
    directory = variant(tmp_path, name)
    model, policy, programs = files_of(directory)
    fast, fast_problems = read_grants(model=model, policy=policy, programs=programs)
    every = File(MODEL_FILE, model.text.replace(SHIPPED_MATCHER, SAME_MATCHER_REORDERED))
    assert every.text != model.text
    slow, slow_problems = read_grants(model=every, policy=policy, programs=programs)
    assert fast == slow
    assert fast_problems == slow_problems
    reference = reference_modes(model, policy, set(fast.root_fields))
    for program, (roots, fields) in reference.items():
        assert fast.root_fields[program] == roots, program
        single = {obj: next(iter(modes)) for obj, modes in fields.items() if len(modes) == 1}
        decided = {f"{t}.{f}": mode for (t, f), mode in fast.modes[program].items()}
        assert decided == single, program
        for obj, modes in fields.items():
            if len(modes) > 1:
                shown = " and ".join(mode.value for mode in GRANTABLE if mode in modes)
                assert any(f"{obj} is granted both {shown}" in p.reason for p in fast_problems)


def test_a_model_with_another_matcher_is_asked_every_question(tmp_path: Path) -> None:
    """Without the guard the shortcut would miss what a looser matcher allows."""
    directory = variant(tmp_path, "shipped")
    model, policy, programs = files_of(directory)
    loose = File(
        MODEL_FILE, model.text.replace(SHIPPED_MATCHER, "m = r.sub == p.sub && r.act == p.act")
    )
    grants, _ = read_grants(model=loose, policy=policy, programs=programs)
    person = {
        f: mode for (t, f), mode in grants.modes["bappeda-statistik"].items() if t == "Person"
    }
    assert person == dict.fromkeys(CATALOG["Person"].attributes, FieldMode.FULL)
    assert grants.root_fields["bappeda-statistik"] == frozenset(ROOT_FIELDS)
    shipped, _ = read_grants(model=model, policy=policy, programs=programs)
    assert not any(t == "Person" for t, _ in shipped.modes["bappeda-statistik"])


@pytest.mark.parametrize("name", list(VARIANTS))
def test_a_load_decides_what_the_reference_computation_decides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_caches: None, name: str
) -> None:
    directory = variant(tmp_path, name)
    fast = outcome(directory)
    inference.fact_candidates.cache_clear()
    monkeypatch.setattr(loader, "_decided", {})
    model = directory / MODEL_FILE
    model.write_text(model.read_text().replace(SHIPPED_MATCHER, SAME_MATCHER_REORDERED))
    monkeypatch.setattr(inference, "_birth_candidates", reference_birth_candidates)
    slow = outcome(directory)
    assert fast == slow


def test_the_unsafe_dp3akb_policy_is_still_refused_naming_the_three_fields(
    tmp_path: Path, fresh_caches: None
) -> None:
    refused = outcome(variant(tmp_path, "dp3akb birthDate FULL"))
    assert refused.problems is not None
    assert any(
        "dp3akb-keluarga: Person.nik MASKED (DIGITS_6_4) is undone by Person.birthDate FULL"
        " + Person.sex FULL: 1 candidate left" in problem.reason
        for problem in refused.problems
    )


@pytest.mark.parametrize(
    "reference", [*REFERENCE_DAYS, date(2024, 2, 28), date(2000, 3, 1), date(2025, 12, 31)]
)
def test_birth_parts_equal_the_plain_calendar(reference: date) -> None:
    fast, plain = birth_parts(reference), reference_birth_parts(reference)
    assert fast.keys() == plain.keys()
    for part, column in plain.items():
        assert fast[part].dtype == column.dtype, part
        assert np.array_equal(fast[part], column), part


def test_birth_counts_equal_the_plain_count_for_every_part_and_observed_set() -> None:
    """On 1 February most of a year's births fall on one side of the birthday: a group's
    figure and a value's figure differ there, so a median over groups would be caught."""
    reference = REFERENCE_DAYS[1]
    parts = BIRTH.parts
    for size in range(len(parts) + 1):
        for observed in itertools.combinations(parts, size):
            for target in parts:
                seen = frozenset(observed)
                assert inference._birth_candidates(
                    reference, target, seen
                ) == reference_birth_candidates(reference, target, seen), (target, observed)
