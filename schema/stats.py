"""``householdStats``: household counts under disclosure control (CONTRACT §5, §6).

Who may group by what. A dimension reveals a field of every household it
counts, so a program may group by it only when it reads that field in FULL,
exactly as for the filter on the same field: regions need
``Household.region``, WELFARE_DECILE ``Household.welfareDecile``, HEAD_SEX
``Household.members`` with ``Person.sex`` and ``Person.relationshipToHead``
(as ``womanHeaded``), ASSISTANCE_PROGRAM ``Household.assistance`` with
``Assistance.program`` (as ``receivesProgram``); anything else is FORBIDDEN.
A *statistics-only* program (no household or person rows at all, such as
``bappeda-statistik``) has counts as its whole purpose: it may group by every
dimension and filter on the dimensions' fields (region, decile, assistance
program, woman-headed), never on anything else; its protection is disclosure
control with its ``k``.

How. One SQL statement counts the statistics rows at the finest grain
(``schema.compiler.statistics``; a count that filters the population takes
the program's turn in the database, ``schema.stats_count``; a program's whole
population is counted and protected once for every process, ``schema.stats_store``);
``schema.suppression`` protects every table of that population at once, in a
worker process (``schema.protection``); the answer is the requested table
read from it.
With ``k > 1`` the filters on dimensions (region, decile, woman-headed) select
cells of that table rather than rows, so a filtered answer is a part of an
unfiltered one and cannot be differenced against it; ``receivesProgram`` is a
slice of the ASSISTANCE_PROGRAM dimension, protected on its own either way.
Filters that are no dimension (``hasMemberAgedUnder``, ``updatedSince``)
change the population; they could be differenced (N against N + 1 years), so
they are accepted with ``k > 1`` only when the program may read every counted
row anyway (its statistics scope is its row scope).

ASSISTANCE_PROGRAM counts a household under each program it received (and
not at all if it received none), so its cells do not add up to a household
total.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import asyncpg
import orjson

from errors import BadInput, Forbidden
from policies import FieldMode, Program
from schema.compiler.filters import PlannedFilter, plan_household_filter
from schema.compiler.statement import CompiledStatement
from schema.compiler.statistics import REGION_NAMES, statistics_statement
from schema.documents import BoundedCache
from schema.execute import Caller, Reader
from schema.protection import (
    CACHED_POPULATIONS,
    Admission,
    InlineProtector,
    Populations,
    Protector,
    StatisticsBudget,
    Unmetered,
)
from schema.stats_count import count, registry_version
from schema.stats_store import (
    CountKey,
    Row,
    SharedCounts,
    Stored,
    count_key,
    decode_protected,
    protection_tag,
    statement_arguments,
)
from schema.suppression import Cell, Dimension, Protected, protect, region_steps

REGION_LENGTHS = {"PROVINSI": 2, "KABUPATEN": 4, "KECAMATAN": 7, "DESA": 10}
REGION_GRANULARITY = {10: 0, 7: 1, 4: 2, 2: 3, None: 4}
"""Steps from a desa code up to a code of this length (None: summed out)."""
DIMENSION_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    **{level: (("Household", "region"),) for level in REGION_LENGTHS},
    "WELFARE_DECILE": (("Household", "welfareDecile"),),
    "HEAD_SEX": (("Household", "members"), ("Person", "sex"), ("Person", "relationshipToHead")),
    "ASSISTANCE_PROGRAM": (("Household", "assistance"), ("Assistance", "program")),
}
"""The fields a dimension reveals (the same the filter on it needs)."""
DIMENSION_FILTERS = {"region", "decile", "woman_headed"}
"""Filter tokens that select cells of the table (with k > 1)."""
ROW_FILTERS = {"aged_under", "updated_since"}
"""Filter tokens that change the population and are no dimension."""
UNIVERSE = (
    Dimension("region", region_steps(10)),
    Dimension("decile"),
    Dimension("sex"),
)
BY_PROGRAM = (*UNIVERSE, Dimension("program", additive=False))


@dataclass(frozen=True)
class StatsPlan:
    """A checked ``householdStats`` request: what to count, what to read, what to return."""

    k: int
    grouped: tuple[str, ...]
    by_program: bool
    region: int | None
    """Length of the answer's region codes (None: not grouped by region)."""
    by_decile: bool
    by_sex: bool
    sql: PlannedFilter
    """The filter's part applied to rows in SQL."""
    table_region: int | None
    """Length of the region codes of the table read (finer of answer and filter)."""
    region_prefix: str | None = None
    deciles: tuple[int, int] | None = None
    head_sex: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def level(self) -> tuple[int, ...]:
        """The table to read from the protected lattice."""
        table_decile = self.by_decile or self.deciles is not None
        table_sex = self.by_sex or self.head_sex is not None
        level = (
            REGION_GRANULARITY[self.table_region],
            0 if table_decile else 1,
            0 if table_sex else 1,
        )
        return (*level, 0) if self.by_program else level

    def selects(self, region: str | None, decile: int | None, sex: str | None) -> bool:
        if self.region_prefix is not None and not (region or "").startswith(self.region_prefix):
            return False
        if self.deciles is not None and not self.deciles[0] <= (decile or 0) <= self.deciles[1]:
            return False
        return self.head_sex is None or sex == self.head_sex


