"""GraphQL over HTTP as client libraries expect it: ``Accept:
application/graphql-response+json`` is answered in that media type with the spec's status codes
(200 with ``data``; 4xx/5xx with none), and ``application/json`` stays as it was."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from api.error_response import GRAPHQL_RESPONSE, response_media_type

SPEC = "application/graphql-response+json"
Bearer = Callable[[str], Awaitable[dict[str, str]]]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        (SPEC, SPEC),
        (f"{SPEC}, application/json;q=0.9", SPEC),
        (f"application/json, {SPEC};q=0.5", "application/json"),
        (f"{SPEC};q=0", "application/json"),
        (f"text/html, {SPEC}, */*;q=0.8", SPEC),
    ],
)
def test_the_media_type_follows_the_accept_header(accept: str | None, expected: str) -> None:
    assert response_media_type(accept) == expected
    assert GRAPHQL_RESPONSE == SPEC


async def test_the_spec_media_type_and_its_status_codes(
    http: httpx.AsyncClient, bearer: Bearer
) -> None:
    headers = await bearer("dinsos-pkh")
    cases = [
        ({"query": "{ households(first: 1) { nodes { id } } }"}, 200, None),
        ({"query": "{ households(first: 1) { nodes { id "}, 400, "BAD_USER_INPUT"),
        ({"query": "{ households { nodes { assets { tv } } } }"}, 400, "BAD_USER_INPUT"),
        ({"query": "{ auditEvents { nodes { sequence } } }"}, 400, "BAD_USER_INPUT"),
    ]
    for body, status, code in cases:
        for accept in (SPEC, "application/json"):
            answer = await http.post("/graphql", json=body, headers={**headers, "Accept": accept})
            assert answer.status_code == status, (body, accept, answer.text)
            assert answer.headers["content-type"].split(";")[0] == accept
            assert "Accept" in answer.headers["vary"]
            document = answer.json()
            if code is None:
                assert "data" in document
                assert "errors" not in document
            else:
                assert "data" not in document
                assert document["errors"][0]["extensions"]["code"] == code
    refused = await http.post(
        "/graphql", json=cases[0][0], headers={"Accept": SPEC, "Authorization": "Bearer x.y.z"}
    )
    assert refused.status_code == 401
    assert refused.headers["content-type"].split(";")[0] == SPEC
    bad_json = await http.post(
        "/graphql",
        content=b"{not json",
        headers={**headers, "Accept": SPEC, "Content-Type": "application/json"},
    )
    assert bad_json.status_code == 400
    assert bad_json.headers["content-type"].split(";")[0] == SPEC
