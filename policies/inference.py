"""No combination of the fields a program reads may undo one of its masks (CONTRACT §6).

For each field a program reads MASKED or PSEUDONYM, ``db.facts`` says which
facts the field's full value is made of, and what the mask shows of them (a
masked NIK shows its region and serial blocks; a pseudonym shows nothing).
Everything else the program reads shows parts of those facts too: a full
birth date and the sex are the NIK's birth block. The number of values the
hidden part can still take, given all of it, is the number of *candidates
left*; under ``MIN_CANDIDATES`` the policy is refused, naming the fields that
undo the mask (``policies.loader`` runs this check on every load, so neither
``regsosek policy check`` nor a server accepts such a policy).

How candidates are counted. An opaque fact (a region block, a serial) is shown
whole (1 candidate) or not at all (its number of values). A birth is counted
exactly: every (day, sex) of the 100 years before a reference day is a value;
the program cannot tell two values apart when every part it reads (date,
year, sex, age that day) agrees; a value's candidates are the distinct full
values (what the masked field would show unmasked) among those it cannot
tell from it. The figure is the median over all values (the typical person)
on the worst of twelve reference days (the 1st of each month: the year and
the age together narrow most in mid-year), multiplied over the hidden facts.

What is not counted (see docs/inference.md): a field that tells something
about a few rows only (``pregnant``), repeated reads over time (the day
``age`` goes up is the birthday), the row scope, other programs' answers. A
pseudonym is a per-program token whose key the program never holds: counting
its candidates says how far the program's other fields narrow the value
behind it, not whether the person can be re-identified (with a full name and
address they can; the pseudonym still hides the NIK).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from db.catalog import CATALOG
from db.facts import ALL, FACTS, View, views
from policies.model import FieldMode, Program

MIN_CANDIDATES = 100
"""Fewest candidates a masked or pseudonymised value may keep for a program."""
REFERENCE_DAYS = tuple(date(2025, month, 1) for month in range(1, 13))
"""Days a birth's age is computed on (the count does not depend on the day the check runs)."""
CENTURY_YEARS = 100

Column = npt.NDArray[np.int64]


@dataclass(frozen=True, order=True)
class Reading:
    """How a program reads one field: ``how`` is FULL, PSEUDONYM or the mask's name."""

    type_name: str
    field_name: str
    mode: FieldMode
    how: str

    def __str__(self) -> str:
        mode = f"MASKED ({self.how})" if self.mode is FieldMode.MASKED else self.mode.value
        return f"{self.type_name}.{self.field_name} {mode}"

    def views(self) -> tuple[View, ...]:
        return views(self.type_name, self.field_name, self.how)

    def full_views(self) -> tuple[View, ...]:
        return views(self.type_name, self.field_name, FieldMode.FULL.value)


@dataclass(frozen=True)
class MaskStrength:
    """How well one masked or pseudonymised field holds against the program's other fields."""

    field: Reading
    candidates: int
    narrowed_by: tuple[Reading, ...]
    """Other fields that show a part of what the mask hides."""
    undone_by: tuple[Reading, ...]
    """The fields that bring the candidates under ``MIN_CANDIDATES`` (empty when it holds)."""

    @property
    def holds(self) -> bool:
        return self.candidates >= MIN_CANDIDATES

    def reason(self, program: str) -> str:
        """The complaint ``regsosek policy check`` prints for a mask that does not hold."""
        left = f"{self.candidates:,} candidate{'' if self.candidates == 1 else 's'} left"
        if self.undone_by:
            by = " + ".join(str(reading) for reading in self.undone_by)
            return f"{program}: {self.field} is undone by {by}: {left} (needs >= {MIN_CANDIDATES})"
        return f"{program}: {self.field} shows too much by itself: {left}"


def readings(program: Program) -> list[Reading]:
    """Every field the program reads, with how it reads it."""
    found = []
    for type_name, modes in program.fields.items():
        for field_name, mode in modes.items():
            how = mode.value
            if mode is FieldMode.MASKED:
                mask = CATALOG[type_name].attributes[field_name].mask
                how = mask.value if mask is not None else how
            found.append(Reading(type_name, field_name, mode, how))
    return sorted(found)


def mask_strengths(program: Program) -> list[MaskStrength]:
    """Every MASKED or PSEUDONYM field of the program whose facts ``db.facts`` describes."""
    everything = readings(program)
    strengths = []
    for target in everything:
        if target.mode not in (FieldMode.MASKED, FieldMode.PSEUDONYM) or not target.full_views():
            continue
        others = [reading for reading in everything if reading != target]
        narrowing = _narrowing(target, others)
        left = candidates(target, narrowing)
        undone = _undoing(target, narrowing, left) if left < MIN_CANDIDATES else ()
        strengths.append(MaskStrength(target, left, tuple(narrowing), undone))
    return strengths


def undone_masks(program: Program) -> list[MaskStrength]:
    """The program's masks and pseudonyms that its other fields undo."""
    return [strength for strength in mask_strengths(program) if not strength.holds]


def candidates(target: Reading, others: Iterable[Reading]) -> int:
    """Values the hidden part of ``target`` can still take for a reader of ``others``."""
    shown = {view.fact: view.part for view in target.views()}
    observed: dict[str, set[str]] = {}
    for reading in others:
        for view in reading.views():
            observed.setdefault(view.fact, set()).add(view.part)
    total = 1
    for view in target.full_views():
        parts = set(observed.get(view.fact, ()))
        if view.fact in shown:
            parts.add(shown[view.fact])
        total *= fact_candidates(view.fact, view.part, frozenset(parts))
    return total


