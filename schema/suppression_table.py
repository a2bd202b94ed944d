"""Protecting one table of the lattice (``schema.suppression.Lattice``), the coarser
ones being done: the grid of possible cells, the line rules, the algebra, and what to
change below when the table cannot be protected with its own cells.

See ``schema.suppression`` for the rules and the guarantee. A *level* gives
each dimension's granularity (0: its own values; ``i``: after ``i`` steps;
``summed``: summed out).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from typing import TYPE_CHECKING, Any

from schema.sparse_basis import Basis, tag, tagged

if TYPE_CHECKING:
    from schema.suppression import Lattice

Key = tuple[Any, ...]
Level = tuple[int, ...]


@dataclass(frozen=True)
class Dimension:
    """A grouping dimension.

    ``steps[i]`` maps a value at granularity ``i`` to granularity ``i + 1``
    (a desa code to its kecamatan's, …); past the last step the dimension is
    summed out. ``additive=False``: values overlap (no total across them).
    """

    name: str
    steps: tuple[Callable[[Any], Any], ...] = ()
    additive: bool = True

    @property
    def summed(self) -> int:
        """The granularity index meaning "summed out"."""
        return len(self.steps) + 1


def project(dimensions: Sequence[Dimension], key: Key, source: Level, target: Level) -> Key:
    """``key`` of the table at ``source`` as a key of the coarser table at ``target``."""
    values = []
    for dim, value, start, end in zip(dimensions, key, source, target, strict=True):
        for g in range(start, end):
            value = dim.steps[g](value) if g < len(dim.steps) else None
        values.append(value)
    return tuple(values)


@dataclass
class Table:
    """One table of the lattice once protected.

    ``grid`` holds every cell that may be nonzero as far as the coarser
    tables tell (its parents are nonzero or suppressed), with its count.
    ``freedom`` is the dimension of the ways the suppressed cells can vary
    without changing anything published in this table or below it.
    """

    level: Level
    grid: dict[Key, int]
    suppressed: set[Key]
    freedom: int = 0

    def alive(self, key: Key) -> bool:
        return self.grid.get(key, 0) > 0 or key in self.suppressed

    def published(self) -> dict[Key, int]:
        """Published nonzero cells (zeros are published by absence)."""
        return {key: n for key, n in self.grid.items() if n > 0 and key not in self.suppressed}


@dataclass(frozen=True)
class Problem:
    """What a table could not fix with its own cells.

    ``determined``: a suppressed cell of this table (``level``) is determined.
    ``pinned``: a combination (``keys`` with ``weights``) of suppressed cells of the
    parent table ``level`` no longer varies. ``short``: the line under the published
    cell ``keys[0]`` of the parent table ``level`` hides less than k and has no cell
    left that could make up for it.
    """

    level: Level
    keys: tuple[Key, ...]
    weights: tuple[int, ...] = (1,)
    kind: str = "pinned"


class TableProtector:
    """Protects one table of a lattice, the coarser ones being done."""

    def __init__(self, lattice: Lattice, level: Level) -> None:
        self.lattice = lattice
        self.level = level
        self.k = lattice.k
        self.tables = lattice.tables
        self.parents = lattice.parents(level)
        self.below = lattice.below(level)
        self.grid = self._grid()
        self.keys = sorted(self.grid)
        self.barred = lattice.barred.get(level, set())
        extra = lattice.extra.get(level, set())
        self.suppressed = {k for k in self.keys if 0 < self.grid[k] < self.k or k in extra}
        self._groups: dict[Level, dict[Key, list[Key]]] = {}
        self._forced: set[Key] | None = None

    def run(self) -> tuple[Table, list[Problem]]:
        """The protected table; and the problems its own cells could not fix."""
        table = Table(self.level, self.grid, self.suppressed)
        if not self.suppressed and not any(self.tables[p].suppressed for p in self.parents):
            return table, []
        while True:
            short = self._line_rules()
            if short:
                return table, short
            problems, rank = self._check()
            table.freedom = len(self.suppressed) - rank
            if not problems:
                return table, []
            fixes = {problem: self._fix(problem) for problem in problems}
            added = {pick for pick in fixes.values() if pick is not None}
            if not added:
                return table, problems
            self.suppressed |= added

    def close(self) -> int:
        """Fail closed: suppress every cell that can be; record what stays determined."""
        self.suppressed |= {key for key in self.keys if key not in self.forced}
        problems, rank = self._check()
        self.lattice.unresolved += [(p.level, key) for p in problems for key in p.keys]
        return len(self.suppressed) - rank

    def push_down(self, problems: list[Problem]) -> list[tuple[str, Level, Key]]:
        """Changes below that let ``problems`` be fixed: bar the zero complements of a
        parent that this table knows to be zero; else, per problem, suppress the smallest
        published cell whose equation pins it."""
        short = {("suppress", p.level, p.keys[0]) for p in problems if p.kind == "short"}
        if short:
            return sorted(short)
        bars = {
            ("bar", problem.level, key)
            for problem in problems
            if problem.level != self.level
            for key in problem.keys
            if self.tables[problem.level].grid.get(key, 0) == 0
        }
        if bars:
            return sorted(bars)
        index, equations = self._equations()
        traced = Basis()
        for number, (_, _, row) in enumerate(equations):
            traced.add({**row, tag(number): 1})
        changes: set[tuple[str, Level, Key]] = set()
        for problem in problems:
            combined: dict[int, int] = defaultdict(int)
            for key, weight in zip(problem.keys, problem.weights, strict=True):
                members = [key] if problem.level == self.level else self.group(problem.level, key)
                for member in members:
                    if member in index:
                        combined[index[member]] += weight
            options = [
                (self.tables[level].grid[total], self.below.index(level), level, total)
                for level, total, _ in (
                    equations[number] for number in tagged(traced.reduce(combined))
                )
            ]
            if options:
                _, _, level, total = min(options)
                changes.add(("suppress", level, total))
        return sorted(changes)

    # -- the grid -----------------------------------------------------------

    def _grid(self) -> dict[Key, int]:
        """Nonzero cells, and (with two dimensions or more) zero cells under live parents."""
        lattice, level = self.lattice, self.level
        grid = {key: n for key, n in lattice.counts[level].items() if n > 0}
        dims = lattice.dimensions
        open_dims = [j for j, g in enumerate(level) if g < dims[j].summed]
        if len(open_dims) < 2:
            return grid
        values: list[list[Any]] = []
        for j, g in enumerate(level):
            if j not in open_dims:
                values.append([None])
                continue
            alone = tuple(g if i == j else dim.summed for i, dim in enumerate(dims))
            values.append(sorted({key[j] for key, n in lattice.counts[alone].items() if n > 0}))
        for key in product(*values):
            if key not in grid and all(
                self.tables[parent].alive(lattice.project(key, level, parent))
                for parent in self.parents
            ):
                grid[key] = 0
        return grid

    def groups(self, other: Level) -> dict[Key, list[Key]]:
        """This table's cells grouped by the cell of the coarser table ``other`` they sum to."""
        if other not in self._groups:
            grouped: dict[Key, list[Key]] = defaultdict(list)
            for key in self.keys:
                grouped[self.lattice.project(key, self.level, other)].append(key)
            self._groups[other] = grouped
        return self._groups[other]

    def group(self, other: Level, total: Key) -> list[Key]:
        return self.groups(other).get(total, [])

    @property
    def forced(self) -> set[Key]:
        """Cells equal to a published parent cell (its only cell here): suppressing them
        protects nothing."""
        if self._forced is None:
            self._forced = set()
            for parent in self.parents:
                hidden = self.tables[parent].suppressed
                for total, members in self.groups(parent).items():
                    if len(members) == 1 and total not in hidden:
                        self._forced.add(members[0])
        return self._forced

    # -- step 1: lines --------------------------------------------------------

    def _line_rules(self) -> list[Problem]:
        """Every line hides 0 or at least 2 of its cells (at least 2 when its total is
        hidden); hidden cells of a line with a published total sum to at least k. Lines are
        visited in key order, again whenever one of their cells is newly suppressed.
        Returns the lines whose sum cannot be made up with this table's cells."""
        pending: list[tuple[int, Key]] = []
        for n, parent in enumerate(self.parents):
            groups = self.groups(parent)
            touched = {self.lattice.project(key, self.level, parent) for key in self.suppressed}
            touched |= {total for total in self.tables[parent].suppressed if total in groups}
            pending += [(n, total) for total in touched if total in groups]
        heapq.heapify(pending)
        stuck: list[Problem] = []
        while pending:
            n, total = heapq.heappop(pending)
            parent = self.parents[n]
            members = self.groups(parent)[total]
            hidden = [m for m in members if m in self.suppressed]
            total_hidden = total in self.tables[parent].suppressed
            amount = sum(self.grid[m] for m in hidden)
            short = not total_hidden and bool(hidden) and amount < self.k
            if short:
                pick = self._choose(members, needed=self.k - amount, zeros=False)
                if pick is None:
                    stuck.append(Problem(parent, (total,), kind="short"))
                    continue
            elif len(hidden) == 1 or (total_hidden and not hidden):
                pick = self._choose(members, needed=0)
                if pick is None:
                    continue
            else:
                continue
            self.suppressed.add(pick)
            for m, other in enumerate(self.parents):
                heapq.heappush(pending, (m, self.lattice.project(pick, self.level, other)))
        return sorted(set(stuck), key=lambda p: (self.parents.index(p.level), p.keys))

    def _choose(self, members: Iterable[Key], *, needed: int, zeros: bool = True) -> Key | None:
        """The complement: the smallest cell reaching ``needed``, else the largest; zeros last
        (and not at all with ``zeros=False``)."""
        free = [
            m
            for m in members
            if m not in self.suppressed and m not in self.forced and m not in self.barred
        ]
        nonzero = sorted((self.grid[m], m) for m in free if self.grid[m] > 0)
        if nonzero:
            for n, key in nonzero:
                if n >= needed:
                    return key
            return nonzero[-1][1]
        empty = sorted(m for m in free if self.grid[m] == 0) if zeros else []
        return empty[0] if empty else None

    def _fix(self, problem: Problem) -> Key | None:
        if problem.level == self.level:
            return self._complement_for(problem.keys[0])
        members = [m for key in problem.keys for m in self.group(problem.level, key)]
        return self._choose(members, needed=0)

    def _complement_for(self, key: Key) -> Key | None:
        """A cell sharing the nearest published total with the determined cell ``key``."""
        for other in self.below:
            total = self.lattice.project(key, self.level, other)
            if total not in self.tables[other].suppressed:
                pick = self._choose(self.group(other, total), needed=0)
                if pick is not None:
                    return pick
        return None

    # -- step 2: algebra ------------------------------------------------------

    def _equations(self) -> tuple[dict[Key, int], list[tuple[Level, Key, dict[int, int]]]]:
        """The suppressed cells numbered; one equation per published coarser cell over the
        suppressed cells under it, shortest first.

        A cell of a table that is not a parent is left out when some parent holds only
        published cells under it: its equation is then the sum of theirs.
        """
        lattice = self.lattice
        index = {key: i for i, key in enumerate(sorted(self.suppressed))}
        marks: dict[Level, list[set[Key]]] = defaultdict(list)
        for parent in self.parents:
            hidden = self.tables[parent].suppressed
            for other in lattice.below(parent):
                marks[other].append({lattice.project(q, parent, other) for q in hidden})
        rows: dict[tuple[Level, Key], dict[int, int]] = {}
        for key, i in index.items():
            for other in self.below:
                total = lattice.project(key, self.level, other)
                if total in self.tables[other].suppressed:
                    continue
                if other not in self.parents and not all(total in m for m in marks[other]):
                    continue
                rows.setdefault((other, total), {})[i] = 1
        order = {other: n for n, other in enumerate(self.below)}
        equations = sorted(
            ((other, total, row) for (other, total), row in rows.items()),
            key=lambda e: (len(e[2]), order[e[0]], e[1]),
        )
        return index, equations

    def _check(self) -> tuple[list[Problem], int]:
        """Determined suppressed cells, and combinations of a parent's suppressed cells that
        this table pins but the parent's own equations do not; and the equations' rank."""
        index, equations = self._equations()
        basis = Basis()
        for _, _, row in equations:
            basis.add(row)
        problems = [
            Problem(self.level, (key,))
            for key in sorted(self.suppressed)
            if basis.is_unit(index[key])
        ]
        for parent in self.parents:
            below = self.tables[parent]
            if below.freedom:
                problems += self._pinned(parent, basis, index)
        return problems, basis.rank

    def _pinned(self, parent: Level, basis: Basis, index: Mapping[Key, int]) -> list[Problem]:
        """Combinations of ``parent``'s suppressed cells that no longer vary."""
        below = self.tables[parent]
        hidden = sorted(below.suppressed)
        images = Basis()
        dependencies: list[dict[int, int]] = []
        for i, total in enumerate(hidden):
            row = basis.reduce({index[m]: 1 for m in self.group(parent, total) if m in index})
            row[tag(i)] = 1
            rest = images.absorb(row)
            if rest is not None:
                dependencies.append(rest)
        if images.rank >= below.freedom:
            return []
        own = self._own(parent, hidden)
        problems = []
        for rest in dependencies:
            combination = {i: rest[tag(i)] for i in tagged(rest)}
            if not own.contains(combination):
                keys = tuple(hidden[i] for i in combination)
                problems.append(Problem(parent, keys, tuple(combination.values())))
        return problems

    def _own(self, parent: Level, hidden: Sequence[Key]) -> Basis:
        """The parent's own equations over its suppressed cells (numbered as in ``hidden``)."""
        lattice = self.lattice
        rows: dict[tuple[Level, Key], dict[int, int]] = {}
        for i, key in enumerate(hidden):
            for other in lattice.below(parent):
                total = lattice.project(key, parent, other)
                if total not in self.tables[other].suppressed:
                    rows.setdefault((other, total), {})[i] = 1
        own = Basis()
        for row in sorted(rows.values(), key=len):
            own.add(row)
        return own
