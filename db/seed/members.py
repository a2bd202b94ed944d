"""Who lives in each family: relationships, sexes, ages and marital status.

A family is laid out in fixed slots, one row per family: head, spouse, up to
seven children (oldest first), a parent or parent-in-law, a child-in-law, two
grandchildren and a helper. Present slots, read row by row, become the Kartu
Keluarga's member list, so the head is always member 1.

The rules keep the families plausible: a spouse only for a married head, of
the other sex and of a nearby age; children born when their mother was 18-42
(and fewer of the grown-up ones still on the card); a child-in-law only
beside a married child of 20 or more, and grandchildren only with one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from db.enums import MaritalStatus, Relationship
from db.seed.households import Households
from db.seed.sampling import Bools, Ints, choice

SLOTS = 14
HEAD, SPOUSE, FIRST_CHILD, PARENT, CHILD_IN_LAW, FIRST_GRANDCHILD, HELPER = 0, 1, 2, 9, 10, 11, 13
MAX_CHILDREN = 7
MALE, FEMALE = 0, 1

RELATIONSHIP = list(Relationship)
MARITAL = list(MaritalStatus)
_SINGLE = MARITAL.index(MaritalStatus.SINGLE)
_MARRIED = MARITAL.index(MaritalStatus.MARRIED)
_WIDOWED = MARITAL.index(MaritalStatus.WIDOWED)

_SLOT_RELATIONSHIP = np.array(
    [RELATIONSHIP.index(Relationship.HEAD), RELATIONSHIP.index(Relationship.SPOUSE)]
    + [RELATIONSHIP.index(Relationship.CHILD)] * MAX_CHILDREN
    + [
        RELATIONSHIP.index(Relationship.PARENT_OR_IN_LAW),
        RELATIONSHIP.index(Relationship.CHILD_IN_LAW),
        RELATIONSHIP.index(Relationship.GRANDCHILD),
        RELATIONSHIP.index(Relationship.GRANDCHILD),
        RELATIONSHIP.index(Relationship.HELPER),
    ]
)


@dataclass(frozen=True)
class Members:
    """The persons of one chunk, in household order and member order within a household."""

    household: Ints
    """Index of the person's family in the chunk."""
    member_no: Ints
    sex: Ints
    age: Ints
    relationship: Ints
    marital_status: Ints
    member_count: Ints
    """Per family: number of members."""
    head: Ints
    """Per family: index of its head among the persons."""

    def __len__(self) -> int:
        return len(self.household)


def draw_members(rng: np.random.Generator, families: Households) -> Members:
    n = len(families)
    present = np.zeros((n, SLOTS), dtype=np.bool_)
    sex = np.zeros((n, SLOTS), dtype=np.int64)
    age = np.zeros((n, SLOTS), dtype=np.int64)
    marital = np.full((n, SLOTS), _SINGLE, dtype=np.int64)

    woman = families.woman_headed
    present[:, HEAD] = True
    sex[:, HEAD] = np.where(woman, FEMALE, MALE)
    age[:, HEAD] = np.where(
        woman,
        np.clip(np.rint(rng.normal(54, 14, n)), 20, 95),
        np.clip(np.rint(rng.normal(44, 13, n)), 19, 90),
    )
    man_status = choice(rng, (3, 90, 3, 4), size=n)
    woman_status = choice(rng, (10, 0, 28, 62), size=n)
    head_status = np.where(woman, woman_status, man_status)
    head_status = np.where((head_status == _WIDOWED) & (age[:, HEAD] < 25), _SINGLE, head_status)
    marital[:, HEAD] = head_status

    married = head_status == _MARRIED
    present[:, SPOUSE] = married
    sex[:, SPOUSE] = FEMALE
    gap = np.clip(np.rint(rng.normal(4, 4, n)), -3, 15)
    age[:, SPOUSE] = np.where(married, np.maximum(age[:, HEAD] - gap, 17), 0)
    marital[:, SPOUSE] = _MARRIED

    mother_age = np.where(married, age[:, SPOUSE], age[:, HEAD] - np.where(woman, 0, 4))
    _draw_children(
        rng,
        families=families,
        present=present,
        sex=sex,
        age=age,
        mother_age=mother_age,
        may_have=head_status != _SINGLE,
    )
    _draw_extended(rng, families=families, present=present, sex=sex, age=age, marital=marital)

    rows, slots = np.nonzero(present)
    member_count = present.sum(axis=1)
    starts = np.cumsum(member_count) - member_count
    return Members(
        household=rows,
        member_no=np.arange(len(rows)) - np.repeat(starts, member_count) + 1,
        sex=sex[rows, slots],
        age=age[rows, slots],
        relationship=_SLOT_RELATIONSHIP[slots],
        marital_status=marital[rows, slots],
        member_count=member_count,
        head=starts,
    )


