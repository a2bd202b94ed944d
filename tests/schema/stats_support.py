"""An attacker's view of disclosure-controlled tables, with exact rational arithmetic.

Independent of ``schema.suppression``'s own algebra: the attacker asks for
every table of the same population (each grouping, each region level), takes
each published count (and each absent cell as a published zero) as a linear
equation over the cells of the finest grid, and asks whether any suppressed
cell of any of those tables is a linear combination of the equations.
Gaussian elimination over ``fractions.Fraction``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from fractions import Fraction
from itertools import product
from typing import Any

from schema.suppression import Cell, Dimension, protect

Key = tuple[Any, ...]
Level = tuple[int, ...]


def project(key: Key, dims: Sequence[Dimension], level: Level) -> Key:
    """A key of the finest grid as a key of the table at ``level``."""
    values = []
    for value, dim, g in zip(key, dims, level, strict=True):
        for step in range(g):
            value = dim.steps[step](value) if step < len(dim.steps) else None
        values.append(value)
    return tuple(values)


def levels_of(dims: Sequence[Dimension]) -> list[Level]:
    """Every table a caller can ask for (non-additive dimensions are never summed)."""
    return list(product(*(range(d.summed + 1) if d.additive else (0,) for d in dims)))


def tables_of(
    counts: Mapping[Key, int], dims: Sequence[Dimension], *, k: int
) -> dict[Level, dict[Key, Cell]]:
    """What a caller gets for each table: nonzero and suppressed cells, by key."""
    protected = protect(counts, dimensions=dims, k=k)
    return {level: {cell.key: cell for cell in protected.cells(level)} for level in levels_of(dims)}


class Span:
    """Row space of rational vectors, kept in reduced row echelon form."""

    def __init__(self) -> None:
        self.rows: dict[int, dict[int, Fraction]] = {}

    def reduce(self, vector: Mapping[int, Fraction]) -> dict[int, Fraction]:
        result = {c: Fraction(a) for c, a in vector.items() if a}
        for pivot in [c for c in result if c in self.rows]:
            factor = result.pop(pivot)
            for column, a in self.rows[pivot].items():
                if column != pivot:
                    value = result.get(column, Fraction(0)) - factor * a
                    if value:
                        result[column] = value
                    else:
                        result.pop(column, None)
        return result

    def add(self, vector: Mapping[int, Fraction]) -> None:
        reduced = self.reduce(vector)
        if not reduced:
            return
        pivot = min(reduced)
        row = {c: a / reduced[pivot] for c, a in reduced.items()}
        for other in self.rows.values():
            factor = other.pop(pivot, None)
            if factor:
                for column, a in row.items():
                    if column != pivot:
                        value = other.get(column, Fraction(0)) - factor * a
                        if value:
                            other[column] = value
                        else:
                            other.pop(column, None)
        self.rows[pivot] = row

    def contains(self, vector: Mapping[int, Fraction]) -> bool:
        return not self.reduce(vector)


def recoverable(
    published: Sequence[Mapping[Key, Cell]],
    *,
    levels: Sequence[Level],
    dims: Sequence[Dimension],
    grid: Sequence[Key],
) -> list[tuple[Level, Key]]:
    """The suppressed cells (of any of the ``published`` tables) determined by all of them.

    ``grid`` is the finest grid (every combination of the values seen);
    ``published[i]`` is the table a query at ``levels[i]`` returned. Each key
    of a table's domain that is not suppressed is an equation: its count, or
    0 when absent.
    """
    index = {key: i for i, key in enumerate(grid)}
    span = Span()
    suppressed: list[tuple[Level, Key, dict[int, Fraction]]] = []
    for level, table in zip(levels, published, strict=True):
        members: dict[Key, dict[int, Fraction]] = defaultdict(dict)
        for key in grid:
            members[project(key, dims, level)][index[key]] = Fraction(1)
        for key, row in members.items():
            cell = table.get(key)
            if cell is not None and cell.suppressed:
                suppressed.append((level, key, row))
            else:
                span.add(row)
    return [(level, key) for level, key, row in suppressed if span.contains(row)]


def full_grid(counts: Mapping[Key, int], dims: Sequence[Dimension]) -> list[Key]:
    values = [sorted({key[j] for key, n in counts.items() if n > 0}) for j in range(len(dims))]
    return list(product(*values))
