"""Quotas from the policy: requests per minute and rows per day, per client, across workers."""

from __future__ import annotations

import shutil
from pathlib import Path

import asyncpg
import httpx
import yaml

from api.app import create_app
from api.state import gateway_state
from tests.schema.conftest import error_codes, token_headers
from tests.support import REPO, MakeDatabase, make_settings, running


def tight_policies(tmp_path: Path, *, requests_per_minute: int, rows_per_day: int) -> Path:
    """A copy of the shipped policies with small quotas for kec-sumbersari."""
    directory = tmp_path / "policies"
    shutil.copytree(
        REPO / "policies", directory, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    program_file = directory / "programs" / "kec-sumbersari.yaml"
    program = yaml.safe_load(program_file.read_text())
    program["quota"] = {"requests_per_minute": requests_per_minute, "rows_per_day": rows_per_day}
    program_file.write_text(yaml.safe_dump(program, sort_keys=False))
    return directory


QUERY = {"query": "{ households(first: 4) { nodes { id } } }"}


async def test_requests_over_the_minute_quota_are_rate_limited_and_audited(
    make_database: MakeDatabase, tmp_path: Path
) -> None:
    url = await make_database()
    settings = make_settings(
        url,
        tmp_path,
        policy_dir=tight_policies(tmp_path, requests_per_minute=3, rows_per_day=10_000),
    )
    async with running(create_app(settings)) as app:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40001))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            headers = await token_headers(app, http, owner_url=url, program="kec-sumbersari")
            statuses = [
                (await http.post("/graphql", json=QUERY, headers=headers)).status_code
                for _ in range(3)
            ]
            refused = await http.post("/graphql", json=QUERY, headers=headers)
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert error_codes(refused.json()) == ["RATE_LIMITED"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    connection = await asyncpg.connect(url)
    try:
        outcome = await connection.fetchval(
            "SELECT outcome FROM audit_events WHERE request_id = $1",
            refused.headers["x-request-id"],
        )
    finally:
        await connection.close()
    assert outcome == "rate_limited"


async def test_rows_over_the_daily_quota_are_refused_after_the_page_that_crossed_it(
    make_database: MakeDatabase, tmp_path: Path
) -> None:
    url = await make_database()
    settings = make_settings(
        url, tmp_path, policy_dir=tight_policies(tmp_path, requests_per_minute=100, rows_per_day=6)
    )
    async with running(create_app(settings)) as app:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40002))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            headers = await token_headers(app, http, owner_url=url, program="kec-sumbersari")
            first = await http.post("/graphql", json=QUERY, headers=headers)
            second = await http.post("/graphql", json=QUERY, headers=headers)
            third = await http.post("/graphql", json=QUERY, headers=headers)
            other = await token_headers(app, http, owner_url=url, program="kec-sumbersari")
            fresh_client = await http.post("/graphql", json=QUERY, headers=other)
    assert [first.status_code, second.status_code, third.status_code] == [200, 200, 429]
    assert error_codes(third.json()) == ["RATE_LIMITED"]
    assert int(third.headers["retry-after"]) > 60
    assert fresh_client.status_code == 200


async def test_two_workers_share_one_quota(make_database: MakeDatabase, tmp_path: Path) -> None:
    url = await make_database()
    settings = make_settings(
        url,
        tmp_path,
        policy_dir=tight_policies(tmp_path, requests_per_minute=4, rows_per_day=10_000),
    )
    async with running(create_app(settings)) as one, running(create_app(settings)) as two:
        clients = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 40003)),
                base_url="http://testserver",
            )
            for app in (one, two)
        ]
        try:
            headers = await token_headers(one, clients[0], owner_url=url, program="kec-sumbersari")
            used = [
                (await clients[0].post("/graphql", json=QUERY, headers=headers)).status_code
                for _ in range(4)
            ]
            await gateway_state(one).quotas.sync()
            await gateway_state(two).quotas.sync()
            refused_elsewhere = await clients[1].post("/graphql", json=QUERY, headers=headers)
        finally:
            for client in clients:
                await client.aclose()
    assert used == [200] * 4
    assert refused_elsewhere.status_code == 429
