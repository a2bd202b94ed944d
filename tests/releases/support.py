"""Helpers of the release and change-feed tests: families as import rows, real imports,
a gateway on the test's own database, and reading the feed as an agency would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from starlette.applications import Starlette

from api.app import create_app
from db.importer import ImportSummary, import_registry
from tests.db.support import LayoutRows, layout_rows, write_csv
from tests.schema.conftest import Headers, token_headers
from tests.support import make_settings, running


async def family_numbers(url: str, where: str, *, count: int = 1) -> list[str]:
    """No KKs of ``count`` families matching ``where`` (SQL over ``households``), by id."""
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            f"SELECT kk_number FROM households WHERE {where} ORDER BY id LIMIT $1", count
        )
    finally:
        await connection.close()
    assert len(rows) == count, f"the test registry has fewer than {count} families {where}"
    return [row[0] for row in rows]


async def rows_of(url: str, kks: list[str]) -> LayoutRows:
    connection = await asyncpg.connect(url)
    try:
        return await layout_rows(connection, kks)
    finally:
        await connection.close()


def household(rows: LayoutRows, kk: str) -> dict[str, Any]:
    return next(row for row in rows["households"] if row["kk_number"] == kk)


async def import_release(
    url: str, directory: Path, rows: LayoutRows, *, release: str
) -> ImportSummary:
    return await import_registry(url, write_csv(directory, rows), release=release)


async def fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(sql, *args))
    finally:
        await connection.close()


async def feed_of(url: str, program: str, release: str) -> list[tuple[str, int | None, int | None]]:
    """The program's changes in ``release`` as stored: (kind, household id, person id)."""
    rows = await fetch(
        url,
        "SELECT c.kind::text, c.household_id, c.person_id FROM program_changes c"
        " JOIN releases r ON r.no = c.release_no WHERE c.program = $1 AND r.id = $2"
        " ORDER BY c.position",
        program,
        release,
    )
    return [(row[0], row[1], row[2]) for row in rows]


@dataclass
class Gateway:
    app: Starlette
    http: httpx.AsyncClient
    url: str

    async def headers(self, program: str) -> Headers:
        return await token_headers(self.app, self.http, owner_url=self.url, program=program)

    async def query(
        self, headers: Headers, document: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        answer = await self.http.post(
            "/graphql", json={"query": document, "variables": variables or {}}, headers=headers
        )
        body: dict[str, Any] = answer.json()
        assert answer.status_code == 200, body
        assert "errors" not in body, body
        return body


@asynccontextmanager
async def gateway(url: str, data_dir: Path) -> AsyncIterator[Gateway]:
    """The gateway over the test's own database (its registry may change under it)."""
    async with running(create_app(make_settings(url, data_dir))) as app:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Gateway(app, http, url)


CHANGES = """
query Changes($after: String, $first: Int) {
  changes(after: $after, first: $first) {
    pageInfo { hasNextPage endCursor }
    nodes { kind subjectType subject release { id importedAt } household { id welfareDecile } }
  }
}
"""


async def drain(
    gateway: Gateway,
    headers: Headers,
    *,
    after: str | None,
    first: int = 1000,
    document: str = CHANGES,
) -> tuple[list[dict[str, Any]], str | None]:
    """Every change after the bookmark ``after``, and the new bookmark (unchanged if none)."""
    nodes: list[dict[str, Any]] = []
    while True:
        body = await gateway.query(headers, document, {"after": after, "first": first})
        page = body["data"]["changes"]
        nodes += page["nodes"]
        after = page["pageInfo"]["endCursor"] or after
        if not page["pageInfo"]["hasNextPage"]:
            return nodes, after