def statistics_only(program: Program) -> bool:
    """No rows at all: the program's agreement is its statistics."""
    return program.household_scope is None and program.person_scope is None


def plan_statistics(args: Mapping[str, Any], program: Program) -> StatsPlan:
    """Check ``groupBy`` and ``filter`` (BAD_USER_INPUT, FORBIDDEN) and plan the answer."""
    names = [getattr(item, "value", item) for item in args.get("groupBy") or ()]
    if len(set(names)) != len(names):
        raise BadInput("`groupBy` names a dimension twice.")
    if any(name not in DIMENSION_FIELDS for name in names):
        raise BadInput("`groupBy` names an unknown dimension.")
    regions = [name for name in names if name in REGION_LENGTHS]
    if len(regions) > 1:
        raise BadInput("`groupBy` may name one region level only.")
    reader = _filter_reader(program)
    for name in names:
        if not all(reader.mode(t, f) is FieldMode.FULL for t, f in DIMENSION_FIELDS[name]):
            raise Forbidden(f"Your program may not group statistics by `{name}`.")
    planned = plan_household_filter(args.get("filter"), reader)
    tokens = [token for token in planned.shape if isinstance(token, tuple)]
    k = max(1, program.k_min)
    row_filters = [token for token in tokens if token[0] in ROW_FILTERS]
    if k > 1 and row_filters and program.statistics_scope != program.household_scope:
        raise Forbidden("Your program may filter statistics only on their dimensions.")
    region = REGION_LENGTHS[regions[0]] if regions else None
    selection: dict[str, Any] = {}
    sql_shape = list(planned.shape)
    if k > 1:
        sql_shape = [t for t in tokens if t[0] not in DIMENSION_FILTERS]
        selection = _selection(tokens, planned.params)
    prefix = selection.get("region_prefix")
    table_region = max((n for n in (region, prefix and len(prefix)) if n), default=None)
    return StatsPlan(
        k=k,
        grouped=tuple(names),
        by_program="ASSISTANCE_PROGRAM" in names,
        region=region,
        by_decile="WELFARE_DECILE" in names,
        by_sex="HEAD_SEX" in names,
        sql=PlannedFilter(shape=sql_shape, params=planned.params),
        table_region=table_region,
        params=planned.params,
        **selection,
    )


