"""Person-level synthetic attributes (Blok IV), given each person's family and age.

Education follows age (a child is still at school until the age its final
level is completed) and the family's decile; work only from age 15 and not
while at school; pregnancy only for married women of 17-44; functional
difficulty rises steeply with age, about 2.5 % of persons overall; health
insurance is chosen per family (families enrol together).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from db.enums import EmploymentStatus, Enrollment, MaritalStatus, Relationship
from db.seed.households import Households
from db.seed.members import FEMALE, MARITAL, RELATIONSHIP, Members
from db.seed.names import FEMALE_GIVEN, FEMALE_SECOND, MALE_GIVEN, MALE_SECOND
from db.seed.sampling import (
    POVERTY,
    Bools,
    Ints,
    categorical,
    choice,
    decile_categorical,
    normalised,
)

REFERENCE_DATE = np.datetime64("2022-10-15", "D")
"""Regsosek's first day of enumeration: ages are ages on this day."""

COMPLETION_AGE = np.array([0, 12, 15, 18, 21, 22, 25, 29])
"""Age at which each education level (NONE, SD, SMP, SMA, DIPLOMA, S1, S2, S3) is completed."""

DIFFICULTY_BY_AGE = ((18, 0.008), (60, 0.021), (200, 0.135))
"""(upper age bound, probability of any functional difficulty)."""
DIFFICULTY_DOMAINS = (25, 15, 30, 7, 10, 3, 5, 5)
"""Weights of the eight r428 domains, in model column order."""

CHRONIC_BY_AGE = ((30, 0.02), (50, 0.08), (65, 0.22), (200, 0.35))
CHRONIC_KINDS = (38, 18, 8, 7, 12, 3, 5, 2, 2, 0.5, 4.5)
"""Weights of the ChronicIllness members after NONE."""

_MARRIED = MARITAL.index(MaritalStatus.MARRIED)
_STILL = list(Enrollment).index(Enrollment.STILL)
_NEVER = list(Enrollment).index(Enrollment.NEVER)
_NO_LONGER = list(Enrollment).index(Enrollment.NO_LONGER)
_HEAD_OR_SPOUSE = (
    RELATIONSHIP.index(Relationship.HEAD),
    RELATIONSHIP.index(Relationship.SPOUSE),
)
_EMPLOYEE = list(EmploymentStatus).index(EmploymentStatus.EMPLOYEE)


@dataclass(frozen=True)
class Persons:
    birth_date: np.ndarray
    given_name: Ints
    """Index into MALE_GIVEN + FEMALE_GIVEN."""
    second_name: Ints
    """Index into ("",) + MALE_SECOND + FEMALE_SECOND; 0 for a one-word name."""
    pregnant: Bools
    documents: Bools
    """persons × 3: birth certificate, KIA, KTP."""
    enrollment: Ints
    education_level: Ints
    worked: Bools
    hours: Ints
    """-1 when the person did not work."""
    industry: Ints
    employment_status: Ints
    difficulty: Ints
    """persons × 8 DifficultyLevel codes."""
    chronic_illness: Ints
    insurance: Bools
    """persons × 4: PBI-JKN, JKN self-paid, JKN employer, other."""
    protection: Bools
    """persons × 5: Prakerja, KUR, UMi, PIP, BPJS Ketenagakerjaan."""


def _by_age(age: Ints, table: tuple[tuple[int, float], ...]) -> np.ndarray:
    bounds = np.array([bound for bound, _ in table])
    return np.array([p for _, p in table])[np.searchsorted(bounds, age, side="right")]


def draw_persons(rng: np.random.Generator, *, families: Households, members: Members) -> Persons:
    n = len(members)
    age = members.age
    female = members.sex == FEMALE
    decile = families.decile[members.household]
    offset = rng.integers(0, 365, n)
    birth_date = REFERENCE_DATE - np.rint(age * 365.2425).astype(np.int64) - offset

    given = np.where(
        female, len(MALE_GIVEN) + rng.integers(0, len(FEMALE_GIVEN), n),
        rng.integers(0, len(MALE_GIVEN), n),
    )  # fmt: skip
    second = np.where(
        female,
        1 + len(MALE_SECOND) + rng.integers(0, len(FEMALE_SECOND), n),
        1 + rng.integers(0, len(MALE_SECOND), n),
    )
    second = np.where(rng.random(n) < 0.25, 0, second)

    married_woman = female & (members.marital_status == _MARRIED) & (age >= 17) & (age <= 44)
    pregnant = married_woman & (rng.random(n) < 0.07)

    poverty = POVERTY[decile - 1]
    documents = np.column_stack(
        [
            rng.random(n)
            < np.where(age < 18, 0.93 - 0.15 * poverty, 0.8 - 0.3 * poverty)
            - np.where(age >= 60, 0.3, 0.0),
            (age < 17) & (rng.random(n) < 0.5 - 0.2 * poverty),
            (age >= 17) & (rng.random(n) < 0.97),
        ]
    )

    enrollment, level = _education(rng, age=age, decile=decile)
    worked, hours, industry, status = _work(
        rng, age=age, female=female, decile=decile, enrollment=enrollment
    )
    return Persons(
        birth_date=birth_date,
        given_name=given,
        second_name=second,
        pregnant=pregnant,
        documents=documents,
        enrollment=enrollment,
        education_level=level,
        worked=worked,
        hours=hours,
        industry=industry,
        employment_status=status,
        difficulty=_difficulty(rng, age),
        chronic_illness=np.where(
            rng.random(n) < _by_age(age, CHRONIC_BY_AGE),
            1 + choice(rng, CHRONIC_KINDS, size=n),
            0,
        ),
        insurance=_insurance(rng, families=families, members=members),
        protection=np.column_stack(
            [
                (age >= 18) & (age < 65) & (rng.random(n) < 0.03),
                np.isin(members.relationship, _HEAD_OR_SPOUSE)
                & (rng.random(n) < 0.04 * (1 - poverty)),
                (age >= 18) & (rng.random(n) < 0.015),
                (enrollment == _STILL) & (age <= 21) & (rng.random(n) < 0.5 * poverty),
                worked & (rng.random(n) < np.where(status == _EMPLOYEE, 0.35, 0.05)),
            ]
        ),
    )


