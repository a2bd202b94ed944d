"""The issue's "done when", through HTTP: after a burst of concurrent queries from several
programs the chain verifies, ``disclosures`` lists exactly the programs that received a
household, and one row edited afterwards is named by the verifier."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx

from api.app import create_app
from audit.verify import verify_chain
from tests.audit.support import ChainDatabase, StaticKey
from tests.schema.conftest import gql, token_headers
from tests.support import make_settings, running

PROGRAMS = ("dinsos-pkh", "dp3akb-keluarga", "kec-sumbersari", "bps-admin")


async def test_burst_then_disclosures_then_an_edit_is_named(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    app = create_app(make_settings(url, tmp_path))
    async with running(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            headers = {
                program: await token_headers(app, http, owner_url=url, program=program)
                for program in (*PROGRAMS, "inspektorat-audit")
            }
            status, body = await gql(
                http, headers["kec-sumbersari"], "{ households(first: 1) { nodes { id } } }"
            )
            assert status == 200, body
            household = body["data"]["households"]["nodes"][0]["id"]
            lookup = "query One($id: ID!) { household(id: $id) { id headName } }"

            async def ask(program: str) -> bool:
                status, body = await gql(http, headers[program], lookup, {"id": household})
                assert status == 200, body
                return body["data"]["household"] is not None

            async def browse(program: str) -> bool:
                status, body = await gql(
                    http, headers[program], "{ households(first: 3) { nodes { id } } }"
                )
                assert status == 200, body
                return household in {node["id"] for node in body["data"]["households"]["nodes"]}

            asked = [(program, ask(program)) for program in PROGRAMS]
            browsed = [(program, browse(program)) for program in PROGRAMS for _ in range(5)]
            calls = [*asked, *browsed]
            answers = await asyncio.gather(*(call for _, call in calls))
            received = {"kec-sumbersari"}
            received |= {program for (program, _), saw in zip(calls, answers, strict=True) if saw}

            status, body = await gql(
                http,
                headers["inspektorat-audit"],
                "query D($id: ID!) { disclosures(householdId: $id) { sequence program } }",
                {"id": household},
            )
            assert status == 200, body
            listed = {item["program"] for item in body["data"]["disclosures"]}
            assert listed == received
            assert len(received) >= 2

    chain = ChainDatabase(url=url, key=StaticKey())
    report = await chain.verify()
    assert report.ok, report.damage
    assert report.stored_events >= 1 + len(PROGRAMS) * 7
    owner = await asyncpg.connect(url)
    try:
        seq = await owner.fetchval(
            "SELECT seq FROM audit_events WHERE endpoint = 'graphql' ORDER BY seq LIMIT 1 OFFSET 3"
        )
        assert (await verify_chain(owner)).ok
    finally:
        await owner.close()
    await chain.tamper(
        "UPDATE audit_events SET program = 'not-' || program WHERE seq = $1", args=[(seq,)]
    )
    report = await chain.verify()
    assert report.damage is not None
    assert (report.damage.seq, report.damage.kind) == (seq, "edited")