@lru_cache(maxsize=64)
def _filter_reader(program: Program) -> Program:
    """The program as filter planning sees it: a statistics-only program reads every
    dimension's fields (and nothing else)."""
    if not statistics_only(program):
        return program
    fields = {name: dict(modes) for name, modes in program.fields.items()}
    for pairs in DIMENSION_FIELDS.values():
        for type_name, field_name in pairs:
            fields.setdefault(type_name, {})[field_name] = FieldMode.FULL
    frozen = {name: MappingProxyType(modes) for name, modes in fields.items()}
    return replace(program, fields=MappingProxyType(frozen))


def _selection(tokens: list[tuple[Any, ...]], params: Mapping[str, Any]) -> dict[str, Any]:
    selection: dict[str, Any] = {}
    low, high = 1, 10
    for token in tokens:
        if token[0] == "region":
            selection["region_prefix"] = params["q_region"]
        elif token[0] == "decile":
            if token[1] == "ge":
                low = max(low, params["q_decile_ge"])
            else:
                high = min(high, params["q_decile_le"])
            selection["deciles"] = (low, high)
        elif token[0] == "woman_headed":
            selection["head_sex"] = "FEMALE" if token[1] else "MALE"
    if selection.get("deciles") == (1, 10):
        del selection["deciles"]
    return selection


@dataclass(frozen=True, slots=True)
class Counted:
    """A population's counts at the finest grain and what is kept with them."""

    counts: dict[tuple[Any, ...], int]
    population: bytes
    """The population's ``population_key`` (computed with the counts; empty when k is 1)."""
    stored_as: CountKey | None = None
    """Where the population is stored for every process (a whole population, with
    ``shared``); None when it is not."""
    names: dict[int, dict[str, str]] = field(default_factory=dict)
    """The names of the regions counted, by code length (looked up once per level)."""
    tables: dict[tuple[int, ...], list[Cell]] = field(default_factory=dict)
    """With k = 1: the tables read so far, by level (nothing is protected, the sums are kept)."""


CACHED_COUNTS = 64
"""Populations whose counts a program keeps (a few hundred kB each at 1,000,000 households)."""


