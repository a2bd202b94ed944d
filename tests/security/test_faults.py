"""Faults: slow statements, broken connections, a closed database, SIGTERM, unexpected errors.

Each runs on its own clone of the test registry, so nothing here disturbs the
other tests (a PostgreSQL *restart* under load is ``make bench-faults``: it
restarts the machine's shared server, which a test must not do).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from api.app import create_app
from api.state import gateway_state
from db.engine import database_name, with_database
from policies import load_policies
from tests.schema.conftest import Headers, program_token, token_headers
from tests.security.conftest import LEAKS
from tests.support import (
    REPO,
    TEST_PSEUDONYM_KEY,
    TEST_SECRET,
    MakeDatabase,
    _free_port,
    make_settings,
    running,
)

HOUSEHOLDS = {"query": "{ households(first: 3) { nodes { id headName } } }"}


@asynccontextmanager
async def gateway(
    url: str, tmp_path: Path, **overrides: object
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient, Headers]]:
    """An app on ``url`` (settings overridden), a client, and a kec-sumbersari token."""
    settings = make_settings(url, tmp_path, **overrides)
    async with running(create_app(settings)) as app:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40300))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            headers = await token_headers(app, http, owner_url=url, program="kec-sumbersari")
            yield app, http, headers


async def audited(url: str, request_ids: list[str]) -> dict[str, str]:
    """Outcome of each request id that has an audit event."""
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT request_id, outcome FROM audit_events WHERE request_id = ANY($1::text[])",
            request_ids,
        )
    finally:
        await connection.close()
    return {row["request_id"]: row["outcome"] for row in rows}


@asynccontextmanager
async def households_locked(url: str) -> AsyncIterator[None]:
    """Every read of ``households`` waits while the block runs (an exclusive lock)."""
    owner = await asyncpg.connect(url)
    try:
        transaction = owner.transaction()
        await transaction.start()
        await owner.execute("LOCK TABLE households IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            await transaction.rollback()
    finally:
        await owner.close()


async def test_a_statement_past_its_timeout_is_too_complex_and_frees_its_connection(
    make_database: MakeDatabase, tmp_path: Path
) -> None:
    """Decided: a statement timeout is QUERY_TOO_COMPLEX (400): the request asked for more
    than the gateway spends on one; retrying it unchanged would only load the database."""
    url = await make_database()
    async with gateway(url, tmp_path, statement_timeout_ms=300, pool_size=2) as (_, http, headers):
        timed_out = []
        async with households_locked(url):
            for _ in range(4):  # twice the pool: a leaked connection would make this hang
                started = time.monotonic()
                answer = await asyncio.wait_for(
                    http.post("/graphql", json=HOUSEHOLDS, headers=headers), 10
                )
                assert time.monotonic() - started < 3
                assert answer.status_code == 400, answer.text
                assert answer.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
                assert "ran longer" in answer.text
                assert LEAKS.search(answer.text) is None
                timed_out.append(answer.headers["x-request-id"])
        served = await asyncio.wait_for(http.post("/graphql", json=HOUSEHOLDS, headers=headers), 10)
        assert served.status_code == 200, served.text
    assert set((await audited(url, timed_out)).values()) == {"too_complex"}


async def terminate_backends(url: str) -> int:
    owner = await asyncpg.connect(url)
    try:
        killed: int = await owner.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            database_name(url),
        )
    finally:
        await owner.close()
    return killed


async def test_broken_connections_are_replaced_without_a_500(
    make_database: MakeDatabase, tmp_path: Path
) -> None:
    """Every connection of the gateway (pools, audit writer) killed under it."""
    url = await make_database()
    async with gateway(url, tmp_path) as (_, http, headers):
        assert (await http.post("/graphql", json=HOUSEHOLDS, headers=headers)).status_code == 200
        assert await terminate_backends(url) >= 2
        answers = []
        for _ in range(10):
            answers.append(await http.post("/graphql", json=HOUSEHOLDS, headers=headers))
            if answers[-1].status_code == 200:
                break
            await asyncio.sleep(0.2)
        assert {a.status_code for a in answers} <= {200, 503}, [a.text for a in answers]
        assert answers[-1].status_code == 200
        assert (await http.get("/readyz")).status_code == 200
    ok = [a.headers["x-request-id"] for a in answers if a.status_code == 200]
    assert set((await audited(url, ok)).values()) == {"allowed"}


async def set_connections(url: str, *, allowed: bool) -> None:
    admin = await asyncpg.connect(with_database(url, "postgres"))
    try:
        name = database_name(url)
        await admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS {str(allowed).lower()}")
        if not allowed:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )
    finally:
        await admin.close()


async def test_a_database_that_goes_away_is_unavailable_then_served_again(
    make_database: MakeDatabase, tmp_path: Path
) -> None:
    """/readyz follows the database; requests get 503 UNAVAILABLE, then 200 once it is back."""
    url = await make_database()
    async with gateway(url, tmp_path) as (_, http, headers):
        try:
            await set_connections(url, allowed=False)
            ready = await http.get("/readyz")
            assert ready.status_code == 503
            assert LEAKS.search(ready.text) is None
            down = await http.post("/graphql", json=HOUSEHOLDS, headers=headers)
            assert down.status_code == 503, down.text
            assert down.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
            assert LEAKS.search(down.text) is None
            assert (await http.get("/healthz")).status_code == 200
        finally:
            await set_connections(url, allowed=True)
        back_at = time.monotonic()
        while True:
            answer = await http.post("/graphql", json=HOUSEHOLDS, headers=headers)
            if answer.status_code == 200:
                break
            assert answer.status_code == 503, answer.text
            assert time.monotonic() - back_at < 10, "not served again within 10 s"
            await asyncio.sleep(0.1)
        assert (await http.get("/readyz")).status_code == 200
    assert await audited(url, [answer.headers["x-request-id"]]) == {
        answer.headers["x-request-id"]: "allowed"
    }


async def test_an_unexpected_error_is_internal_with_a_logged_request_id(
    make_database: MakeDatabase, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The caller sees INTERNAL and an id; the log has the id and the traceback, nothing leaks."""
    url = await make_database()
    secret = "SELECT nik FROM persons WHERE kk_number = '3509'"

    async def boom(request: Request) -> Response:
        raise RuntimeError(secret)

    settings = make_settings(url, tmp_path)
    app = create_app(settings)
    app.router.add_route("/boom", boom, methods=["GET"])
    async with running(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            headers = await token_headers(app, http, owner_url=url, program="kec-sumbersari")
            engine = gateway_state(app).engine

            async def failing_execute(*args: object, **kwargs: object) -> object:
                raise RuntimeError(secret)

            with caplog.at_level(logging.ERROR):
                engine.execute = failing_execute  # type: ignore[method-assign,assignment]
                graphql = await http.post("/graphql", json=HOUSEHOLDS, headers=headers)
                route = await http.get("/boom")
    for answer in (graphql, route):
        assert answer.status_code == 500
        error = answer.json()["errors"][0]
        assert error["extensions"]["code"] == "INTERNAL"
        request_id = error["extensions"]["requestId"]
        assert request_id == answer.headers["x-request-id"]
        assert "SELECT" not in answer.text
        assert "persons" not in answer.text
        assert "Traceback" not in answer.text
        logged = [r for r in caplog.records if request_id in r.getMessage()]
        assert logged, f"request id {request_id} not in the logs"
        assert logged[0].exc_info is not None
        assert secret in str(logged[0].exc_info[1])
    assert await audited(url, [graphql.headers["x-request-id"]]) == {
        graphql.headers["x-request-id"]: "error"
    }


def serve(url: str, port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "DATABASE_URL": url,
        "REGSOSEK_DATA_DIR": str(data_dir),
        "REGSOSEK_POLICY_DIR": str(REPO / "policies"),
        "REGSOSEK_SECRET_KEY": TEST_SECRET,
        "REGSOSEK_PSEUDONYM_KEY": TEST_PSEUDONYM_KEY,
        "REGSOSEK_ISSUER": f"http://127.0.0.1:{port}",
        "REGSOSEK_AUDIT_FLUSH_MS": "0.5",
    }
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "regsosek"), "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def test_sigterm_finishes_in_flight_requests_and_their_audit_events(
    make_database: MakeDatabase, tmp_path: Path
) -> None:
    url = await make_database()
    port = _free_port()
    process = serve(url, port, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=20) as http:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "regsosek serve did not start"
                await asyncio.sleep(0.2)
            headers = await program_token(
                http,
                owner_url=url,
                program="kec-sumbersari",
                policies=load_policies(REPO / "policies"),
            )
            async with households_locked(url):
                in_flight = asyncio.create_task(
                    http.post("/graphql", json=HOUSEHOLDS, headers=headers)
                )
                await asyncio.sleep(0.5)  # the request now waits for the lock
                process.send_signal(signal.SIGTERM)
                await asyncio.sleep(0.5)
                assert process.poll() is None, "exited with a request in flight"
                assert not in_flight.done()
            answer = await in_flight
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["data"]["households"]["nodes"]) == 3
        # uvicorn re-raises the signal once it has shut down cleanly (lifespan included).
        exit_code = await asyncio.to_thread(process.wait, 20)
        assert exit_code in (0, -signal.SIGTERM)
        stderr = process.stderr.read().decode() if process.stderr else ""
        assert "Traceback" not in stderr, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
    request_id = answer.headers["x-request-id"]
    assert await audited(url, [request_id]) == {request_id: "allowed"}
