"""Exact linear algebra on sparse vectors, for the disclosure checks of ``schema.suppression``.

Arithmetic is modulo the Mersenne prime 2^61 - 1 rather than over the
rationals: no fractions grow, and a vector of small integers lies in the
rational span of others exactly when it does modulo the prime, except when
the prime divides one of the determinants involved (for 0/1 matrices of a few
thousand rows, a chance below 10^-14). The tests check the results again
with ``fractions.Fraction``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

MODULUS = (1 << 61) - 1


class Basis:
    """A reduced row echelon basis of sparse vectors over GF(MODULUS).

    Each row is 1 at its pivot and 0 at every other pivot column, so a unit
    vector lies in the span exactly when its column is a pivot whose row has
    no other entry. Negative columns are *tags*, never pivots: give each added
    vector its own tag, and a row's (or a dependent vector's) tags say which
    added vectors it combines.
    """

    def __init__(self) -> None:
        self.rows: dict[int, dict[int, int]] = {}
        self.holders: dict[int, set[int]] = defaultdict(set)
        """Column → pivots of the rows holding it (outside their pivot)."""

    @property
    def rank(self) -> int:
        return len(self.rows)

    def reduce(self, vector: Mapping[int, int]) -> dict[int, int]:
        """``vector`` minus its component in the span (0 at every pivot column)."""
        result = {c: a % MODULUS for c, a in vector.items() if a % MODULUS}
        for pivot in [c for c in result if c in self.rows]:
            factor = result.pop(pivot)
            for column, a in self.rows[pivot].items():
                if column == pivot:
                    continue
                value = (result.get(column, 0) - factor * a) % MODULUS
                if value:
                    result[column] = value
                else:
                    result.pop(column, None)
        return result

    def add(self, vector: Mapping[int, int]) -> bool:
        """Add ``vector``; False when it was already in the span (tags aside)."""
        return self.absorb(vector) is None

    def absorb(self, vector: Mapping[int, int]) -> dict[int, int] | None:
        """Add ``vector`` (None); or, when it is already in the span, what is left of it:
        only tags, the combination of tagged vectors that is zero."""
        reduced = self.reduce(vector)
        columns = [c for c in reduced if c >= 0]
        if not columns:
            return reduced
        pivot = min(columns, key=lambda c: (len(self.holders.get(c, ())), c))
        inverse = pow(reduced[pivot], MODULUS - 2, MODULUS)
        row = {c: a * inverse % MODULUS for c, a in reduced.items()}
        for holder in sorted(self.holders.pop(pivot, set())):
            target = self.rows[holder]
            factor = target.pop(pivot)
            for column, a in row.items():
                if column == pivot:
                    continue
                value = (target.get(column, 0) - factor * a) % MODULUS
                if value:
                    if column not in target:
                        self.holders[column].add(holder)
                    target[column] = value
                elif column in target:
                    del target[column]
                    self.holders[column].discard(holder)
        self.rows[pivot] = row
        for column in row:
            if column != pivot:
                self.holders[column].add(pivot)
        return None

    def is_unit(self, column: int) -> bool:
        """Whether the unit vector of ``column`` lies in the span (tags aside)."""
        row = self.rows.get(column)
        return row is not None and all(c == column or c < 0 for c in row)

    def contains(self, vector: Mapping[int, int]) -> bool:
        return all(c < 0 for c in self.reduce(vector))


def tag(index: int) -> int:
    """The tag column of the ``index``-th tagged vector."""
    return -1 - index


def tagged(tags: Mapping[int, int]) -> list[int]:
    """Indices of the tagged vectors in a combination."""
    return sorted(-1 - c for c in tags if c < 0)
