"""An agency system gets a token with one curl command and calls /graphql with it (real HTTP)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import uvicorn
from starlette.applications import Starlette

from api.auth import clients as client_ops
from policies import load_policies
from tests.support import gateway_app, make_settings


@asynccontextmanager
async def serving(app: Starlette, sock: socket.socket) -> AsyncIterator[None]:
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), "the server did not start"
            await asyncio.sleep(0.05)
        yield
    finally:
        server.should_exit = True
        await task


async def curl(*args: str) -> dict[str, object]:
    process = await asyncio.create_subprocess_exec(
        "curl",
        "--silent",
        "--show-error",
        "--fail-with-body",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode == 0, (stdout, stderr)
    answer: dict[str, object] = json.loads(stdout)
    return answer


async def test_an_agency_system_gets_a_token_with_one_curl_and_calls_graphql(
    new_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await new_database()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = make_settings(url, tmp_path, issuer=base)
    owner = await asyncpg.connect(url)
    try:
        credentials = await client_ops.create_client(
            owner, program="dinsos-pkh", name="SIKS-NG", policies=load_policies(settings.policy_dir)
        )
    finally:
        await owner.close()

    async with serving(gateway_app(settings), sock):
        issued = await curl(
            "-u",
            f"{credentials.client_id}:{credentials.client_secret}",
            "-d",
            "grant_type=client_credentials",
            f"{base}/oauth/token",
        )
        assert issued["token_type"] == "Bearer"
        token = str(issued["access_token"])

        answer = await curl(
            "-H",
            f"Authorization: Bearer {token}",
            "-H",
            "Content-Type: application/json",
            "--data",
            json.dumps({"query": "{ myAccess { client agency program } }"}),
            f"{base}/graphql",
        )
        assert answer["data"] == {
            "myAccess": {
                "client": credentials.client_id,
                "agency": "dinsos-jember",
                "program": "dinsos-pkh",
            }
        }