def _hidden_facts(target: Reading) -> set[str]:
    shown = {view.fact for view in target.views() if view.part == ALL}
    return {view.fact for view in target.full_views()} - shown


def _narrowing(target: Reading, others: Sequence[Reading]) -> list[Reading]:
    hidden = _hidden_facts(target)
    return [reading for reading in others if any(v.fact in hidden for v in reading.views())]


def _undoing(target: Reading, narrowing: list[Reading], left: int) -> tuple[Reading, ...]:
    """A smallest set of ``narrowing`` that leaves exactly ``left`` candidates.

    Fields are dropped while the count stays the same: inferences first (a name
    for the sex, when the sex itself is read), then the fields that tell least
    on their own, so that what is named is the values themselves.
    """

    def order(reading: Reading) -> tuple[bool, int, Reading]:
        inferred = all(view.inferred for view in reading.views())
        return (not inferred, -candidates(target, [reading]), reading)

    kept = list(narrowing)
    for reading in sorted(narrowing, key=order):
        rest = [other for other in kept if other != reading]
        if candidates(target, rest) == left:
            kept = rest
    return tuple(kept)


@lru_cache(maxsize=1024)
def fact_candidates(fact_name: str, target: str, observed: frozenset[str]) -> int:
    """Candidates of the ``target`` part of a fact when the ``observed`` parts are known."""
    fact = FACTS[fact_name]
    if fact.values is not None:
        return 1 if ALL in observed or target in observed else fact.values
    days = REFERENCE_DAYS if "age" in observed else REFERENCE_DAYS[:1]
    return min(_birth_candidates(day, target, observed) for day in days)


def _birth_candidates(reference: date, target: str, observed: frozenset[str]) -> int:
    """The median, over every value, of the distinct ``target`` parts among the values that
    agree with it on every ``observed`` part.

    Values are grouped by their observed parts (the combined key itself when its range is
    small, else its rank: one sort); a group's count is its number of distinct target
    parts (its size when the target is the whole value, which no two values share); every
    value counts its group's figure once. Sorts and ``bincount`` only: ``np.unique``
    without an inverse hashes, many times slower on these 73,000 rows.
    """
    parts = birth_parts(reference)
    size = len(parts[ALL])
    groups: Column = np.zeros(size, dtype=np.int64)
    group_count = 1
    for name in sorted(observed):
        column = parts[name]
        groups = groups * (int(column.max()) + 1) + column
        group_count *= int(column.max()) + 1
    if group_count > SMALL_KEY_RANGE * size:
        _, inverse = np.unique(groups, return_inverse=True)
        groups = inverse.astype(np.int64).reshape(size)
        group_count = int(groups.max()) + 1
    if target == ALL:
        distinct = np.bincount(groups, minlength=group_count)
    else:
        wanted = parts[target]
        width = int(wanted.max()) + 1
        pairs = np.sort(groups * width + wanted)
        first = np.ones(size, dtype=bool)
        first[1:] = pairs[1:] != pairs[:-1]
        distinct = np.bincount(pairs[first] // width, minlength=group_count)
    return int(np.median(distinct[groups]))


SMALL_KEY_RANGE = 4
"""Keys ranging over at most this many times the rows count groups directly (no ranking)."""


@lru_cache(maxsize=16)
def birth_parts(reference: date) -> dict[str, Column]:
    """Every (day, sex) of the century before ``reference``, by part: each value's
    ``all`` (day and sex), ``date``, ``year``, ``sex`` (1 female) and ``age`` that day
    (full years, as PostgreSQL's ``age()`` counts them)."""
    first = reference.replace(year=reference.year - CENTURY_YEARS) + timedelta(days=1)
    calendar = _calendar(reference.year)
    start = (first - calendar.first).days
    stop = (reference - calendar.first).days + 1
    count = stop - start
    index = np.repeat(np.arange(count, dtype=np.int64), 2)
    sex = np.tile(np.array([0, 1], dtype=np.int64), count)
    year = np.repeat(calendar.year[start:stop], 2)
    month = np.repeat(calendar.month[start:stop], 2)
    day = np.repeat(calendar.day[start:stop], 2)
    passed = (month < reference.month) | ((month == reference.month) & (day <= reference.day))
    age = reference.year - year - (~passed).astype(np.int64)
    return {
        ALL: index * 2 + sex,
        "date": index,
        "year": year - int(year.min()),
        "sex": sex,
        "age": age,
    }


@dataclass(frozen=True)
class Calendar:
    """Year, month and day of every day from ``first`` on (one row per day)."""

    first: date
    year: Column
    month: Column
    day: Column


@lru_cache(maxsize=4)
def _calendar(last_year: int) -> Calendar:
    """Every day from 1 January a century and a year before ``last_year`` to its 31 December:
    the days of every ``birth_parts`` whose reference falls in ``last_year``, computed once."""
    first = date(last_year - CENTURY_YEARS - 1, 1, 1)
    days = np.arange(np.datetime64(first), np.datetime64(date(last_year, 12, 31)) + 1)
    month_start = days.astype("datetime64[M]")
    return Calendar(
        first=first,
        year=days.astype("datetime64[Y]").astype(np.int64) + 1970,
        month=month_start.astype(np.int64) % 12 + 1,
        day=(days - month_start).astype(np.int64) + 1,
    )
