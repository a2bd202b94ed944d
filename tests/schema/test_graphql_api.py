"""The GraphQL API as agency systems use it: real tokens, the real app, real PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from starlette.applications import Starlette

from api.state import gateway_state
from tests.policies.expected import HOUSEHOLD_SQL, PERSON_SQL
from tests.schema.conftest import CASE_REFS, Headers, error_codes, gql
from tests.schema.expected_fields import EXPECTED, EXPECTED_MODES, EXPECTED_ROOTS

Bearer = Callable[[str], Awaitable[Headers]]
PROGRAMS = list(EXPECTED)


async def visible_household_ids(
    owner: asyncpg.Connection, program: str, extra: str = "true"
) -> list[int]:
    condition = HOUSEHOLD_SQL[program]
    assert condition is not None
    rows = await owner.fetch(
        f"SELECT h.id FROM households h WHERE ({condition}) AND ({extra}) ORDER BY h.id"
    )
    return [row["id"] for row in rows]


TYPE_FIELDS = '{ __type(name: "%s") { fields { name } } }'


@pytest.mark.parametrize("program", PROGRAMS)
async def test_introspection_lists_exactly_the_programs_fields(
    program: str, http: httpx.AsyncClient, bearer: Bearer
) -> None:
    headers = {**await bearer(program), **CASE_REFS.get(program, {})}
    status, body = await gql(
        http, headers, "{ __schema { types { name } queryType { fields { name } } } }"
    )
    assert status == 200, body
    types = {t["name"] for t in body["data"]["__schema"]["types"]}
    registry_types = {
        "Household",
        "Person",
        "Region",
        "Housing",
        "Assets",
        "Assistance",
        "Documents",
        "Education",
        "Employment",
        "Disability",
        "HealthInsurance",
        "SocialProtection",
    }
    assert types & registry_types == set(EXPECTED[program])
    for type_name, fields in EXPECTED[program].items():
        status, body = await gql(http, headers, TYPE_FIELDS % type_name)
        assert {f["name"] for f in body["data"]["__type"]["fields"]} == fields, type_name
    roots = {
        f["name"]
        for f in body_roots(
            await gql(http, headers, "{ __schema { queryType { fields { name } } } }")
        )
    }
    if program in EXPECTED_ROOTS:
        assert roots == EXPECTED_ROOTS[program]
    assert "myAccess" in roots


FIELD_TYPES = '{ __type(name: "%s") { fields { name type { kind name ofType { name } } } } }'


@pytest.mark.parametrize("program", PROGRAMS)
async def test_masked_and_pseudonymised_fields_are_text_and_named_in_my_access(
    program: str, http: httpx.AsyncClient, bearer: Bearer
) -> None:
    headers = {**await bearer(program), **CASE_REFS.get(program, {})}
    expected = EXPECTED_MODES.get(program, {})
    _, body = await gql(http, headers, "{ myAccess { fields { type field mode } } }")
    modes = {(f["type"], f["field"]): f["mode"] for f in body["data"]["myAccess"]["fields"]}
    assert {key: mode for key, mode in modes.items() if mode != "FULL"} == expected
    for type_name, field_name in expected:
        _, body = await gql(http, headers, FIELD_TYPES % type_name)
        (found,) = [f for f in body["data"]["__type"]["fields"] if f["name"] == field_name]
        assert found["type"]["kind"] == "NON_NULL"
        assert found["type"]["ofType"]["name"] == "String"


async def test_dp3akb_reads_the_birth_year_as_text(http: httpx.AsyncClient, bearer: Bearer) -> None:
    headers = await bearer("dp3akb-keluarga")
    status, body = await gql(
        http, headers, "{ persons(first: 50) { nodes { nik birthDate age } } }"
    )
    assert status == 200, body
    nodes = body["data"]["persons"]["nodes"]
    assert nodes
    for node in nodes:
        assert re.fullmatch(r"(19|20)\d\d", node["birthDate"]), node
        assert re.fullmatch(r"\d{6}\*{6}\d{4}", node["nik"]), node


def body_roots(answer: tuple[int, dict[str, Any]]) -> list[dict[str, Any]]:
    fields: list[dict[str, Any]] = answer[1]["data"]["__schema"]["queryType"]["fields"]
    return fields


DENIED_SHAPES = {
    "direct": "{ households(first: 1) { nodes { %s } } }",
    "alias": "{ households(first: 1) { nodes { innocent: %s } } }",
    "fragment": "query { households(first: 1) { nodes { ...F } } } fragment F on Household { %s }",
    "inline": "{ households(first: 1) { nodes { ... on Household { %s } } } }",
    "nested": "{ households(first: 1) { nodes { members { id } region { name } %s } } }",
    "edges": "{ households(first: 1) { edges { node { %s } } } }",
}


@pytest.mark.parametrize("shape", list(DENIED_SHAPES))
@pytest.mark.parametrize(
    "field", ["welfareDecile", "housing { toilet }", "assets { car }", "kkNumber"]
)
async def test_dp3akb_cannot_read_a_denied_field_by_any_route(
    shape: str, field: str, http: httpx.AsyncClient, bearer: Bearer
) -> None:
    headers = await bearer("dp3akb-keluarga")
    status, body = await gql(http, headers, DENIED_SHAPES[shape] % field)
    assert status == 400
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "data" not in body
    name = field.split()[0]
    assert f"Cannot query field '{name}' on type 'Household'." in body["errors"][0]["message"]


async def test_a_denied_field_fails_exactly_like_a_field_that_does_not_exist(
    http: httpx.AsyncClient, bearer: Bearer
) -> None:
    headers = await bearer("dp3akb-keluarga")
    _, denied = await gql(http, headers, "{ households { nodes { welfareDecile } } }")
    _, missing = await gql(http, headers, "{ households { nodes { shoeSize } } }")

    def strip(body: dict[str, Any]) -> list[dict[str, Any]]:
        return [{k: v for k, v in e.items() if k != "extensions"} for e in body["errors"]]

    assert strip(denied) == [
        {**e, "message": e["message"].replace("shoeSize", "welfareDecile")} for e in strip(missing)
    ]


async def test_no_error_suggests_a_field_name(http: httpx.AsyncClient, bearer: Bearer) -> None:
    headers = await bearer("dp3akb-keluarga")
    for query in (
        "{ households { nodes { welfareDecil } } }",
        "{ househlds { nodes { id } } }",
        "{ households(firts: 2) { nodes { id } } }",
        "{ households(orderBy: WELFARE_DECIL) { nodes { id } } }",
    ):
        _, body = await gql(http, headers, query)
        text = orjson.dumps(body).decode()
        assert "Did you mean" not in text
        assert "welfareDecile" not in text


@pytest.mark.parametrize(
    "program", ["dinsos-pkh", "dp3akb-keluarga", "kec-sumbersari", "bps-admin"]
)
async def test_pagination_walks_every_visible_household_exactly_once(
    program: str, http: httpx.AsyncClient, bearer: Bearer, owner: asyncpg.Connection
) -> None:
    headers = await bearer(program)
    expected = await visible_household_ids(owner, program)
    seen: list[int] = []
    after = None
    while True:
        status, body = await gql(
            http,
            headers,
            "query($after: String) { households(first: 173, after: $after) {"
            " totalCount pageInfo { hasNextPage endCursor } nodes { id } } }",
            {"after": after},
        )
        assert status == 200, body
        page = body["data"]["households"]
        assert page["totalCount"] == len(expected)
        seen += [int(node["id"]) for node in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == expected


async def test_pagination_in_welfare_decile_order_with_a_region_filter(
    http: httpx.AsyncClient, bearer: Bearer, owner: asyncpg.Connection
) -> None:
    headers = await bearer("dinsos-pkh")
    rows = await owner.fetch(
        f"SELECT h.id FROM households h WHERE ({HOUSEHOLD_SQL['dinsos-pkh']})"
        " AND h.desa_code LIKE '3509720%' ORDER BY h.welfare_decile, h.id"
    )
    expected = [row["id"] for row in rows]
    assert expected, "the seeded registry should have poor households in Sumbersari"
    seen: list[int] = []
    after = None
    while True:
        _, body = await gql(
            http,
            headers,
            "query($after: String) { households(first: 7, after: $after, orderBy: WELFARE_DECILE_ASC,"
            ' filter: {regionCode: "3509720"}) { pageInfo { hasNextPage endCursor hasPreviousPage }'
            " edges { cursor node { id } } } }",
            {"after": after},
        )
        page = body["data"]["households"]
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        seen += [int(edge["node"]["id"]) for edge in page["edges"]]
        if page["edges"]:
            assert page["edges"][-1]["cursor"] == page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == expected


async def test_persons_of_dinkes_are_the_persons_of_its_scope(
    http: httpx.AsyncClient, bearer: Bearer, owner: asyncpg.Connection
) -> None:
    headers = await bearer("dinkes-pbi")
    count = await owner.fetchval(
        f"SELECT count(*) FROM persons p JOIN households h ON h.id = p.household_id WHERE {PERSON_SQL['dinkes-pbi']}"
    )
    _, body = await gql(
        http, headers, "{ persons(first: 1000) { totalCount nodes { nik age region { code } } } }"
    )
    persons = body["data"]["persons"]
    assert persons["totalCount"] == count
    assert len(persons["nodes"]) == min(count, 1000)
    assert all(re.fullmatch(r"[0-9a-f]{64}", node["nik"]) for node in persons["nodes"])
    assert all(node["region"]["code"].startswith("3509") for node in persons["nodes"])


async def test_an_invisible_household_answers_exactly_like_a_missing_one(
    http: httpx.AsyncClient, bearer: Bearer, owner: asyncpg.Connection
) -> None:
    headers = await bearer("dinsos-pkh")
    hidden = await owner.fetchval(
        "SELECT id FROM households WHERE welfare_decile > 4 ORDER BY id LIMIT 1"
    )
    visible = await owner.fetchval(
        "SELECT id FROM households WHERE welfare_decile <= 4 ORDER BY id LIMIT 1"
    )
    missing = await owner.fetchval("SELECT max(id) + 1000 FROM households")
    answers = []
    for household in (hidden, missing, "not-a-number"):
        answer = await http.post(
            "/graphql",
            json={"query": '{ household(id: "%s") { id kkNumber } }' % household},
            headers=headers,
        )
        answers.append((answer.status_code, answer.content))
    assert answers[0] == answers[1] == answers[2] == (200, b'{"data":{"household":null}}')
    _, body = await gql(http, headers, '{ household(id: "%s") { id } }' % visible)
    assert body == {"data": {"household": {"id": str(visible)}}}


@asynccontextmanager
async def counted_statements(app: Starlette) -> AsyncIterator[list[str]]:
    """Every statement the gateway sends to read the registry while the block runs."""
    reader = gateway_state(app).engine.reader
    original_transaction, original_fetch = reader.transaction, reader.fetch
    statements: list[str] = []

    def record(query: Any) -> None:
        # asyncpg introspects an unfamiliar type (an enum, say) once per
        # connection, from pg_catalog; that is the driver's, not the gateway's.
        if "pg_catalog" not in query.query and "'jit'" not in query.query:
            statements.append(query.query)

    @asynccontextmanager
    async def counting(program: str) -> AsyncIterator[asyncpg.Connection]:
        async with original_transaction(program) as connection:
            connection.add_query_logger(record)
            try:
                yield connection
            finally:
                connection.remove_query_logger(record)

    async def fetching(batch: Any) -> Any:
        statements.extend(sql for sql, _ in batch)
        return await original_fetch(batch)

    reader.transaction, reader.fetch = counting, fetching  # type: ignore[method-assign,assignment]
    try:
        yield statements
    finally:
        reader.transaction, reader.fetch = original_transaction, original_fetch  # type: ignore[method-assign]


async def test_each_root_field_is_one_sql_statement(
    app: Starlette, http: httpx.AsyncClient, bearer: Bearer
) -> None:
    headers = await bearer("bps-admin")
    query = """{
      a: households(first: 20) { totalCount pageInfo { hasNextPage } nodes { id housing { toilet }
          assets { car } assistance { program year } region { name parent { name parent { code } } }
          members { nik name education { highestLevel } household { id members { id } } } } }
      b: persons(first: 20) { nodes { id region { name } household { id kkNumber } } }
      c: household(id: "1") { id members { id } }
      d: regions(level: KECAMATAN, parentCode: "3509") { code name }
      myAccess { program }
    }"""
    async with counted_statements(app) as statements:
        status, body = await gql(http, headers, query)
    assert status == 200, body
    assert len(body["data"]["a"]["nodes"]) == 20
    assert len(statements) == 4
    assert len(set(statements)) == 4


async def test_masked_nik_shows_the_first_six_and_last_four_digits(
    http: httpx.AsyncClient, bearer: Bearer, owner: asyncpg.Connection
) -> None:
    headers = await bearer("dp3akb-keluarga")
    _, body = await gql(http, headers, "{ households(first: 30) { nodes { members { id nik } } } }")
    members = [m for node in body["data"]["households"]["nodes"] for m in node["members"]]
    assert members
    real = dict(
        await owner.fetch(
            "SELECT id::text, nik FROM persons WHERE id = ANY($1::bigint[])",
            [int(m["id"]) for m in members],
        )
    )
    for member in members:
        nik = real[member["id"]]
        assert member["nik"] == nik[:6] + "******" + nik[-4:]


async def test_a_pseudonym_is_stable_for_one_program(
    http: httpx.AsyncClient, bearer: Bearer
) -> None:
    first = await bearer("dinkes-pbi")
    query = "{ persons(first: 50) { nodes { nik sex } } }"
    _, one = await gql(http, first, query)
    _, two = await gql(http, first, query)
    assert one == two
    tokens = [node["nik"] for node in one["data"]["persons"]["nodes"]]
    assert len(set(tokens)) == len(tokens)


@pytest.mark.parametrize(
    ("filter_text", "condition"),
    [
        ('{regionCode: "3509720"}', "h.desa_code LIKE '3509720%'"),
        ('{regionCode: "35"}', "h.desa_code LIKE '35%'"),
        ("{welfareDecileMin: 2, welfareDecileMax: 3}", "h.welfare_decile BETWEEN 2 AND 3"),
        (
            "{receivesProgram: PKH}",
            "EXISTS (SELECT 1 FROM assistance_receipts a WHERE a.household_id = h.id AND a.program = 'PKH')",
        ),
        (
            "{hasMemberAgedUnder: 5}",
            "EXISTS (SELECT 1 FROM persons m WHERE m.household_id = h.id AND age(current_date, m.birth_date) < interval '5 years')",
        ),
        (
            "{womanHeaded: true}",
            "EXISTS (SELECT 1 FROM persons m WHERE m.household_id = h.id AND m.relationship_to_head = 'HEAD' AND m.sex = 'FEMALE')",
        ),
        (
            "{womanHeaded: false}",
            "NOT EXISTS (SELECT 1 FROM persons m WHERE m.household_id = h.id AND m.relationship_to_head = 'HEAD' AND m.sex = 'FEMALE')",
        ),
        (
            '{updatedSince: "2000-01-01T00:00:00+07:00"}',
            "h.updated_at >= '2000-01-01T00:00:00+07:00'",
        ),
    ],
)
async def test_household_filters_select_what_plain_sql_selects(
    filter_text: str,
    condition: str,
    http: httpx.AsyncClient,
    bearer: Bearer,
    owner: asyncpg.Connection,
) -> None:
    headers = await bearer("bps-admin")
    expected = await visible_household_ids(owner, "bps-admin", condition)
    _, body = await gql(
        http,
        headers,
        "{ households(first: 1000, filter: %s) { totalCount nodes { id } } }" % filter_text,
    )
    page = body["data"]["households"]
    assert page["totalCount"] == len(expected)
    assert [int(node["id"]) for node in page["nodes"]] == expected[:1000]


@pytest.mark.parametrize(
    "filter_text",
    ["{welfareDecileMax: 4}", "{welfareDecileMin: 1}", "{receivesProgram: PKH}"],
)
async def test_dp3akb_cannot_filter_on_what_it_cannot_read(
    filter_text: str, http: httpx.AsyncClient, bearer: Bearer
) -> None:
    """The filter field does not exist for it: refused as a name that exists nowhere."""
    headers = await bearer("dp3akb-keluarga")
    query = "{ households(filter: %s) { nodes { id } } }"
    status, body = await gql(http, headers, query % filter_text)
    assert (status, error_codes(body)) == (400, ["BAD_USER_INPUT"])
    assert "data" not in body
    name = filter_text[1:].split(":")[0]
    _, unknown = await gql(http, headers, query % filter_text.replace(name, "noSuchFilter"))
    assert body["errors"][0]["message"] == unknown["errors"][0]["message"].replace(
        "noSuchFilter", name
    )


async def test_dp3akb_cannot_sort_by_welfare_decile(
    http: httpx.AsyncClient, bearer: Bearer
) -> None:
    headers = await bearer("dp3akb-keluarga")
    status, body = await gql(
        http, headers, "{ households(orderBy: WELFARE_DECILE_ASC) { nodes { id } } }"
    )
    assert (status, error_codes(body)) == (400, ["BAD_USER_INPUT"])
    assert "Did you mean" not in body["errors"][0]["message"]
    assert "welfareDecile" not in body["errors"][0]["message"]


@pytest.mark.parametrize(
    "arguments",
    [
        "first: 1001",
        "first: -1",
        'filter: {regionCode: "35a9"}',
        'filter: {regionCode: "350"}',
        "filter: {welfareDecileMin: 11}",
        'after: "bm90LWEtY3Vyc29y"',
        'after: "%%%"',
    ],
)
async def test_bad_arguments_are_bad_user_input(
    arguments: str, http: httpx.AsyncClient, bearer: Bearer
) -> None:
    headers = await bearer("bps-admin")
    status, body = await gql(http, headers, "{ households(%s) { nodes { id } } }" % arguments)
    assert (status, error_codes(body)) == (400, ["BAD_USER_INPUT"])


async def test_introspection_fallback_gives_the_same_data_as_the_fast_path(
    http: httpx.AsyncClient, bearer: Bearer
) -> None:
    headers = await bearer("dinsos-pkh")
    selection = (
        'households(first: 25, filter: {regionCode: "3509"}) { totalCount pageInfo { endCursor hasNextPage }'
        " nodes { id kkNumber welfareDecile housing { floorMaterial } assistance { program month year }"
        " region { code name parent { name } } members { nik name birthDate age education { enrolled } } } }"
    )
    _, fast = await gql(http, headers, "{ %s }" % selection)
    _, slow = await gql(http, headers, "{ __schema { queryType { name } } %s }" % selection)
    assert slow["data"]["__schema"] == {"queryType": {"name": "Query"}}
    # Cursors are sealed afresh for every answer: the two differ, and point at one row.
    ends = [answer["data"]["households"]["pageInfo"].pop("endCursor") for answer in (fast, slow)]
    assert slow["data"]["households"] == fast["data"]["households"]
    assert ends[0] != ends[1]
    following = [
        (
            await gql(
                http,
                headers,
                'query ($a: String) { households(first: 3, after: $a, filter: {regionCode: "3509"})'
                " { nodes { id } } }",
                {"a": end},
            )
        )[1]
        for end in ends
    ]
    assert following[0] == following[1]
    assert len(following[0]["data"]["households"]["nodes"]) == 3


async def test_the_audit_event_lists_exactly_what_left_the_gateway(
    http: httpx.AsyncClient, bearer: Bearer, registry_url: str
) -> None:
    headers = await bearer("dinsos-pkh")
    answer = await http.post(
        "/graphql",
        json={"query": "query Pull { households(first: 5) { nodes { id members { id nik } } } }"},
        headers=headers,
    )
    nodes = answer.json()["data"]["households"]["nodes"]
    request_id = answer.headers["x-request-id"]
    connection = await asyncpg.connect(registry_url)
    try:
        event = await connection.fetchrow(
            "SELECT * FROM audit_events WHERE request_id = $1", request_id
        )
    finally:
        await connection.close()
    assert event["outcome"] == "allowed"
    assert event["program"] == "dinsos-pkh"
    assert event["operation_name"] == "Pull"
    assert event["household_ids"] == sorted(int(node["id"]) for node in nodes)
    assert event["person_ids"] == sorted(int(m["id"]) for node in nodes for m in node["members"])
    assert set(event["field_paths"]) == {
        "households.nodes.id",
        "households.nodes.members.id",
        "households.nodes.members.nik",
    }


async def test_stats_only_and_audit_only_programs_have_no_row_fields(
    http: httpx.AsyncClient, bearer: Bearer
) -> None:
    for program in ("bappeda-statistik", "inspektorat-audit"):
        headers = await bearer(program)
        status, body = await gql(http, headers, "{ households { nodes { id } } }")
        assert (status, error_codes(body)) == (400, ["BAD_USER_INPUT"])


async def test_my_access_describes_the_program_from_the_policy(
    http: httpx.AsyncClient, bearer: Bearer
) -> None:
    headers = await bearer("dp3akb-keluarga")
    _, body = await gql(
        http,
        headers,
        "{ myAccess { program agency purpose rowScope agreement { number } fields { type field mode } } }",
    )
    access = body["data"]["myAccess"]
    assert access["program"] == "dp3akb-keluarga"
    assert {"type": "Person", "field": "nik", "mode": "MASKED"} in access["fields"]
    assert not any(f["field"] == "welfareDecile" for f in access["fields"])
    assert access["agreement"]["number"]
