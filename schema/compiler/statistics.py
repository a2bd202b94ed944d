"""The one SQL statement of ``householdStats``: household counts by desa, decile and sex.

Counts always come at the finest grain disclosure control works on (desa ×
welfare decile × sex of the head, and × assistance program when that is
grouped): every table a caller can ask for is a sum of it, and
``schema.suppression`` protects all of them together. The rows counted are
``policies.statistics_rows`` (the program's statistics scope) under the
filter's SQL part; each row also carries the name of its region at the level
the answer is keyed by.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from sqlalchemy import Integer, func, literal, null, select, true
from sqlalchemy.sql import Select, Subquery

from db.models import Region
from policies import Program, statistics_rows
from schema.compiler.filters import household_predicates
from schema.compiler.statement import CompiledStatement, compile_statement

COLUMNS = ("desa", "decile", "sex", "program", "n", "name")
"""The statement's columns (``program`` is null unless counted by program)."""


def statistics_select(
    program: Program,
    *,
    filter_shape: Sequence[Hashable],
    by_program: bool,
    name_length: int | None,
) -> Select[tuple[object, ...]]:
    """``SELECT desa, decile, sex, program, n, name``: one row per nonzero combination.

    With ``by_program`` a household counts once under each program it
    received (``unnest(received_programs)``) and not at all if it received
    none. ``name_length``: the length of the region codes the answer is keyed
    by (2, 4, 7, 10), whose names are joined; None for no region.
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
    return named_counts(counted, by_program=by_program, name_length=name_length)


def named_counts(
    counted: Subquery, *, by_program: bool, name_length: int | None
) -> Select[tuple[object, ...]]:
    """``COLUMNS`` of counts by ``desa, decile, sex`` (and ``program``), with the name of each
    count's region at ``name_length``."""
    program_column = counted.c.program if by_program else null()
    columns = [counted.c.desa, counted.c.decile, counted.c.sex, program_column.label("program")]
    if name_length is None:
        return select(*columns, counted.c.n, null().label("name"))
    regions = Region.__table__.alias("r")
    prefix = func.left(counted.c.desa, literal(name_length, Integer))
    return select(*columns, counted.c.n, regions.c.name.label("name")).select_from(
        counted.outerjoin(regions, regions.c.code == prefix)
    )


def statistics_statement(
    program: Program,
    *,
    filter_shape: Sequence[Hashable],
    by_program: bool,
    name_length: int | None,
) -> CompiledStatement:
    statement = statistics_select(
        program, filter_shape=filter_shape, by_program=by_program, name_length=name_length
    )
    return compile_statement(statement, frozenset())