def _draw_children(
    rng: np.random.Generator,
    *,
    families: Households,
    present: Bools,
    sex: Ints,
    age: Ints,
    mother_age: Ints,
    may_have: Bools,
) -> None:
    """Children aged so that their mother was 18-42 at birth; few over 17 still on the card."""
    n = len(families)
    youngest = np.maximum(mother_age - 42, 0)
    oldest = np.minimum(mother_age - 18, 29)
    window = np.clip(oldest - youngest + 1, 0, None)
    rate = (2.6 - 0.09 * (families.decile - 1)) * np.clip(window / 14, 0, 1.2)
    count = np.where(may_have & (window > 0), np.minimum(rng.poisson(rate), MAX_CHILDREN), 0)
    ages = youngest[:, None] + np.floor(rng.random((n, MAX_CHILDREN)) * window[:, None])
    ages = ages.astype(np.int64)
    kept = np.arange(MAX_CHILDREN)[None, :] < count[:, None]
    kept &= (ages < 18) | (rng.random((n, MAX_CHILDREN)) < 0.55)
    ages = np.where(kept, ages, -1)
    ages = -np.sort(-ages, axis=1)
    children = slice(FIRST_CHILD, FIRST_CHILD + MAX_CHILDREN)
    present[:, children] = ages >= 0
    age[:, children] = np.maximum(ages, 0)
    sex[:, children] = (rng.random((n, MAX_CHILDREN)) < 0.49).astype(np.int64)


def _draw_extended(
    rng: np.random.Generator,
    *,
    families: Households,
    present: Bools,
    sex: Ints,
    age: Ints,
    marital: Ints,
) -> None:
    """A parent/in-law, a married eldest child's spouse and children, a helper."""
    n = len(families)
    head_age = age[:, HEAD]
    parent = (head_age < 58) & (rng.random(n) < 0.09)
    present[:, PARENT] = parent
    sex[:, PARENT] = np.where(rng.random(n) < 0.7, FEMALE, MALE)
    age[:, PARENT] = np.where(parent, np.minimum(head_age + rng.integers(20, 33, n), 98), 0)
    marital[:, PARENT] = np.where(rng.random(n) < 0.85, _WIDOWED, _MARRIED)

    eldest = age[:, FIRST_CHILD]
    in_law = present[:, FIRST_CHILD] & (eldest >= 20) & (rng.random(n) < 0.3)
    present[:, CHILD_IN_LAW] = in_law
    sex[:, CHILD_IN_LAW] = 1 - sex[:, FIRST_CHILD]
    age[:, CHILD_IN_LAW] = np.where(
        in_law, np.maximum(eldest + np.rint(rng.normal(1, 3, n)).astype(np.int64), 18), 0
    )
    marital[:, CHILD_IN_LAW] = _MARRIED
    marital[:, FIRST_CHILD] = np.where(in_law, _MARRIED, _SINGLE)

    couple_young = np.minimum(eldest, age[:, CHILD_IN_LAW])
    span = np.clip(np.minimum(couple_young - 19, 12) + 1, 0, None)
    grandchildren = np.where(in_law & (span > 0), choice(rng, (35, 40, 25), size=n), 0)
    for offset in range(2):
        slot = FIRST_GRANDCHILD + offset
        has = grandchildren > offset
        present[:, slot] = has
        sex[:, slot] = (rng.random(n) < 0.49).astype(np.int64)
        age[:, slot] = np.where(has, np.floor(rng.random(n) * span).astype(np.int64), 0)

    helper = (families.decile >= 9) & (rng.random(n) < 0.02)
    present[:, HELPER] = helper
    sex[:, HELPER] = np.where(rng.random(n) < 0.8, FEMALE, MALE)
    age[:, HELPER] = np.where(helper, rng.integers(18, 56, n), 0)
    marital[:, HELPER] = np.where(rng.random(n) < 0.6, _SINGLE, _MARRIED)
