"""Cell suppression (``schema.suppression``), without a database.

The central property is checked by an attacker written independently of the
algorithm (``stats_support``): every table of the population is asked for
(every grouping, every region level), each published number is an equation,
and no suppressed cell may be a linear combination of them (exact rational
elimination).
"""

from __future__ import annotations

from collections import defaultdict
from itertools import product
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schema.suppression import Dimension, protect, region_steps, suppress
from schema.suppression import project as coarser
from tests.schema.stats_support import full_grid, project, recoverable, tables_of

Key = tuple[Any, ...]
REGION_LIKE = Dimension("region", (lambda code: code[:1],))
"""Two-character codes under one-character parents (a desa under its kecamatan)."""


@st.composite
def tables(draw: st.DrawFn) -> tuple[dict[Key, int], list[Dimension], int]:
    """Small tables of 1-3 dimensions (the first possibly hierarchical), many small counts."""
    dims: list[Dimension] = []
    domains: list[list[Any]] = []
    for j in range(draw(st.integers(1, 3))):
        if j == 0 and draw(st.booleans()):
            dims.append(REGION_LIKE)
            codes = ["11", "12", "13", "21", "22", "31"]
            domains.append(
                draw(st.lists(st.sampled_from(codes), min_size=1, max_size=5, unique=True))
            )
        else:
            dims.append(Dimension(f"d{j}"))
            domains.append(list(range(draw(st.integers(1, 4)))))
    counts = {
        key: draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3, 4, 6, 9, 15, 40]))
        for key in product(*domains)
    }
    return counts, dims, draw(st.integers(2, 6))


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def nothing_recoverable(counts: dict[Key, int], dims: list[Dimension], k: int) -> bool:
    tables = tables_of(counts, dims, k=k)
    levels = list(tables)
    grid = full_grid(counts, dims)
    return recoverable([tables[lv] for lv in levels], levels=levels, dims=dims, grid=grid) == []


@PROPERTY
@given(tables())
def test_no_suppressed_cell_is_recoverable_from_every_table_of_the_population(
    table: tuple[dict[Key, int], list[Dimension], int],
) -> None:
    counts, dims, k = table
    assert nothing_recoverable(counts, dims, k)
    assert protect(counts, dimensions=dims, k=k).unresolved == []


@PROPERTY
@given(tables())
def test_no_published_count_is_below_k(table: tuple[dict[Key, int], list[Dimension], int]) -> None:
    counts, dims, k = table
    for cells in tables_of(counts, dims, k=k).values():
        for cell in cells.values():
            assert cell.suppressed or cell.count >= k
            assert cell.count > 0 or cell.suppressed


