"""Per-program input types (CONTRACT §5): a filter field or ordering a program may not use
does not exist for it, and using one fails validation exactly like a name that exists nowhere.

The expected inputs are written out by hand from the shipped policy (``policies/policy.csv``):
a filter field exists where the program reads in full every field it looks at.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from errors import Forbidden
from policies import load_policies
from schema.compiler.filters import plan_household_filter, plan_person_filter
from schema.compiler.roots import ROOTS
from schema.sealed_cursors import CursorKeys
from tests.schema.conftest import Headers, error_codes, gql
from tests.support import REPO

Bearer = Callable[[str], Awaitable[Headers]]
POLICIES = load_policies(REPO / "policies")

ALL_HOUSEHOLD = {
    "regionCode",
    "welfareDecileMin",
    "welfareDecileMax",
    "receivesProgram",
    "hasMemberAgedUnder",
    "womanHeaded",
    "updatedSince",
}
ALL_PERSON = {"regionCode", "sex", "ageMin", "ageMax", "pregnant", "hasDisability", "householdId"}
ALL_ORDERS = {"ID_ASC", "WELFARE_DECILE_ASC", "UPDATED_AT_ASC"}

EXPECTED_INPUTS: dict[str, dict[str, set[str] | None]] = {
    "bps-admin": {
        "HouseholdFilter": ALL_HOUSEHOLD,
        "PersonFilter": ALL_PERSON,
        "HouseholdOrder": ALL_ORDERS,
    },
    "dinsos-pkh": {
        "HouseholdFilter": ALL_HOUSEHOLD,
        # No Person.region, no Person.household.
        "PersonFilter": {"sex", "ageMin", "ageMax", "pregnant", "hasDisability"},
        "HouseholdOrder": ALL_ORDERS,
    },
    "dp3akb-keluarga": {
        # No welfare decile, no assistance.
        "HouseholdFilter": {"regionCode", "hasMemberAgedUnder", "womanHeaded", "updatedSince"},
        "PersonFilter": {"sex", "ageMin", "ageMax"},
        "HouseholdOrder": {"ID_ASC", "UPDATED_AT_ASC"},
    },
    "dinkes-pbi": {
        "HouseholdFilter": None,
        "PersonFilter": {"regionCode", "sex", "ageMin", "ageMax", "pregnant", "hasDisability"},
        "HouseholdOrder": None,
    },
    "kec-sumbersari": {
        # Members' age is readable, their relationship to the head is not.
        "HouseholdFilter": {"regionCode", "hasMemberAgedUnder", "updatedSince"},
        "PersonFilter": None,
        "HouseholdOrder": {"ID_ASC", "UPDATED_AT_ASC"},
    },
    "bappeda-statistik": {
        # Statistics only: the dimensions' fields, nothing else.
        "HouseholdFilter": {
            "regionCode",
            "welfareDecileMin",
            "welfareDecileMax",
            "receivesProgram",
            "womanHeaded",
        },
        "PersonFilter": None,
        "HouseholdOrder": None,
    },
    "inspektorat-audit": {"HouseholdFilter": None, "PersonFilter": None, "HouseholdOrder": None},
}
"""``None``: the type is not in the program's schema at all."""

VALUES = {
    "regionCode": '"3509"',
    "welfareDecileMin": "1",
    "welfareDecileMax": "4",
    "receivesProgram": "PKH",
    "hasMemberAgedUnder": "18",
    "womanHeaded": "true",
    "updatedSince": '"2020-01-01T00:00:00Z"',
    "sex": "FEMALE",
    "ageMin": "18",
    "ageMax": "60",
    "pregnant": "false",
    "hasDisability": "false",
    "householdId": '"1"',
}
PLAIN_VALUES: dict[str, Any] = {
    "regionCode": "3509",
    "welfareDecileMin": 1,
    "welfareDecileMax": 4,
    "receivesProgram": "PKH",
    "hasMemberAgedUnder": 18,
    "womanHeaded": True,
    "updatedSince": "2020-01-01T00:00:00Z",
    "sex": "FEMALE",
    "ageMin": 18,
    "ageMax": 60,
    "pregnant": False,
    "hasDisability": False,
    "householdId": "1",
}
INTROSPECT = (
    '{ f: __type(name: "%s") { inputFields { name } } o: __type(name: "HouseholdOrder")'
    " { enumValues { name } } }"
)


def _names(found: dict[str, Any] | None, key: str) -> set[str] | None:
    return None if found is None else {item["name"] for item in found[key]}


@pytest.mark.parametrize("program", list(EXPECTED_INPUTS))
async def test_introspection_lists_only_the_filters_and_orders_a_program_may_use(
    program: str, http: httpx.AsyncClient, bearer: Bearer
) -> None:
    headers = await bearer(program)
    expected = EXPECTED_INPUTS[program]
    for filter_type in ("HouseholdFilter", "PersonFilter"):
        status, body = await gql(http, headers, INTROSPECT % filter_type)
        assert status == 200, body
        assert _names(body["data"]["f"], "inputFields") == expected[filter_type], filter_type
        assert _names(body["data"]["o"], "enumValues") == expected["HouseholdOrder"]


