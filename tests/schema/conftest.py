"""Fixtures of the GraphQL API tests: real clients, real tokens, the running app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from api.auth.clients import create_client
from api.state import gateway_state
from db.engine import APP_ROLE, with_user
from policies import PolicySet

Headers = dict[str, str]


@dataclass(frozen=True)
class Registry:
    """A clone of the seeded registry: its URL, an owner connection, a pool as the gateway
    role."""

    url: str
    owner: asyncpg.Connection
    app: asyncpg.Pool


@pytest.fixture
async def registry(make_database: Callable[[], Awaitable[str]]) -> AsyncIterator[Registry]:
    url = await make_database()
    owner = await asyncpg.connect(url)
    pool = await asyncpg.create_pool(
        with_user(url, user=APP_ROLE, password=None), min_size=0, max_size=3
    )
    assert pool is not None
    yield Registry(url, owner, pool)
    await pool.close()
    await owner.close()


async def token_headers(
    app: Starlette, http: httpx.AsyncClient, *, owner_url: str, program: str
) -> Headers:
    """A new client of ``program`` (created as the owner) and a bearer token from /oauth/token."""
    policies = gateway_state(app).policies.current
    return await program_token(http, owner_url=owner_url, program=program, policies=policies)


async def program_token(
    http: httpx.AsyncClient, *, owner_url: str, program: str, policies: PolicySet
) -> Headers:
    """``token_headers`` for a gateway ``http`` talks to, whatever process runs it."""
    connection = await asyncpg.connect(owner_url)
    try:
        credentials = await create_client(
            connection, program=program, name=f"test {program}", policies=policies
        )
    finally:
        await connection.close()
    answer = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(credentials.client_id, credentials.client_secret),
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture
def bearer(
    app: Starlette, http: httpx.AsyncClient, registry_url: str
) -> Callable[[str], Awaitable[Headers]]:
    """``await bearer("dinsos-pkh")``: headers carrying a fresh client's token for that program."""
    made: dict[str, Headers] = {}

    async def get(program: str) -> Headers:
        if program not in made:
            made[program] = await token_headers(app, http, owner_url=registry_url, program=program)
        return made[program]

    return get


async def gql(
    http: httpx.AsyncClient,
    headers: Headers,
    query: str,
    variables: dict[str, Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    answer = await http.post("/graphql", json=body, headers=headers)
    return answer.status_code, answer.json()


CASE_REFS: dict[str, Headers] = {
    "dp3akb-perlindungan-anak": {"Regsosek-Case-Ref": "TEST/2026/0001"}
}
"""Headers a program's requests need besides the token: a case reference where its first
purpose requires one (CONTRACT §9)."""


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]