@PROPERTY
@given(tables())
def test_every_line_hides_zero_or_at_least_two_cells_that_sum_to_k(
    table: tuple[dict[Key, int], list[Dimension], int],
) -> None:
    """A line: the cells of a table that differ in one dimension only, and their total
    (a cell of the table one step coarser in that dimension). Cells under a published
    zero are known to be zero and cannot be hidden; a line with one possible cell is its
    total."""
    counts, dims, k = table
    tables = tables_of(counts, dims, k=k)
    grid = full_grid(counts, dims)

    def ups(level: tuple[int, ...]) -> list[tuple[int, ...]]:
        return [
            (*level[:j], g + 1, *level[j + 1 :])
            for j, (dim, g) in enumerate(zip(dims, level, strict=True))
            if g < dim.summed
        ]

    live = {
        level: {
            project(fine, dims, level)
            for fine in grid
            if all(
                project(fine, dims, other) in tables[other] for other in tables if other != level
            )
        }
        for level in tables
    }
    """Per table, the cells not known to be zero from the other tables (counts >= 0)."""

    def possible(level: tuple[int, ...], key: Key) -> bool:
        """Alive, and not the only live cell under a published total (it equals it)."""
        if key not in live[level]:
            return False
        for up in ups(level):
            total = coarser(dims, key, level, up)
            siblings = [c for c in live[level] if coarser(dims, c, level, up) == total]
            published = total in tables[up] and not tables[up][total].suppressed
            if published and len(siblings) == 1:
                return False
        return True

    for level, cells in tables.items():
        for j, dim in enumerate(dims):
            if level[j] == dim.summed:
                continue
            up = (*level[:j], level[j] + 1, *level[j + 1 :])
            lines: dict[Key, set[Key]] = defaultdict(set)
            for key in grid:
                lines[project(key, dims, up)].add(project(key, dims, level))
            for total_key, members in lines.items():
                total = tables[up].get(total_key)
                hidden = [cells[m] for m in members if m in cells and cells[m].suppressed]
                total_hidden = total is not None and total.suppressed
                if sum(possible(level, m) for m in members) >= 2:
                    assert len(hidden) != 1, (level, total_key, hidden)
                    assert not total_hidden or len(hidden) >= 2, (level, total_key)
                if hidden and not total_hidden:
                    assert sum(cell.count for cell in hidden) >= k


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 1)),
        st.sampled_from([0, 0, 1, 2, 3, 5, 8, 15, 40]),
        min_size=1,
    ),
    st.integers(2, 6),
)
def test_three_way_tables_and_all_their_two_way_tables_recover_nothing(
    counts: dict[Key, int], k: int
) -> None:
    """Three two-way tables with zeros can pin a three-way cell on their own."""
    dims = [Dimension("a"), Dimension("b"), Dimension("c")]
    assert nothing_recoverable(counts, dims, k)


def test_a_population_whose_cell_stays_determined_publishes_no_count_at_all() -> None:
    """Found by hypothesis in CI: the finest table published (2, 1, 1) = 2 and (2, 2, 0) = 2
    with every other (2, ·, ·) zero, which pinned the suppressed (a, b) cells (2, 1) and
    (2, 2). When no complement fixes such a cell, nothing nonzero is published."""
    counts = {(0, 0, 0): 1, (0, 2, 0): 1, (1, 0, 0): 2, (2, 1, 1): 2, (2, 2, 0): 2, (3, 0, 1): 2}
    dims = [Dimension("a"), Dimension("b"), Dimension("c")]
    protected = protect(counts, dimensions=dims, k=2)
    assert protected.unresolved
    assert nothing_recoverable(counts, dims, 2)
    for table in tables_of(counts, dims, k=2).values():
        assert all(cell.suppressed for cell in table.values() if cell.count > 0)


def test_two_way_tables_that_pin_a_three_way_cell_are_suppressed_too() -> None:
    """Found by hypothesis: with (0, 0, ·) and (0, ·, 1) zero, the three two-way tables
    give (1, 1, 0) = (b, c)(1, 0) - (a, b)(0, 1) = 16 - 15 = 1."""
    counts = {(0, 0, 0): 0, (0, 0, 1): 0, (0, 1, 0): 15, (0, 1, 1): 0}
    counts |= {(1, 0, 0): 15, (1, 0, 1): 15, (1, 1, 0): 1, (1, 1, 1): 4}
    dims = [Dimension("a"), Dimension("b"), Dimension("c")]
    tables = tables_of(counts, dims, k=2)
    two_way = [(0, 0, 1), (0, 1, 0), (1, 0, 0)]
    assert any(cell.suppressed for level in two_way for cell in tables[level].values())
    assert nothing_recoverable(counts, dims, 2)


def test_k_of_one_publishes_every_count() -> None:
    counts = {("a", 1): 1, ("a", 2): 0, ("b", 1): 7}
    cells = suppress(counts, dimensions=[Dimension("x"), Dimension("y")], k=1)
    assert [(c.key, c.count, c.suppressed) for c in cells] == [
        (("a", 1), 1, False),
        (("b", 1), 7, False),
    ]