def _roots(program: str) -> list[tuple[str, str, set[str]]]:
    """(root, filter type, every field of that type) the program can call with a filter."""
    roots = POLICIES.programs[program].root_fields
    found = []
    if "households" in roots:
        found.append(("households(first: 1, filter: %s) { totalCount }", "HouseholdFilter"))
    if "householdStats" in roots:
        found.append(("householdStats(groupBy: [], filter: %s) { count }", "HouseholdFilter"))
    if "persons" in roots:
        found.append(("persons(first: 1, filter: %s) { totalCount }", "PersonFilter"))
    every = {"HouseholdFilter": ALL_HOUSEHOLD, "PersonFilter": ALL_PERSON}
    return [(root, filter_type, every[filter_type]) for root, filter_type in found]


@pytest.mark.parametrize("program", list(EXPECTED_INPUTS))
async def test_a_hidden_filter_field_fails_like_one_that_exists_nowhere(
    program: str, http: httpx.AsyncClient, bearer: Bearer
) -> None:
    headers = await bearer(program)
    for root, filter_type, every in _roots(program):
        usable = EXPECTED_INPUTS[program][filter_type] or set()
        for name in sorted(every):
            literal = "{ %s }" % (root % "{%s: %s}" % (name, VALUES[name]))
            status, body = await gql(http, headers, literal)
            if name in usable:
                assert status == 200, (name, body)
                continue
            assert (status, error_codes(body)) == (400, ["BAD_USER_INPUT"]), (name, body)
            unknown = literal.replace(name, "noSuchField")
            _, nowhere = await gql(http, headers, unknown)
            assert body["errors"][0]["message"] == nowhere["errors"][0]["message"].replace(
                "noSuchField", name
            )
            # The same through a variable.
            with_variable = "query ($f: %s) { %s }" % (filter_type, root % "$f")
            _, by_variable = await gql(
                http, headers, with_variable, {"f": {name: PLAIN_VALUES[name]}}
            )
            _, nowhere = await gql(
                http, headers, with_variable, {"f": {"noSuchField": PLAIN_VALUES[name]}}
            )
            assert error_codes(by_variable) == ["BAD_USER_INPUT"]
            assert by_variable["errors"][0]["message"] == nowhere["errors"][0]["message"].replace(
                "noSuchField", name
            )
            assert "Did you mean" not in str(body) + str(by_variable)


@pytest.mark.parametrize("program", ["dp3akb-keluarga", "kec-sumbersari"])
async def test_a_hidden_order_fails_like_one_that_exists_nowhere(
    program: str, http: httpx.AsyncClient, bearer: Bearer
) -> None:
    headers = await bearer(program)
    query = "{ households(first: 1, orderBy: %s) { totalCount } }"
    _, hidden = await gql(http, headers, query % "WELFARE_DECILE_ASC")
    _, nowhere = await gql(http, headers, query % "NO_SUCH_ORDER")
    assert error_codes(hidden) == ["BAD_USER_INPUT"]
    assert hidden["errors"][0]["message"] == nowhere["errors"][0]["message"].replace(
        "NO_SUCH_ORDER", "WELFARE_DECILE_ASC"
    )


@pytest.mark.parametrize("program", list(EXPECTED_INPUTS))
def test_the_second_wall_agrees_with_the_schema(program: str) -> None:
    """Planning refuses (FORBIDDEN) exactly the filter fields and orders the schema leaves out,
    so a schema built wrong would still not let a program filter on what it may not read."""
    policy = POLICIES.programs[program]
    expected = EXPECTED_INPUTS[program]
    plans = [
        ("households", plan_household_filter, ALL_HOUSEHOLD, expected["HouseholdFilter"]),
        ("persons", plan_person_filter, ALL_PERSON, expected["PersonFilter"]),
    ]
    for root, plan, every, usable in plans:
        if root not in policy.root_fields:
            continue  # no such list: nothing to filter (statistics: tests/schema/test_stats)
        for name in every:
            value = (
                datetime(2020, 1, 1, tzinfo=UTC) if name == "updatedSince" else PLAIN_VALUES[name]
            )
            if usable is not None and name in usable:
                plan({name: value}, policy)
            else:
                with pytest.raises(Forbidden):
                    plan({name: value}, policy)
    keys = CursorKeys(b"k" * 32).for_program(program)
    for order in ALL_ORDERS:
        args = {"orderBy": SimpleNamespace(name=order)}
        if expected["HouseholdOrder"] is not None and order in expected["HouseholdOrder"]:
            ROOTS["households"].prepare(args, policy, cursor_keys=keys)
        else:
            with pytest.raises(Forbidden):
                ROOTS["households"].prepare(args, policy, cursor_keys=keys)
