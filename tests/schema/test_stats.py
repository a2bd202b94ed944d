"""``householdStats`` through the running gateway, against plain SQL over the seeded registry.

Clients and tokens are real (``bearer``); the counts are checked against SQL
run as the owner; disclosure control is checked by the attacker of
``stats_support`` over the answers of every coarser query.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from functools import cache
from itertools import product
from types import MappingProxyType
from typing import Any

import asyncpg
import httpx
import pytest

from db.engine import APP_ROLE, with_user
from errors import BadInput, Forbidden
from policies import FieldMode, Program, load_policies
from policies.conditions import RegionPrefix
from policies.loader import PACKAGED_POLICY_DIR
from schema.execute import Caller
from schema.stats import HouseholdStatsRoot, plan_statistics
from schema.suppression import Cell, Dimension, project, region_steps
from tests.schema.conftest import error_codes, gql
from tests.schema.stats_support import recoverable

Bearer = Callable[[str], Awaitable[dict[str, str]]]
Key = tuple[Any, ...]
QUERY = """query($by: [HouseholdDimension!]!, $filter: HouseholdFilter) {
  householdStats(groupBy: $by, filter: $filter) {
    key { regionCode regionName welfareDecile headSex assistanceProgram }
    count suppressed
  }
}"""
REGION_SQL = {"PROVINSI": "provinsi_code", "KABUPATEN": "kabupaten_code"}
REGION_SQL |= {"KECAMATAN": "kecamatan_code", "DESA": "desa_code"}
KEY_SQL = {**REGION_SQL, "WELFARE_DECILE": "welfare_decile", "HEAD_SEX": "head_sex::text"}
KEY_FIELD = {name: "regionCode" for name in REGION_SQL}
KEY_FIELD |= {"WELFARE_DECILE": "welfareDecile", "HEAD_SEX": "headSex"}


async def stats(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    by: list[str],
    filter_: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    status, body = await gql(http, headers, QUERY, {"by": by, "filter": filter_})
    assert status == 200, body
    assert "errors" not in body, body
    cells: list[dict[str, Any]] = body["data"]["householdStats"]
    return cells


def keyed(cells: list[dict[str, Any]], by: list[str]) -> dict[Key, dict[str, Any]]:
    return {tuple(cell["key"][KEY_FIELD[name]] for name in by): cell for cell in cells}


@pytest.fixture
async def owner_sql(registry_url: str) -> AsyncIterator[Callable[..., Awaitable[list[Any]]]]:
    connection = await asyncpg.connect(registry_url)

    async def fetch(sql: str, *args: Any) -> list[Any]:
        return list(await connection.fetch(sql, *args))

    yield fetch
    await connection.close()


async def plain_counts(
    owner_sql: Callable[..., Awaitable[list[Any]]], by: list[str], where: str = "true"
) -> dict[Key, int]:
    columns = ", ".join(KEY_SQL[name] for name in by) or "1"
    rows = await owner_sql(
        f"SELECT {columns}, count(*) FROM households WHERE {where} GROUP BY {columns}"
    )
    return {tuple(row[: len(by)]): row[-1] for row in rows}


# -- counts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "by",
    [
        ["KECAMATAN", "WELFARE_DECILE"],
        ["WELFARE_DECILE", "KECAMATAN"],
        ["DESA", "HEAD_SEX"],
        ["PROVINSI"],
        ["KABUPATEN", "HEAD_SEX", "WELFARE_DECILE"],
        [],
    ],
)
async def test_bps_admin_counts_equal_plain_sql(
    http: httpx.AsyncClient, bearer: Bearer, owner_sql: Any, by: list[str]
) -> None:
    cells = await stats(http, await bearer("bps-admin"), by)
    assert not any(cell["suppressed"] for cell in cells)
    answered = {key: cell["count"] for key, cell in keyed(cells, by).items()}
    expected = await plain_counts(owner_sql, by)
    assert answered == expected


async def test_region_names_are_the_names_of_the_regions_table(
    http: httpx.AsyncClient, bearer: Bearer, owner_sql: Any
) -> None:
    cells = await stats(http, await bearer("bps-admin"), ["KECAMATAN"])
    names = {row[0]: row[1] for row in await owner_sql("SELECT code, name FROM regions")}
    assert cells
    for cell in cells:
        assert cell["key"]["regionName"] == names[cell["key"]["regionCode"]]
        assert cell["key"]["welfareDecile"] is None
        assert cell["key"]["assistanceProgram"] is None


async def test_cells_come_in_a_stable_order(http: httpx.AsyncClient, bearer: Bearer) -> None:
    headers = await bearer("bappeda-statistik")
    first = await stats(http, headers, ["KECAMATAN", "WELFARE_DECILE"])
    second = await stats(http, headers, ["WELFARE_DECILE", "KECAMATAN"])
    assert first == second
    keys = [(c["key"]["regionCode"], c["key"]["welfareDecile"]) for c in first]
    assert keys == sorted(keys)


async def test_a_household_counts_under_each_program_it_received(
    http: httpx.AsyncClient, bearer: Bearer, owner_sql: Any
) -> None:
    cells = await stats(http, await bearer("bps-admin"), ["KECAMATAN", "ASSISTANCE_PROGRAM"])
    answered = {(c["key"]["regionCode"], c["key"]["assistanceProgram"]): c["count"] for c in cells}
    rows = await owner_sql(
        "SELECT h.kecamatan_code, r.program::text, count(DISTINCT h.id)"
        " FROM households h JOIN assistance_receipts r ON r.household_id = h.id GROUP BY 1, 2"
    )
    assert answered == {(row[0], row[1]): row[2] for row in rows}
    households = await owner_sql(
        "SELECT count(*) FILTER (WHERE received_programs <> '{}'),"
        " sum(cardinality(received_programs)) FROM households"
    )
    with_any, receipts = households[0]
    assert sum(answered.values()) == receipts > with_any


async def test_receives_program_is_the_slice_of_that_program(
    http: httpx.AsyncClient, bearer: Bearer
) -> None:
    headers = await bearer("bappeda-statistik")
    sliced = await stats(http, headers, ["KECAMATAN", "ASSISTANCE_PROGRAM"])
    filtered = await stats(http, headers, ["KECAMATAN"], {"receivesProgram": "PKH"})
    expected = [
        {**c, "key": {**c["key"], "assistanceProgram": None}}
        for c in sliced
        if c["key"]["assistanceProgram"] == "PKH"
    ]
    assert filtered == expected


# -- disclosure control ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("program", "by"),
    [
        ("bappeda-statistik", ["KECAMATAN", "WELFARE_DECILE"]),
        ("bappeda-statistik", ["DESA", "HEAD_SEX", "WELFARE_DECILE"]),
        ("bappeda-statistik", ["KECAMATAN", "ASSISTANCE_PROGRAM"]),
        ("dinsos-pkh", ["DESA", "WELFARE_DECILE"]),
    ],
)
async def test_no_published_count_is_below_the_programs_k(
    http: httpx.AsyncClient, bearer: Bearer, program: str, by: list[str]
) -> None:
    k = {"bappeda-statistik": 10, "dinsos-pkh": 5}[program]
    cells = await stats(http, await bearer(program), by)
    assert any(cell["suppressed"] for cell in cells)
    for cell in cells:
        if cell["suppressed"]:
            assert cell["count"] is None
        else:
            assert cell["count"] >= k


REGION_LEVELS = {10: "DESA", 7: "KECAMATAN", 4: "KABUPATEN", 2: "PROVINSI"}


@pytest.mark.parametrize(
    "finest",
    [
        ["KECAMATAN", "WELFARE_DECILE", "HEAD_SEX"],
        ["DESA", "HEAD_SEX"],
    ],
)
async def test_no_suppressed_cell_is_recoverable_from_every_coarser_query(
    http: httpx.AsyncClient, bearer: Bearer, owner_sql: Any, finest: list[str]
) -> None:
    """bappeda-statistik (k = 10): a table and every table it sums to (fewer dimensions,
    coarser regions), each asked for separately; the suppressed cells of all of them stay
    undetermined; and the line rules hold against the true counts."""
    headers = await bearer("bappeda-statistik")
    lengths = [n for n in (10, 7, 4, 2) if n <= REGION_LENGTH[finest[0]]]
    dims = [Dimension("region", region_steps(lengths[0]))]
    dims += [Dimension(name) for name in finest[1:]]
    truth = await plain_counts(owner_sql, finest)
    levels = list(product(*(range(dim.summed + 1) for dim in dims)))
    published = []
    for level in levels:
        by = [REGION_LEVELS[lengths[level[0]]]] if level[0] < len(lengths) else []
        by += [name for name, g in zip(finest[1:], level[1:], strict=True) if g == 0]
        table: dict[Key, Cell] = {}
        for cell in await stats(http, headers, by):
            others = (cell["key"][KEY_FIELD[name]] for name in finest[1:])
            key = (cell["key"]["regionCode"], *others)
            table[key] = Cell(key, cell["count"] or 0, cell["suppressed"])
        published.append(table)
    grid = list(product(*(sorted({key[j] for key in truth}) for j in range(len(dims)))))
    assert any(cell.suppressed for cell in published[0].values())
    assert recoverable(published, levels=levels, dims=dims, grid=grid) == []
    tables = dict(zip(levels, published, strict=True))
    finest_level = levels[0]

    keys = {
        level: {fine: project(dims, fine, finest_level, level) for fine in grid} for level in levels
    }
    live = {
        level: {
            keys[level][fine]
            for fine in grid
            if all(keys[other][fine] in tables[other] for other in levels if other != level)
        }
        for level in levels
    }
    """Per table, the cells not known to be zero from the other tables (counts >= 0)."""

    def possible(level: tuple[int, ...], key: Key) -> bool:
        """Alive, and not the only live cell under a published total (it equals it)."""
        if key not in live[level]:
            return False
        for j, (dim, g) in enumerate(zip(dims, level, strict=True)):
            if g == dim.summed:
                continue
            up = (*level[:j], g + 1, *level[j + 1 :])
            total = project(dims, key, level, up)
            cell = tables[up].get(total)
            if cell is not None and not cell.suppressed and live_under(level, up)[total] == 1:
                return False
        return True

    @cache
    def live_under(level: tuple[int, ...], up: tuple[int, ...]) -> Counter[Key]:
        return Counter(project(dims, c, level, up) for c in live[level])

    for level, table in tables.items():
        for j, dim in enumerate(dims):
            if level[j] == dim.summed:
                continue
            up = (*level[:j], level[j] + 1, *level[j + 1 :])
            lines: dict[Key, set[Key]] = {}
            for fine in grid:
                key = project(dims, fine, finest_level, level)
                lines.setdefault(project(dims, key, level, up), set()).add(key)
            for total, members in lines.items():
                hidden = [m for m in members if m in table and table[m].suppressed]
                total_cell = tables[up].get(total)
                total_hidden = total_cell is not None and total_cell.suppressed
                if sum(possible(level, m) for m in members) >= 2:
                    assert len(hidden) != 1, (level, total, members)
                    assert not total_hidden or len(hidden) >= 2, (level, total)
                if hidden and not total_hidden:
                    assert sum(true_count(truth, m) for m in hidden) >= 10


REGION_LENGTH = {name: length for length, name in REGION_LEVELS.items()}


def true_count(truth: dict[Key, int], key: Key) -> int:
    """The true count of a cell of any of the tables (None: summed out)."""
    return sum(
        n
        for fine, n in truth.items()
        if (key[0] is None or fine[0].startswith(key[0]))
        and all(v is None or f == v for f, v in zip(fine[1:], key[1:], strict=True))
    )


async def test_a_dimension_filter_selects_cells_of_the_unfiltered_table(
    http: httpx.AsyncClient, bearer: Bearer
) -> None:
    headers = await bearer("bappeda-statistik")
    whole = await stats(http, headers, ["DESA", "WELFARE_DECILE"])
    part = await stats(
        http,
        headers,
        ["DESA", "WELFARE_DECILE"],
        {"regionCode": "3509720", "welfareDecileMin": 2, "welfareDecileMax": 4},
    )
    expected = [
        c
        for c in whole
        if c["key"]["regionCode"].startswith("3509720") and 2 <= c["key"]["welfareDecile"] <= 4
    ]
    assert part == expected
    assert part


async def test_a_decile_range_without_the_decile_dimension_adds_up_published_cells(
    http: httpx.AsyncClient, bearer: Bearer
) -> None:
    headers = await bearer("bappeda-statistik")
    whole = keyed(await stats(http, headers, ["KECAMATAN", "WELFARE_DECILE"]), ["KECAMATAN"])
    fine = await stats(http, headers, ["KECAMATAN", "WELFARE_DECILE"])
    ranged = await stats(http, headers, ["KECAMATAN"], {"welfareDecileMax": 3})
    assert whole
    for cell in ranged:
        parts = [
            c
            for c in fine
            if c["key"]["regionCode"] == cell["key"]["regionCode"]
            and c["key"]["welfareDecile"] <= 3
        ]
        if any(c["suppressed"] for c in parts):
            assert cell["suppressed"]
        else:
            assert cell["count"] == sum(c["count"] for c in parts)


# -- groupBy: [] and errors --------------------------------------------------------------


async def test_group_by_nothing_gives_one_total_cell(
    http: httpx.AsyncClient, bearer: Bearer, owner_sql: Any
) -> None:
    total = (await owner_sql("SELECT count(*) FROM households"))[0][0]
    cells = await stats(http, await bearer("bappeda-statistik"), [])
    assert cells == [
        {
            "key": dict.fromkeys(
                ("regionCode", "regionName", "welfareDecile", "headSex", "assistanceProgram")
            ),
            "count": total,
            "suppressed": False,
        }
    ]
    nobody = await stats(http, await bearer("bps-admin"), [], {"regionCode": "3509999"})
    assert [(c["count"], c["suppressed"]) for c in nobody] == [(0, False)]


async def test_a_dimension_named_twice_is_bad_user_input(
    http: httpx.AsyncClient, bearer: Bearer
) -> None:
    headers = await bearer("bps-admin")
    for by in (["HEAD_SEX", "HEAD_SEX"], ["DESA", "KECAMATAN"]):
        _, body = await gql(http, headers, QUERY, {"by": by})
        assert error_codes(body) == ["BAD_USER_INPUT"], body
        assert body.get("data") is None


@pytest.mark.parametrize(
    "filter_", [{"hasMemberAgedUnder": 5}, {"updatedSince": "2020-01-01T00:00:00Z"}]
)
async def test_bappeda_may_not_filter_on_what_is_no_dimension(
    http: httpx.AsyncClient, bearer: Bearer, filter_: dict[str, Any]
) -> None:
    """Its HouseholdFilter has no such field: refused as a field that does not exist."""
    _, body = await gql(
        http, await bearer("bappeda-statistik"), QUERY, {"by": ["KECAMATAN"], "filter": filter_}
    )
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert f"'HouseholdFilter' not to include unknown field '{next(iter(filter_))}'" in str(body)


async def test_dinsos_may_filter_its_statistics_on_what_it_reads(
    http: httpx.AsyncClient, bearer: Bearer
) -> None:
    cells = await stats(
        http, await bearer("dinsos-pkh"), ["WELFARE_DECILE"], {"hasMemberAgedUnder": 5}
    )
    assert {c["key"]["welfareDecile"] for c in cells} <= {1, 2, 3, 4}


async def test_a_program_without_householdstats_cannot_name_it(
    http: httpx.AsyncClient, bearer: Bearer
) -> None:
    _, body = await gql(http, await bearer("dp3akb-keluarga"), QUERY, {"by": []})
    assert set(error_codes(body)) == {"BAD_USER_INPUT"}


POLICIES = load_policies(PACKAGED_POLICY_DIR)


def without(program: Program, type_name: str, field_name: str) -> Program:
    fields = {name: dict(modes) for name, modes in program.fields.items()}
    fields[type_name].pop(field_name)
    frozen = {name: MappingProxyType(modes) for name, modes in fields.items()}
    return replace(program, fields=MappingProxyType(frozen))


@pytest.mark.parametrize(
    ("field", "dimension"),
    [
        (("Household", "welfareDecile"), "WELFARE_DECILE"),
        (("Assistance", "program"), "ASSISTANCE_PROGRAM"),
        (("Person", "sex"), "HEAD_SEX"),
        (("Household", "region"), "DESA"),
    ],
)
def test_a_dimension_revealing_a_field_the_program_cannot_read_is_forbidden(
    field: tuple[str, str], dimension: str
) -> None:
    program = without(POLICIES.programs["dinsos-pkh"], *field)
    with pytest.raises(Forbidden):
        plan_statistics({"groupBy": [dimension]}, program)
    plan_statistics({"groupBy": [dimension]}, POLICIES.programs["dinsos-pkh"])


def test_a_statistics_only_program_groups_by_every_dimension_and_filters_on_them() -> None:
    bappeda = POLICIES.programs["bappeda-statistik"]
    assert bappeda.mode("Household", "welfareDecile") is FieldMode.DENIED
    plan = plan_statistics(
        {
            "groupBy": ["DESA", "WELFARE_DECILE", "HEAD_SEX", "ASSISTANCE_PROGRAM"],
            "filter": {"regionCode": "3509", "welfareDecileMax": 4, "womanHeaded": True},
        },
        bappeda,
    )
    assert (plan.region_prefix, plan.deciles, plan.head_sex) == ("3509", (1, 4), "FEMALE")
    assert plan.sql.shape == []


def test_row_filters_are_forbidden_where_statistics_reach_past_the_programs_rows() -> None:
    program = replace(POLICIES.programs["dinsos-pkh"], household_scope=RegionPrefix("3509720"))
    with pytest.raises(Forbidden):
        plan_statistics({"groupBy": [], "filter": {"hasMemberAgedUnder": 5}}, program)
    with pytest.raises(BadInput):
        plan_statistics({"groupBy": ["HEAD_SEX", "HEAD_SEX"]}, program)


# -- the transaction -----------------------------------------------------------------------


async def test_statistics_rows_are_open_only_for_the_statistics_statement(
    registry_url: str,
) -> None:
    """The same read transaction, before and after: households are closed to bappeda."""
    connection = await asyncpg.connect(with_user(registry_url, user=APP_ROLE, password=None))
    try:
        async with connection.transaction(readonly=True):
            await connection.execute("SET LOCAL regsosek.program = 'bappeda-statistik'")
            before = await connection.fetchval("SHOW random_page_cost")
            assert await connection.fetchval("SELECT count(*) FROM households") == 0
            caller = Caller("test", POLICIES.programs["bappeda-statistik"])
            cells = await HouseholdStatsRoot().value(
                caller=caller, args={"groupBy": []}, connection=connection
            )
            assert cells[0]["count"] > 0
            assert await connection.fetchval("SELECT count(*) FROM households") == 0
            assert await connection.fetchval("SHOW regsosek.statistics") == "off"
            assert await connection.fetchval("SHOW random_page_cost") == before
    finally:
        await connection.close()


async def test_the_introspection_fallback_answers_alike(
    http: httpx.AsyncClient, bearer: Bearer
) -> None:
    headers = await bearer("bappeda-statistik")
    fast = await stats(http, headers, ["HEAD_SEX", "ASSISTANCE_PROGRAM"])
    document = QUERY.replace(
        "householdStats(", "__typename\n  __schema { queryType { name } }\n  householdStats("
    )
    status, body = await gql(http, headers, document, {"by": ["HEAD_SEX", "ASSISTANCE_PROGRAM"]})
    assert status == 200, body
    assert body["data"]["householdStats"] == fast
