"""The benchmark queries, as each system spells them, and how to compare their answers.

Every query has one GraphQL document for the gateway (program dinsos-pkh) and,
where PostGraphile 5 has an equivalent, one in PostGraphile's names. Each
request draws its variable (a kecamatan code, a household id) from a list
that every system shares; ``normalise`` maps each system's JSON onto one form
(ids as strings, the gateway's field names, members sorted by id).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Json = Any

GATEWAY_PERSON = "id nik name sex birthDate"
GATEWAY_HOUSEHOLD = (
    f"id kkNumber headName address memberCount welfareDecile members {{ {GATEWAY_PERSON} }}"
)
PGL_PERSON = "rowId nik name sex birthDate"
PGL_HOUSEHOLD = (
    "rowId kkNumber headName address memberCount welfareDecile"
    f" peopleByHouseholdId(orderBy: PRIMARY_KEY_ASC) {{ nodes {{ {PGL_PERSON} }} }}"
)


@dataclass(frozen=True)
class Query:
    name: str
    title: str
    gateway: str
    postgraphile: str | None
    variable: str | None
    """The variable each request draws (``region`` or ``id``); None for a fixed request."""
    pick: Callable[[Json], list[Json]]
    """The gateway's rows, from its ``data``."""
    pick_pgl: Callable[[Json], list[Json]] | None


def _nodes(root: str) -> Callable[[Json], list[Json]]:
    return lambda data: list(data[root]["nodes"])


def _one(root: str) -> Callable[[Json], list[Json]]:
    return lambda data: [] if data[root] is None else [data[root]]


Q1 = Query(
    name="Q1",
    title="100 households of one kecamatan, 6 fields + members x 5 fields",
    gateway=(
        "query Q1($region: String!) { households(filter: {regionCode: $region}, first: 100)"
        f" {{ nodes {{ {GATEWAY_HOUSEHOLD} }} }} }}"
    ),
    postgraphile=(
        "query Q1($region: String!) { allHouseholds(first: 100,"
        " condition: {kecamatanCode: $region}, orderBy: PRIMARY_KEY_ASC)"
        f" {{ nodes {{ {PGL_HOUSEHOLD} }} }} }}"
    ),
    variable="region",
    pick=_nodes("households"),
    pick_pgl=_nodes("allHouseholds"),
)

Q2 = Query(
    name="Q2",
    title="one household by id with its members",
    gateway=f"query Q2($id: ID!) {{ household(id: $id) {{ {GATEWAY_HOUSEHOLD} }} }}",
    postgraphile=f"query Q2($id: BigInt!) {{ householdByRowId(rowId: $id) {{ {PGL_HOUSEHOLD} }} }}",
    variable="id",
    pick=_one("household"),
    pick_pgl=_one("householdByRowId"),
)

Q3 = Query(
    name="Q3",
    title="a page of 1,000 households with members",
    gateway=f"query Q3 {{ households(first: 1000) {{ nodes {{ {GATEWAY_HOUSEHOLD} }} }} }}",
    postgraphile=(
        "query Q3 { allHouseholds(first: 1000, orderBy: PRIMARY_KEY_ASC)"
        f" {{ nodes {{ {PGL_HOUSEHOLD} }} }} }}"
    ),
    variable=None,
    pick=_nodes("households"),
    pick_pgl=_nodes("allHouseholds"),
)

Q4 = Query(
    name="Q4",
    title="householdStats by kecamatan x welfare decile",
    gateway=(
        "query Q4 { householdStats(groupBy: [KECAMATAN, WELFARE_DECILE])"
        " { key { regionCode welfareDecile } count suppressed } }"
    ),
    postgraphile=None,
    variable=None,
    pick=lambda data: list(data["householdStats"]),
    pick_pgl=None,
)

ALL = {query.name: query for query in (Q1, Q2, Q3, Q4)}


def _person(raw: Json) -> dict[str, Json]:
    return {
        "id": str(raw.get("id", raw.get("rowId"))),
        "nik": raw["nik"],
        "name": raw["name"],
        "sex": raw["sex"],
        "birthDate": raw["birthDate"],
    }


def _household(raw: Json, members: list[Json]) -> dict[str, Json]:
    return {
        "id": str(raw.get("id", raw.get("rowId"))),
        "kkNumber": raw["kkNumber"],
        "headName": raw["headName"],
        "address": raw["address"],
        "memberCount": raw["memberCount"],
        "welfareDecile": raw["welfareDecile"],
        "members": sorted((_person(m) for m in members), key=lambda m: int(m["id"])),
    }


def normalise_gateway(query: Query, data: Json) -> list[Json]:
    if query.name == "Q4":
        return sorted(query.pick(data), key=lambda cell: str(cell["key"]))
    return [_household(row, row["members"]) for row in query.pick(data)]


def normalise_postgraphile(query: Query, data: Json) -> list[Json]:
    assert query.pick_pgl is not None
    return [_household(row, row["peopleByHouseholdId"]["nodes"]) for row in query.pick_pgl(data)]


def variables(query: Query, value: Json) -> dict[str, Json] | None:
    if query.variable is None:
        return None
    return {query.variable: value}
