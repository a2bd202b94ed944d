"""Vectorised sampling helpers shared by the synthetic generators.

Most coded variables depend on a household's welfare decile. Each is given
by two distributions, one for the poorest families and one for the
well-off; a family in decile ``d`` draws from their mixture weighted by
``POVERTY[d]``, which falls steeply after decile 3, so that poverty markers
(earth floors, no toilet, firewood) concentrate in deciles 1-3 as in the
real registry.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]

POVERTY: Floats = np.array([1.0, 0.75, 0.55, 0.3, 0.2, 0.12, 0.08, 0.05, 0.03, 0.02])
"""Weight of the "poorest" distribution for deciles 1..10 (index 0 is decile 1)."""


def normalised(weights: Sequence[float]) -> Floats:
    array = np.asarray(weights, dtype=np.float64)
    result: Floats = array / array.sum()
    return result


def categorical(rng: np.random.Generator, probabilities: Floats) -> Ints:
    """One category per row of ``probabilities`` (rows × categories, each row summing to 1)."""
    cumulative = np.cumsum(probabilities, axis=-1)
    draws = rng.random(size=(len(probabilities), 1))
    codes = (draws >= cumulative).sum(axis=1)
    result: Ints = np.minimum(codes, probabilities.shape[1] - 1).astype(np.int64)
    return result


def by_decile(decile: Ints, *, poor: Sequence[float], rich: Sequence[float]) -> Floats:
    """Per-row category probabilities: the mixture of ``poor`` and ``rich`` for each decile."""
    weight = POVERTY[decile - 1][:, None]
    return weight * normalised(poor)[None, :] + (1 - weight) * normalised(rich)[None, :]


def decile_categorical(
    rng: np.random.Generator, decile: Ints, *, poor: Sequence[float], rich: Sequence[float]
) -> Ints:
    """Category codes drawn from the decile mixture of ``poor`` and ``rich``."""
    return categorical(rng, by_decile(decile, poor=poor, rich=rich))


def decile_flag(rng: np.random.Generator, decile: Ints, *, poor: float, rich: float) -> Bools:
    """True with probability ``poor`` in the poorest families, ``rich`` among the well-off."""
    weight = POVERTY[decile - 1]
    return rng.random(len(decile)) < weight * poor + (1 - weight) * rich


def choice(rng: np.random.Generator, weights: Sequence[float], *, size: int) -> Ints:
    """``size`` codes drawn from one fixed distribution."""
    return rng.choice(len(weights), size=size, p=normalised(weights)).astype(np.int64)


def group_rank(keys: Ints) -> tuple[Ints, Ints, Ints]:
    """Rank of each row among the rows with the same key (0-based, in row order).

    Also returns the distinct keys and their counts, so callers can keep
    running counters per key across chunks.
    """
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    positions = np.arange(len(ordered))
    first = np.ones(len(ordered), dtype=np.bool_)
    first[1:] = ordered[1:] != ordered[:-1]
    starts = np.maximum.accumulate(np.where(first, positions, 0))
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order] = positions - starts
    boundaries = np.flatnonzero(first)
    counts = np.diff(np.append(boundaries, len(ordered)))
    return rank, ordered[boundaries], counts
