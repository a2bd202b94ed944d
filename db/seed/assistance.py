"""Assistance receipts (r501): which families received which program, in which months.

Targeting follows the registry: the probability of receiving each program
falls sharply after decile 4 (with a little inclusion error above it). A
recipient family receives in ``months`` months of the year before the
enumeration (October 2021 - September 2022), evenly spaced by ``stride``
(PKH is paid quarterly).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from db.enums import AssistanceProgram
from db.seed.households import Households
from db.seed.sampling import Ints

WINDOW_START = (2021, 10)
WINDOW_MONTHS = 12


@dataclass(frozen=True)
class Targeting:
    by_decile: tuple[float, ...]
    """Probability that a family of decile 1..10 receives the program."""
    months: tuple[int, int]
    """Least and most months received."""
    stride: int = 1


TARGETING: dict[AssistanceProgram, Targeting] = {
    AssistanceProgram.BPNT: Targeting(
        (0.62, 0.55, 0.45, 0.35, 0.10, 0.06, 0.04, 0.03, 0.02, 0.01), (3, 12)
    ),
    AssistanceProgram.PKH: Targeting(
        (0.40, 0.33, 0.25, 0.15, 0.04, 0.02, 0.01, 0.01, 0.0, 0.0), (1, 4), stride=3
    ),
    AssistanceProgram.BLT_DESA: Targeting(
        (0.25, 0.20, 0.15, 0.10, 0.04, 0.02, 0.01, 0.0, 0.0, 0.0), (3, 9)
    ),
    AssistanceProgram.ELECTRICITY_SUBSIDY: Targeting(
        (0.50, 0.45, 0.40, 0.35, 0.12, 0.08, 0.04, 0.02, 0.01, 0.01), (12, 12)
    ),
    AssistanceProgram.PEMDA: Targeting(
        (0.08, 0.06, 0.05, 0.04, 0.01, 0.01, 0.0, 0.0, 0.0, 0.0), (1, 3), stride=4
    ),
    AssistanceProgram.FERTILISER_SUBSIDY: Targeting(
        (0.15, 0.15, 0.14, 0.12, 0.06, 0.04, 0.03, 0.02, 0.01, 0.01), (1, 2), stride=6
    ),
    AssistanceProgram.LPG_SUBSIDY: Targeting(
        (0.20, 0.18, 0.16, 0.14, 0.05, 0.03, 0.02, 0.01, 0.01, 0.0), (6, 12)
    ),
}

PROGRAMS = list(TARGETING)
"""The programs the seed draws, in enum order: r501's seven. ``PBI_JKN`` (reported by
programs, never a registry receipt) is not drawn, so the seed stays what it was."""
assert list(AssistanceProgram)[: len(PROGRAMS)] == PROGRAMS, "receipt codes index the enum"
_SUBSIDISED_WATTAGE = (0, 1)
"""450 VA and 900 VA: the connections the electricity subsidy is for."""


@dataclass(frozen=True)
class Receipts:
    """Receipts of one chunk, ordered by family, program, then month."""

    household: Ints
    program: Ints
    year: Ints
    month: Ints
    programs_mask: Ints
    """Per family: bit ``i`` set when it received ``PROGRAMS[i]``."""

    def __len__(self) -> int:
        return len(self.household)


def draw_receipts(rng: np.random.Generator, families: Households) -> Receipts:
    n = len(families)
    households: list[Ints] = []
    programs: list[Ints] = []
    months: list[Ints] = []
    mask = np.zeros(n, dtype=np.int64)
    rural = ~families.town
    subsidised = np.isin(families.electricity_wattage, _SUBSIDISED_WATTAGE)
    for code, name in enumerate(PROGRAMS):
        rule = TARGETING[name]
        chance = np.asarray(rule.by_decile)[families.decile - 1]
        if name is AssistanceProgram.ELECTRICITY_SUBSIDY:
            chance = chance * subsidised
        if name is AssistanceProgram.FERTILISER_SUBSIDY:
            chance = chance * rural
        recipients = np.flatnonzero(rng.random(n) < chance)
        low, high = rule.months
        count = rng.integers(low, high + 1, len(recipients))
        latest_start = WINDOW_MONTHS - 1 - rule.stride * (count - 1)
        start = np.floor(rng.random(len(recipients)) * (latest_start + 1)).astype(np.int64)
        total = int(count.sum())
        step = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
        households.append(np.repeat(recipients, count))
        programs.append(np.full(total, code, dtype=np.int64))
        months.append(np.repeat(start, count) + rule.stride * step)
        mask[recipients] |= 1 << code
    household = np.concatenate(households)
    program = np.concatenate(programs)
    offset = np.concatenate(months)
    order = np.lexsort((offset, program, household))
    absolute = WINDOW_START[0] * 12 + WINDOW_START[1] - 1 + offset[order]
    return Receipts(
        household=household[order],
        program=program[order],
        year=absolute // 12,
        month=absolute % 12 + 1,
        programs_mask=mask,
    )
