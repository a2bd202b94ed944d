"""``assistanceOverlap``: households reached by several programs, under disclosure control.

The population is the program's statistics scope (``policies.statistics_rows``, as for
``householdStats``) restricted to households that the agencies' assistance reports
(``reportAssistance``) name under two or more distinct assistance programs (PKH and BPNT,
PKH and PEMDA …). Counted at the same finest grain as ``householdStats`` and protected by
the very same machinery (``schema.stats.HouseholdStatsRoot``: k-suppression with
complementary suppression across every table of the population), so a suppressed cell
cannot be recovered from row or column totals. With ``ASSISTANCE_PROGRAM`` grouped, a
household counts under each program that reached it.

The reports of every program are read through one ``SECURITY DEFINER`` function
(``regsosek_reported_programs()``, migration 0009) that yields only (household, program)
pairs, aggregated here before anything leaves.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from sqlalchemy import BigInteger, Text, column, func, select
from sqlalchemy.sql import Select

from policies import Program, statistics_rows
from schema.compiler.filters import household_predicates
from schema.compiler.statement import CompiledStatement, compile_statement
from schema.compiler.statistics import finest_counts
from schema.documents import BoundedCache
from schema.stats import HouseholdStatsRoot, StatsPlan

MINIMUM_PROGRAMS = 2
"""A household is in the overlap when at least this many programs reached it."""


def _reported(name: str) -> Any:
    return (
        func.regsosek_reported_programs()
        .table_valued(column("household_id", BigInteger), column("assistance_program", Text))
        .render_derived(name=name)
    )


def overlap_select(
    program: Program,
    *,
    filter_shape: Sequence[Hashable],
    by_program: bool,
) -> Select[tuple[object, ...]]:
    """``SELECT desa, decile, sex, program, n`` over the overlap population."""
    readable = statistics_rows(program=program, name="h")
    households = readable.table
    reached = _reported("rp")
    several = (
        select(reached.c.household_id)
        .group_by(reached.c.household_id)
        .having(func.count(reached.c.assistance_program.distinct()) >= MINIMUM_PROGRAMS)
        .subquery("several")
    )
    keys = [
        households.c.desa_code.label("desa"),
        households.c.welfare_decile.label("decile"),
        households.c.head_sex.label("sex"),
    ]
    source = households.join(several, several.c.household_id == households.c.id)
    if by_program:
        each = _reported("each")
        keys.append(each.c.assistance_program.label("program"))
        source = source.join(each, each.c.household_id == households.c.id)
    counted = (
        select(*keys, func.count(households.c.id.distinct()).label("n"))
        .select_from(source)
        .where(readable.predicate, *household_predicates(filter_shape, households))
        .group_by(*(key.element for key in keys))
        .subquery("c")
    )
    return finest_counts(counted, by_program=by_program)


class AssistanceOverlapRoot(HouseholdStatsRoot):
    """The ``assistanceOverlap`` root: ``householdStats``' planning, counting and protection
    over the overlap population (its own protected populations)."""

    counts_follow_releases = False
    """Assistance reports arrive between releases: every request counts them again."""

    def _statement(self, program: Program, plan: StatsPlan) -> CompiledStatement:
        entry = self._statements.get(program.name)
        if entry is None or entry[0] is not program:
            entry = self._statements[program.name] = (program, BoundedCache(256))
        cache = entry[1]
        key = ("overlap", plan.by_program, plan.sql.key())
        statement = cache.get(key)
        if statement is None:
            select_ = overlap_select(
                program,
                filter_shape=plan.sql.shape,
                by_program=plan.by_program,
            )
            statement = cache.put(key, compile_statement(select_, frozenset()))
        return statement