def test_the_grand_total_alone_is_suppressed_below_k() -> None:
    assert [c.suppressed for c in suppress({(): 4}, dimensions=[], k=5)] == [True]
    assert [c.suppressed for c in suppress({(): 5}, dimensions=[], k=5)] == [False]


def test_a_lone_small_cell_takes_the_smallest_complement_in_its_line() -> None:
    counts = {("a",): 3, ("b",): 50, ("c",): 8, ("d",): 20}
    cells = {c.key: c for c in suppress(counts, dimensions=[Dimension("x")], k=5)}
    assert [key for key, c in cells.items() if c.suppressed] == [("a",), ("c",)]


def test_complements_in_a_two_way_table_form_a_protected_rectangle() -> None:
    counts = {("r1", "c1"): 2, ("r1", "c2"): 30, ("r1", "c3"): 12}
    counts |= {("r2", "c1"): 25, ("r2", "c2"): 40, ("r2", "c3"): 15}
    dims = [Dimension("row"), Dimension("col")]
    hidden = {c.key for c in suppress(counts, dimensions=dims, k=5) if c.suppressed}
    assert hidden == {("r1", "c1"), ("r1", "c3"), ("r2", "c1"), ("r2", "c3")}


def test_a_zero_is_hidden_when_only_a_zero_can_protect_a_small_cell() -> None:
    """Row and column totals would give (K1, d1) = K1 - d2 if (K2, d2) were known to be 0."""
    counts = {("K1", 1): 3, ("K1", 2): 10, ("K2", 1): 20, ("K2", 2): 0}
    dims = [Dimension("kecamatan"), Dimension("decile")]
    cells = {c.key: c for c in suppress(counts, dimensions=dims, k=5)}
    assert cells[("K2", 2)].suppressed
    assert cells[("K2", 2)].count == 0
    assert nothing_recoverable(counts, dims, 5)


def test_a_non_additive_dimension_protects_each_of_its_values_alone() -> None:
    counts = {("K1", "PKH"): 3, ("K2", "PKH"): 9, ("K3", "PKH"): 40, ("K1", "BPNT"): 30}
    counts |= {("K2", "BPNT"): 2, ("K3", "BPNT"): 50}
    dims = [Dimension("kecamatan"), Dimension("program", additive=False)]
    together = suppress(counts, dimensions=dims, k=5)
    for program in ("PKH", "BPNT"):
        alone = suppress(
            {(kec,): n for (kec, p), n in counts.items() if p == program},
            dimensions=[Dimension("kecamatan")],
            k=5,
        )
        assert [(c.key[0], c.suppressed) for c in together if c.key[1] == program] == [
            (c.key[0], c.suppressed) for c in alone
        ]


def test_the_outcome_does_not_depend_on_the_order_of_the_input() -> None:
    counts = {(r, d): (r * 7 + d * 3) % 11 for r in range(5) for d in range(4)}
    dims = [Dimension("r"), Dimension("d")]
    forward = suppress(counts, dimensions=dims, k=6)
    backward = suppress(dict(reversed(list(counts.items()))), dimensions=dims, k=6)
    assert forward == backward
    assert [c.key for c in forward] == sorted(c.key for c in forward)


def test_region_steps_go_up_to_the_provinsi() -> None:
    steps = region_steps(10)
    code = "3509010001"
    assert [step(code) for step in steps] == ["3509010", "3509", "35"]
    assert region_steps(2) == ()


def test_a_desa_table_is_protected_against_its_kecamatan_and_kabupaten_totals() -> None:
    desa = [f"3509{k:03d}{d:03d}" for k in (10, 20) for d in (1, 2, 3)]
    counts = {
        (code, decile): (int(code[-1]) * 5 + decile * 3) % 9 for code in desa for decile in (1, 2)
    }
    dims = [Dimension("region", region_steps(10)), Dimension("decile")]
    assert protect(counts, dimensions=dims, k=5).unresolved == []
    assert nothing_recoverable(counts, dims, 5)