def _education(rng: np.random.Generator, *, age: Ints, decile: Ints) -> tuple[Ints, Ints]:
    """Enrolment and highest level completed, from a final level drawn by decile and cohort."""
    n = len(age)
    cohort_shift = np.where(age < 25, -0.25, np.where(age >= 50, 0.3, 0.0))
    weight = np.clip(POVERTY[decile - 1] + cohort_shift, 0.0, 1.0)[:, None]
    poor = normalised((12, 45, 22, 18, 1, 2, 0, 0))
    rich = normalised((1, 8, 12, 42, 8, 25, 3.5, 0.5))
    final = categorical(rng, weight * poor[None, :] + (1 - weight) * rich[None, :])
    final = np.where((final == 0) & (age < 25) & (rng.random(n) < 0.8), 1, final)
    reached = np.searchsorted(COMPLETION_AGE, age, side="right") - 1
    level = np.minimum(final, reached)
    enrollment = np.where(
        final == 0,
        np.where((age >= 10) & (rng.random(n) < 0.5), _NO_LONGER, _NEVER),
        np.where(age < 6, _NEVER, np.where(age < COMPLETION_AGE[final], _STILL, _NO_LONGER)),
    )
    return enrollment, level


def _work(
    rng: np.random.Generator, *, age: Ints, female: Bools, decile: Ints, enrollment: Ints
) -> tuple[Bools, Ints, Ints, Ints]:
    """Worked last week, hours, industry and status; NULL (-1) details for non-workers."""
    n = len(age)
    rate = np.where(female, 0.5, 0.85) * np.where(age >= 65, 0.5, 1.0)
    worked = (age >= 15) & (enrollment != _STILL) & (rng.random(n) < rate)
    hours = np.clip(np.rint(rng.normal(40, 12, n)), 1, 84).astype(np.int64)
    industry = decile_categorical(
        rng,
        decile,
        poor=(55, 1, 8, 0, 9, 12, 4, 4, 0, 1, 0, 0, 6),
        rich=(10, 1, 10, 1, 5, 25, 5, 6, 6, 12, 5, 10, 4),
    )
    status = decile_categorical(
        rng, decile, poor=(22, 10, 0, 15, 38, 15), rich=(25, 8, 7, 50, 5, 5)
    )
    return (
        worked,
        np.where(worked, hours, -1),
        np.where(worked, industry, -1),
        np.where(worked, status, -1),
    )


def _difficulty(rng: np.random.Generator, age: Ints) -> Ints:
    """Levels of the eight r428 domains: one domain (sometimes two) for the few affected."""
    n = len(age)
    levels = np.zeros((n, len(DIFFICULTY_DOMAINS)), dtype=np.int64)
    affected = np.flatnonzero(rng.random(n) < _by_age(age, DIFFICULTY_BY_AGE))
    count = len(affected)
    primary = choice(rng, DIFFICULTY_DOMAINS, size=count)
    levels[affected, primary] = 1 + choice(rng, (55, 30, 15), size=count)
    second = rng.random(count) < 0.3
    extra = np.where(primary == 2, 7, 2)
    levels[affected[second], extra[second]] = 1 + choice(rng, (60, 30, 10), size=int(second.sum()))
    return levels


def _insurance(rng: np.random.Generator, *, families: Households, members: Members) -> Bools:
    """One JKN scheme per family (PBI for most poor families), shared by its members."""
    scheme = decile_categorical(rng, families.decile, poor=(72, 3, 2, 23), rich=(5, 35, 45, 15))
    other = rng.random(len(families)) < 0.02 + 0.04 * (families.decile >= 9)
    per_person = scheme[members.household]
    return np.column_stack(
        [per_person == 0, per_person == 1, per_person == 2, other[members.household]]
    )
