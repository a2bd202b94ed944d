"""The one SQL statement of ``householdStats``: household counts by desa, decile and sex.

Counts always come at the finest grain disclosure control works on (desa ×
welfare decile × sex of the head, and × assistance program when that is
grouped): every table a caller can ask for is a sum of it, and
``schema.suppression`` protects all of them together. The rows counted are
``policies.statistics_rows`` (the program's statistics scope) under the
filter's SQL part. The statement does not depend on the region level an answer
is keyed by: every level reads the same counts (kept per process and, for a
whole population, in ``statistics_counts``: ``schema.stats_store``), and the
names of the answer's regions are looked up beside them (``REGION_NAMES``).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from sqlalchemy import func, null, select, true
from sqlalchemy.sql import Select, Subquery

from policies import Program, statistics_rows
from schema.compiler.filters import household_predicates
from schema.compiler.statement import CompiledStatement, compile_statement

COLUMNS = ("desa", "decile", "sex", "program", "n")
"""The statement's columns (``program`` is null unless counted by program)."""
REGION_NAMES = "SELECT code, name FROM regions WHERE code = ANY($1::text[])"
"""The names of an answer's regions (codes of one level)."""


def statistics_select(
    program: Program,
    *,
    filter_shape: Sequence[Hashable],
    by_program: bool,
) -> Select[tuple[object, ...]]:
    """``SELECT desa, decile, sex, program, n``: one row per nonzero combination.

    With ``by_program`` a household counts once under each program it
    received (``unnest(received_programs)``) and not at all if it received
    none.
    """
    readable = statistics_rows(program=program, name="h")
    households = readable.table
    keys = [
        households.c.desa_code.label("desa"),
        households.c.welfare_decile.label("decile"),
        households.c.head_sex.label("sex"),
    ]
    source = households
    if by_program:
        received = (
            func.unnest(households.c.received_programs)
            .table_valued("program")
            .render_derived(name="p")
        )
        keys.append(received.c.program.label("program"))
        source = households.join(received, true())
    counted = (
        select(*keys, func.count().label("n"))
        .select_from(source)
        .where(readable.predicate, *household_predicates(filter_shape, households))
        .group_by(*(key.element for key in keys))
        .subquery("c")
    )
    return finest_counts(counted, by_program=by_program)


def finest_counts(counted: Subquery, *, by_program: bool) -> Select[tuple[object, ...]]:
    """``COLUMNS`` of counts by ``desa, decile, sex`` (and ``program``)."""
    program_column = counted.c.program if by_program else null()
    columns = [counted.c.desa, counted.c.decile, counted.c.sex, program_column.label("program")]
    return select(*columns, counted.c.n)


def statistics_statement(
    program: Program, *, filter_shape: Sequence[Hashable], by_program: bool
) -> CompiledStatement:
    statement = statistics_select(program, filter_shape=filter_shape, by_program=by_program)
    return compile_statement(statement, frozenset())
