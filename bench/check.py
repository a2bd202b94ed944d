"""Same rows from every system: each answer, normalised, against the compiled SQL run directly.

The reference is the gateway's compiled statement executed by the owner over
asyncpg. The gateway's own answer goes through authentication, policy and
RLS; PostGraphile's and the naive peer's through their own SQL under
``bench_pgl_dinsos``'s RLS and grants, or ``bench_view``'s views; the HTTP
floors' through the minimal SQL or the gateway's statement under RLS: several
independent routes to the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import orjson

from bench.compiled import CompiledQuery
from bench.queries import Query, normalise_gateway, normalise_postgraphile, variables


@dataclass
class Target:
    """How to send a query to one HTTP system."""

    system: str
    base: str
    headers: dict[str, str] = field(default_factory=dict)
    dialect: str = "gateway"
    """``gateway`` (gateway names, POST /graphql; the naive peer speaks it too),
    ``floor`` (gateway body, POST /graphql/<query>) or ``postgraphile``."""
    queries: frozenset[str] = frozenset()
    """For a floor: the queries its spec holds."""

    def path(self, query: Query) -> str:
        return f"/graphql/{query.name}" if self.dialect == "floor" else "/graphql"

    def document(self, query: Query) -> str | None:
        return query.postgraphile if self.dialect == "postgraphile" else query.gateway

    def body(self, query: Query, value: Any) -> bytes:
        return orjson.dumps({"query": self.document(query), "variables": variables(query, value)})


ROOTS = {"Q1": "households", "Q2": "household", "Q3": "households", "Q4": "householdStats"}


def samples(query: Query, draws: list[str] | None) -> list[str | None]:
    """The values the check sends: spread over the draw list."""
    if draws is None:
        return [None]
    wanted = 5 if query.variable == "region" else 25
    step = max(1, len(draws) // wanted)
    return draws[::step][:wanted]


async def reference(
    connection: asyncpg.Connection, query: Query, compiled: CompiledQuery, value: Any
) -> list[Any]:
    text = await connection.fetchval(compiled.sql, *compiled.bind(value))
    data = {ROOTS[query.name]: orjson.loads(text) if text is not None else None}
    return normalise_gateway(query, data)


async def answer(client: httpx.AsyncClient, target: Target, query: Query, value: Any) -> Any:
    response = await client.post(
        target.base + target.path(query),
        content=target.body(query, value),
        headers={"Content-Type": "application/json", **target.headers},
    )
    payload = response.json()
    if response.status_code != 200 or payload.get("errors"):
        raise ValueError(f"HTTP {response.status_code}: {response.text[:300]}")
    return payload["data"]


async def check(
    target: Target,
    query: Query,
    compiled: CompiledQuery,
    *,
    connection: asyncpg.Connection,
    draws: list[str] | None,
) -> str:
    """``ok …`` or what differs, for one system and one query."""
    rows = 0
    async with httpx.AsyncClient(timeout=30) as client:
        for value in samples(query, draws):
            expected = await reference(connection, query, compiled, value)
            try:
                data = await answer(client, target, query, value)
            except ValueError as error:
                return f"ERROR {error}"
            if target.dialect == "postgraphile":
                got = normalise_postgraphile(query, data)
            else:
                got = normalise_gateway(query, data)
            if got != expected:
                return f"MISMATCH for {query.variable}={value}: {_first_difference(expected, got)}"
            rows += len(got)
    if rows == 0:
        return "MISMATCH: no rows at all"
    return f"ok ({len(samples(query, draws))} requests, {rows} households)"


def _first_difference(expected: list[Any], got: list[Any]) -> str:
    if len(expected) != len(got):
        return f"{len(got)} rows, expected {len(expected)}"
    for want, have in zip(expected, got, strict=True):
        if want != have:
            return f"expected {str(want)[:200]} got {str(have)[:200]}"
    return "?"


async def check_statement(
    dsn: str,
    query: Query,
    compiled: CompiledQuery,
    statement: CompiledQuery,
    *,
    connection: asyncpg.Connection,
    draws: list[str] | None,
    program: str | None = None,
) -> str:
    """``ok …`` or what differs, for a statement pgbench sends (as pgbench's role binds it).

    JSON statements are compared like HTTP answers; the statistics statement's
    rows as a set. Without the gated form, the statement runs as the gateway
    would run it: in a read-only transaction with ``program`` and the
    statement's settings set locally.
    """
    own = await asyncpg.connect(dsn, server_settings={"jit": "off"})
    rows = 0
    try:
        for value in samples(query, draws):
            if compiled.json_text:
                expected = await reference(connection, query, compiled, value)
                text = await own.fetchval(statement.sql, *statement.bind(value))
                root = ROOTS[query.name]
                got = normalise_gateway(query, {root: orjson.loads(text) if text else None})
            else:
                want = await connection.fetch(compiled.sql, *compiled.bind(value))
                expected = sorted((tuple(r) for r in want), key=repr)
                async with own.transaction(readonly=True):
                    settings = dict(statement.settings)
                    if program is not None:
                        settings["regsosek.program"] = program
                    for name, setting in settings.items():
                        await own.execute("SELECT set_config($1, $2, true)", name, setting)
                    found = await own.fetch(statement.sql, *statement.bind(value))
                got = sorted((tuple(r) for r in found), key=repr)
            if got != expected:
                return f"MISMATCH for {query.variable}={value}: {_first_difference(expected, got)}"
            rows += len(got)
    finally:
        await own.close()
    if rows == 0:
        return "MISMATCH: no rows at all"
    return f"ok ({len(samples(query, draws))} statements, {rows} rows)"
