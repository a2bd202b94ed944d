"""Disclosure control for ``householdStats``: primary and complementary cell suppression.

A count table of one population (the program's statistics rows under one
filter) is given at its finest grain; a caller may ask for any of its coarser
tables: the same population grouped by fewer dimensions, or by a region at a
coarser level (desa → kecamatan → kabupaten → provinsi). A cell counting
fewer than ``k`` households (but some) is *sensitive* and is suppressed
(primary suppression). The coarser tables are sums of finer ones, so more
cells are suppressed (complementary suppression) until no suppressed cell of
any of those tables can be computed from everything they publish together.

How. The coarser tables form a lattice (``Lattice``), and all of them are
protected in one computation, coarsest first (one table at a time by
``schema.suppression_table``), so every answer over a population is read
from the same protected lattice and answers agree. For one table:

1. Lines. A *line* is a cell of a table one step coarser (the *total*) and
   the cells of this table that add up to it. In every line 0 or at least 2
   cells are suppressed (at least 2 when the total is suppressed too); when
   the total is published, the suppressed cells of the line add up to at
   least ``k`` (their union is no small group either). Complements are the
   smallest cells that reach what is missing.
2. Algebra. Suppressed cells are unknowns; every published cell of every
   coarser table is an equation. Exact elimination (``schema.sparse_basis``)
   checks that (a) no suppressed cell of this table is determined, and (b)
   every way the suppressed cells of each table one step coarser could vary
   still can, given this table's published cells. (b) makes this table add
   nothing about the tables below it; with it, the published cells of *all*
   the tables together determine no suppressed cell. Problems are fixed with
   more complements, to a fixpoint.
3. When a table cannot be fixed with its own cells (the tables below pin one
   of its cells, as three two-way tables with zeros can pin a three-way
   cell), a cell below is suppressed (or a zero complement below is barred)
   and the lattice is protected again from there.

Zeros. An absent cell is a published zero, and cells under a published zero
are zero (counts are not negative): both are known to the caller. A zero cell
is published as suppressed (a complement the caller cannot tell from a small
count) only when no nonzero cell can protect; candidate zeros are the
combinations of values seen in the one-dimensional tables.

Dimensions that are not additive (an assistance program: a household counts
under each program it received, and under none if it received none) have no
total across their values; each value's slice is protected on its own, as
the same population filtered on that value would be.

Fail closed. If, after all of that, a suppressed cell is still determined (a
case property tests found on tiny three-way tables with zeros: the finest
table's published cells pinned a suppressed two-way cell), every nonzero cell
of every table of that population is suppressed, and ``unresolved`` says why.

Limits. The guarantee is exact (linear) recovery within one population.
Bounds are not protected beyond the line rule: with counts known to be
non-negative a caller can bound a suppressed cell (by a published total, or
below by zero). Different populations (another non-dimension filter, another
program's scope) are protected independently and can be differenced.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any

from schema.suppression_table import Dimension, Key, Level, Table, TableProtector, project


@dataclass(frozen=True)
class Cell:
    """One cell of the finest table: ``count`` is the true count, for the caller to hide."""

    key: Key
    count: int
    suppressed: bool


def suppress(counts: Mapping[Key, int], *, dimensions: Sequence[Dimension], k: int) -> list[Cell]:
    """The finest table's cells to publish: nonzero and suppressed ones, ordered by key.

    ``counts`` maps keys (one value per dimension) to household counts; zero
    and absent keys are the same. ``k <= 1`` suppresses nothing.
    """
    return protect(counts, dimensions=dimensions, k=k).cells()


@dataclass(frozen=True)
class Protection:
    """A protected population, as published, and the CPU seconds protecting it took."""

    protected: Protected
    cpu_seconds: float


def protect_measured(
    counts: Mapping[Key, int], dimensions: Sequence[Dimension], k: int
) -> Protection:
    """``protect``, timed by the CPU clock of the process that runs it (a worker of
    ``schema.protection.ProtectionPool``), keeping only what is published."""
    started = time.process_time()
    protected = protect(counts, dimensions=dimensions, k=k).published()
    return Protection(protected, time.process_time() - started)


def protect(counts: Mapping[Key, int], *, dimensions: Sequence[Dimension], k: int) -> Protected:
    """Protect every coarser table of ``counts`` at once (each slice of the non-additive
    dimensions on its own); read any of them with ``Protected.cells(level)``."""
    width = len(dimensions)
    for key in counts:
        if len(key) != width:
            raise ValueError(f"key {key!r} does not have {width} values")
    outcome = Protected(list(dimensions), {key: n for key, n in counts.items() if n > 0}, k)
    if k <= 1:
        return outcome
    slices: dict[Key, dict[Key, int]] = defaultdict(dict)
    for key, n in outcome.counts.items():
        slices[outcome.slice_of(key)][outcome.rest_of(key)] = n
    additive = [dim for dim in dimensions if dim.additive]
    for slice_key in sorted(slices):
        outcome.lattices[slice_key] = Lattice(slices[slice_key], additive, k=k)
    return outcome


@dataclass
class Protected:
    """Every coarser table of one count table, protected together.

    A *level* gives each dimension's granularity: 0 its own values, ``i`` the
    values after ``i`` steps, ``dimension.summed`` summed out. Non-additive
    dimensions are never summed (level 0): each of their values is a slice.
    """

    dimensions: list[Dimension]
    counts: dict[Key, int]
    k: int
    lattices: dict[Key, Lattice | Tables] = field(default_factory=dict)
    """Per slice (values of the non-additive dimensions; ``()`` if none); empty for k <= 1."""

    def published(self) -> Protected:
        """The same outcome holding only the protected tables (small, quick to pickle)."""
        return Protected(
            self.dimensions,
            self.counts,
            self.k,
            {
                slice_key: Tables(dict(lattice.tables), list(lattice.unresolved))
                for slice_key, lattice in self.lattices.items()
            },
        )

    def slice_of(self, key: Key) -> Key:
        return tuple(key[j] for j, dim in enumerate(self.dimensions) if not dim.additive)

    def rest_of(self, key: Key) -> Key:
        if all(dim.additive for dim in self.dimensions):
            return key
        return tuple(key[j] for j, dim in enumerate(self.dimensions) if dim.additive)

    def cells(self, level: Level | None = None) -> list[Cell]:
        """The table at ``level`` (default: the finest): nonzero and suppressed cells by key,
        summed-out dimensions as None."""
        if level is None:
            level = tuple(0 for _ in self.dimensions)
        if any(g and not dim.additive for g, dim in zip(level, self.dimensions, strict=True)):
            raise ValueError("a non-additive dimension cannot be summed out")
        if self.k <= 1:
            totals: dict[Key, int] = defaultdict(int)
            source = tuple(0 for _ in self.dimensions)
            for key, n in self.counts.items():
                totals[project(self.dimensions, key, source, level)] += n
            return sorted((Cell(key, n, False) for key, n in totals.items()), key=_order)
        inner = self.rest_of(level)
        cells: list[Cell] = []
        for slice_key, lattice in self.lattices.items():
            table = lattice.tables[inner]
            for key, n in table.grid.items():
                if n > 0 or key in table.suppressed:
                    slice_values, rest_values = iter(slice_key), iter(key)
                    full = tuple(
                        next(rest_values) if dim.additive else next(slice_values)
                        for dim in self.dimensions
                    )
                    cells.append(Cell(full, n, key in table.suppressed))
        return sorted(cells, key=_order)

    @property
    def unresolved(self) -> list[tuple[Key, Level, Key]]:
        """Suppressed cells that stayed determined, per slice (expected empty)."""
        return [
            (slice_key, level, key)
            for slice_key, lattice in self.lattices.items()
            for level, key in lattice.unresolved
        ]


def _order(cell: Cell) -> tuple[Any, ...]:
    return tuple((value is not None, value) for value in cell.key)


@dataclass
class Tables:
    """What a protected ``Lattice`` publishes: its tables, and the cells that stayed
    determined (expected none)."""

    tables: dict[Level, Table]
    unresolved: list[tuple[Level, Key]]


class Lattice:
    """Every coarser table of one count table (one slice), protected together."""

    def __init__(self, counts: Mapping[Key, int], dimensions: Sequence[Dimension], *, k: int):
        self.dimensions = list(dimensions)
        self.k = k
        self.finest: Level = tuple(0 for _ in self.dimensions)
        ranges = [range(dim.summed + 1) for dim in self.dimensions]
        self.levels: list[Level] = sorted(
            product(*ranges), key=lambda level: (self._fineness(level), level)
        )
        self._below = {level: self._strictly_below(level) for level in self.levels}
        self._cache: dict[tuple[int, int, int], dict[Any, Any]] = defaultdict(dict)
        self._plans: dict[tuple[Level, Level], list[tuple[int, dict[Any, Any], int, int]]] = {}
        self.counts: dict[Level, dict[Key, int]] = {
            self.finest: {key: n for key, n in counts.items() if n > 0}
        }
        for level in reversed(self.levels[:-1]):
            finer = next((*level[:j], g - 1, *level[j + 1 :]) for j, g in enumerate(level) if g > 0)
            totals: dict[Key, int] = defaultdict(int)
            for key, n in self.counts[finer].items():
                totals[self.project(key, finer, level)] += n
            self.counts[level] = totals
        self.extra: dict[Level, set[Key]] = defaultdict(set)
        """Cells suppressed beyond primary and complementary ones because a finer table
        could not be protected otherwise."""
        self.barred: dict[Level, set[Key]] = defaultdict(set)
        """Zero cells a finer table showed to be no protection (known zero there)."""
        self.tables: dict[Level, Table] = {}
        self.unresolved: list[tuple[Level, Key]] = []
        """Suppressed cells that stayed determined after everything was tried (expected
        empty; every nonzero cell of every table was then suppressed)."""
        self._protect_from(0)
        if self.unresolved:
            self._suppress_everything()

    def _suppress_everything(self) -> None:
        """Fail closed: a cell stayed determined (the published cells of a finer table can
        pin a suppressed cell of a coarser one that no complement of its own protects), so
        the population publishes no nonzero count at all, in any table. Known zeros stay
        known; nothing else can be computed."""
        for table in self.tables.values():
            table.suppressed |= {key for key, n in table.grid.items() if n > 0}

    def _protect_from(self, position: int) -> None:
        while position < len(self.levels):
            level = self.levels[position]
            protector = TableProtector(self, level)
            table, problems = protector.run()
            self.tables[level] = table
            if problems:
                changes = protector.push_down(problems)
                for kind, below, key in changes:
                    (self.extra if kind == "suppress" else self.barred)[below].add(key)
                if changes:
                    position = min(self.levels.index(below) for _, below, _ in changes)
                    continue
                table.freedom = protector.close()
            position += 1

    def _fineness(self, level: Level) -> int:
        return sum(dim.summed - g for dim, g in zip(self.dimensions, level, strict=True))

    def _strictly_below(self, level: Level) -> list[Level]:
        return [
            other
            for other in reversed(self.levels)
            if other != level and all(o >= g for o, g in zip(other, level, strict=True))
        ]

    def project(self, key: Key, source: Level, target: Level) -> Key:
        """``key`` of table ``source`` as the key of the coarser table ``target`` (memoised)."""
        plan = self._plans.get((source, target))
        if plan is None:
            plan = self._plans[(source, target)] = [
                (j, self._cache[(j, start, end)], start, end)
                for j, (start, end) in enumerate(zip(source, target, strict=True))
                if start != end
            ]
        if not plan:
            return key
        values = list(key)
        for j, cache, start, end in plan:
            value = values[j]
            if value in cache:
                values[j] = cache[value]
            else:
                coarse = project([self.dimensions[j]], (value,), (start,), (end,))[0]
                values[j] = cache[value] = coarse
        return tuple(values)

    def parents(self, level: Level) -> list[Level]:
        """The tables one step coarser (one dimension coarsened)."""
        return [
            (*level[:j], g + 1, *level[j + 1 :])
            for j, (dim, g) in enumerate(zip(self.dimensions, level, strict=True))
            if g < dim.summed
        ]

    def below(self, level: Level) -> list[Level]:
        """Every strictly coarser table (the level's down-set), nearest first."""
        return self._below[level]


def region_steps(length: int) -> tuple[Callable[[Any], Any], ...]:
    """Steps of a BPS region code of ``length`` digits up to the provinsi (2 digits)."""
    lengths = [n for n in (10, 7, 4, 2) if n < length]
    return tuple(RegionPrefix(n) for n in lengths)


@dataclass(frozen=True)
class RegionPrefix:
    """A region code cut to its first ``length`` digits (a value, so dimensions pickle)."""

    length: int

    def __call__(self, code: Any) -> Any:
        return str(code)[: self.length]


__all__ = [
    "Cell",
    "Dimension",
    "Lattice",
    "Protected",
    "Protection",
    "RegionPrefix",
    "Table",
    "Tables",
    "project",
    "protect",
    "protect_measured",
    "region_steps",
    "suppress",
]