class HouseholdStatsRoot:
    """The ``householdStats`` root field (a ``schema.execute.ValueRoot``).

    Counts are kept per program, keyed by the statement, its arguments and the
    registry's version (``schema.stats_count.registry_version``): a request asked
    before against the same releases on the same day is answered without counting.
    With ``shared``, a program's whole population is also read from, or stored in,
    ``statistics_counts`` (``schema.stats_store``): counted once for every process.
    Protected populations are kept per program, keyed by a fingerprint of the
    population itself (``population_key``): two requests whose filters differ but
    count the same households share one protection. A new population is protected
    by ``protector`` in one of the program's turns, and its CPU time charged to the
    client's budget (``schema.protection.Populations``).
    """

    counts_follow_releases = True
    """Whether what the statement counts changes only in releases (then counts are kept)."""

    def __init__(
        self,
        *,
        reader: Reader | None = None,
        protector: Protector | None = None,
        budget: StatisticsBudget | None = None,
        admission: Admission | None = None,
        cached_populations: int = CACHED_POPULATIONS,
        shared: SharedCounts | None = None,
    ) -> None:
        self.reader = reader
        self.shared = shared
        self.needs_database = reader is None
        """With a ``reader`` the root counts in a read transaction of its own, closed before
        the protection starts (no snapshot held open for seconds); without, it counts in the
        transaction of the connection it is given."""
        self.populations = Populations(
            protector=protector or InlineProtector(),
            budget=budget or Unmetered(),
            admission=admission or Admission(),
            cached=cached_populations,
        )
        self._statements: dict[str, tuple[Program, BoundedCache[Any, CompiledStatement]]] = {}
        self._counts: dict[str, tuple[Program, BoundedCache[Any, Counted]]] = {}

    async def value(
        self, *, caller: Caller, args: Mapping[str, Any], connection: asyncpg.Connection | None
    ) -> list[dict[str, Any]]:
        plan = plan_statistics(args, caller.program)
        statement = self._statement(caller.program, plan)
        if connection is not None:
            counted, names, counted_here = await self._counted_and_named(
                connection, statement, plan, caller.program
            )
        elif self.reader is not None:
            async with self.reader.transaction(caller.program.name) as own:
                counted, names, counted_here = await self._counted_and_named(
                    own, statement, plan, caller.program
                )
        else:
            raise RuntimeError("householdStats needs a read transaction or a reader")
        if counted_here is not None and counted.stored_as is not None and self.shared is not None:
            await self.shared.save(counted.stored_as, counted_here)  # after the read transaction
        return _answer(await self._cells(counted, plan, caller), names=names, plan=plan)

    async def _counted_and_named(
        self,
        connection: asyncpg.Connection,
        statement: CompiledStatement,
        plan: StatsPlan,
        program: Program,
    ) -> tuple[Counted, Mapping[str, str], list[Row] | None]:
        counted, counted_here = await self._counted(connection, statement, plan, program)
        return counted, await _names(connection, counted, plan.region), counted_here

    async def _counted(
        self,
        connection: asyncpg.Connection,
        statement: CompiledStatement,
        plan: StatsPlan,
        program: Program,
    ) -> tuple[Counted, list[Row] | None]:
        """The population's counts at the finest grain: from the program's cache when the
        registry and the day are those they were counted on (``registry_version``), else
        for a whole population from ``statistics_counts`` (with its protection, when one is
        stored for exactly these counts), else counted. Also the rows, if counted here."""
        cache, key, stored_as, stored = None, None, None, None
        if self.counts_follow_releases:
            entry = self._counts.get(program.name)
            if entry is None or entry[0] is not program:
                entry = self._counts[program.name] = (program, BoundedCache(CACHED_COUNTS))
            cache = entry[1]
            arguments = statement_arguments(statement, plan.params)
            version = await registry_version(connection)
            key = (statement.sql, arguments, version)
            found = cache.get(key)
            if found is not None:
                return found, None
            if self.shared is not None and not plan.sql.shape:
                stored_as = count_key(program.name, statement, arguments, version)
                stored = await self.shared.load(connection, stored_as)
        counted_here = None
        if stored is None:
            rows = counted_here = [
                tuple(row)
                for row in await count(
                    connection,
                    statement,
                    params=plan.params,
                    program=program,
                    filtered=bool(plan.sql.shape),
                )
            ]
        else:
            rows = stored.rows
        counts = counts_of(rows, plan)
        population = (
            population_key(counts, k=plan.k, by_program=plan.by_program) if plan.k > 1 else b""
        )
        if stored is not None and plan.k > 1:
            self._keep_stored(program, plan, counts, population, stored)
        counted = Counted(counts, population, stored_as)
        return (counted if cache is None else cache.put(key, counted)), counted_here

    def _keep_stored(
        self,
        program: Program,
        plan: StatsPlan,
        counts: dict[tuple[Any, ...], int],
        population: bytes,
        stored: Stored,
    ) -> None:
        """Keep the stored protection if it was made for exactly this population by this
        suppression code."""
        if stored.protected is None or stored.protected_for != protection_tag(population):
            return
        if self.populations.find(program.name, population) is not None:
            return
        dimensions = BY_PROGRAM if plan.by_program else UNIVERSE
        protected = decode_protected(
            stored.protected, counts=counts, dimensions=dimensions, k=plan.k
        )
        if protected is not None:
            self.populations.keep(program.name, population, protected)

    def _statement(self, program: Program, plan: StatsPlan) -> CompiledStatement:
        entry = self._statements.get(program.name)
        if entry is None or entry[0] is not program:
            entry = self._statements[program.name] = (program, BoundedCache(256))
        cache = entry[1]
        key = (plan.by_program, plan.sql.key())
        statement = cache.get(key)
        if statement is None:
            statement = cache.put(
                key,
                statistics_statement(
                    program, filter_shape=plan.sql.shape, by_program=plan.by_program
                ),
            )
        return statement

    async def _cells(self, counted: Counted, plan: StatsPlan, caller: Caller) -> list[Cell]:
        """The table at the plan's level: with k = 1 (nothing to protect) summed once per
        population and level and kept with the counts, else read from the protection."""
        if plan.k > 1:
            return (await self._protect(counted, plan, caller)).cells(plan.level)
        cells = counted.tables.get(plan.level)
        if cells is None:
            dimensions = BY_PROGRAM if plan.by_program else UNIVERSE
            plain = protect(counted.counts, dimensions=dimensions, k=plan.k)
            cells = counted.tables[plan.level] = plain.cells(plan.level)
        return cells

    async def _protect(self, counted: Counted, plan: StatsPlan, caller: Caller) -> Protected:
        dimensions = BY_PROGRAM if plan.by_program else UNIVERSE
        known = self.populations.find(caller.program.name, counted.population)
        if known is not None:
            return known
        protected = await self.populations.protected(
            counted.counts,
            caller=caller,
            dimensions=dimensions,
            k=plan.k,
            key=counted.population,
        )
        if counted.stored_as is not None and self.shared is not None:
            await self.shared.save_protection(counted.stored_as, counted.population, protected)
        return protected


def population_key(counts: Mapping[tuple[Any, ...], int], *, k: int, by_program: bool) -> bytes:
    """A fingerprint of a population: its counts at the finest grain, ``k`` and the dimensions."""
    canonical = orjson.dumps([k, by_program, sorted(counts.items())])
    return hashlib.sha256(canonical).digest()


def counts_of(rows: Sequence[Row], plan: StatsPlan) -> dict[tuple[Any, ...], int]:
    """Counts by the finest grain's key (with the program only when counted by program)."""
    counts: dict[tuple[Any, ...], int] = {}
    for desa, decile, sex, program, n in rows:
        counts[(desa, decile, sex, program) if plan.by_program else (desa, decile, sex)] = n
    return counts


async def _names(
    connection: asyncpg.Connection, counted: Counted, length: int | None
) -> Mapping[str, str]:
    """The names of the counted regions at code ``length`` (none without a region level),
    looked up once per population and level."""
    if length is None:
        return {}
    names = counted.names.get(length)
    if names is None:
        codes = sorted({key[0][:length] for key in counted.counts if key[0]})
        rows = await connection.fetch(REGION_NAMES, codes) if codes else []
        names = counted.names[length] = {code: name for code, name in rows}
    return names


def _answer(
    cells: list[Cell], *, names: Mapping[str, str], plan: StatsPlan
) -> list[dict[str, Any]]:
    merged: dict[tuple[Any, ...], tuple[int, bool]] = {}
    for cell in cells:
        region, decile, sex = cell.key[:3]
        if not plan.selects(region, decile, sex):
            continue
        key = (
            region[: plan.region] if plan.region is not None and region else None,
            decile if plan.by_decile else None,
            sex if plan.by_sex else None,
            cell.key[3] if plan.by_program else None,
        )
        total, hidden = merged.get(key, (0, False))
        merged[key] = (total + cell.count, hidden or cell.suppressed)
    if not merged and not plan.grouped:
        merged[(None, None, None, None)] = (0, False)
    return [
        _cell(key, names=names, count=count, suppressed=suppressed)
        for key, (count, suppressed) in sorted(merged.items(), key=_order)
    ]


def _order(item: tuple[tuple[Any, ...], Any]) -> tuple[Any, ...]:
    return tuple((value is not None, value) for value in item[0])


def _cell(
    key: tuple[Any, ...], *, names: Mapping[str, str], count: int, suppressed: bool
) -> dict[str, Any]:
    region, decile, sex, program = key
    return {
        "key": {
            "regionCode": region,
            "regionName": names.get(region) if region is not None else None,
            "welfareDecile": decile,
            "headSex": sex,
            "assistanceProgram": program,
        },
        "count": None if suppressed else count,
        "suppressed": suppressed,
    }
