"""What every test world shares: the constants of the test gateway, databases made and
dropped on the suite's server, settings, running gateways (in-process, over their own
database, or on a real port), and the ``regsosek`` command.

The fixtures that hand these out are in ``tests/conftest.py``; forged tokens and a
stand-in OIDC provider for the authentication tests are in ``tests.tokens``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.app import create_app
from api.auth import clients as client_ops
from api.settings import Settings
from api.state import gateway_state
from db.engine import database_name, with_database, with_user
from policies import load_policies

REPO = Path(__file__).resolve().parent.parent
POLICY_DIR = REPO / "policies"
TEST_HOUSEHOLDS = 1500
TEST_SEED = 20221015
TEST_SECRET = "5f" * 32
TEST_PSEUDONYM_KEY = "a7" * 32
ISSUER = "http://testserver"
AUDIENCE = "regsosek-gateway"
REGSOSEK = str(Path(sys.executable).with_name("regsosek"))

MakeDatabase = Callable[[], Awaitable[str]]
"""``make_database`` and ``new_database``: each call makes a database and returns its URL."""


async def _admin(server_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(with_database(server_url, "postgres"))


async def create_database(server_url: str, *, template: str | None = None) -> str:
    name = f"regsosek_test_{uuid.uuid4().hex[:10]}"
    admin = await _admin(server_url)
    try:
        clause = f" TEMPLATE {template}" if template else ""
        await admin.execute(f"CREATE DATABASE {name}{clause}")
    finally:
        await admin.close()
    return with_database(server_url, name)


async def drop_database(url: str) -> None:
    admin = await _admin(url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {database_name(url)} WITH (FORCE)")
    finally:
        await admin.close()


class Clones:
    """Clones of one template for one test process, made off the tests' clock.

    One clone is kept ready ahead of need (the next ``take`` finds it made while
    the test before ran), and each clone given back is dropped in the background;
    both over one admin connection instead of a new one per statement.
    ``close`` drops the ready clone and waits for every drop.
    """

    def __init__(self, server_url: str, template: str) -> None:
        self._server_url = server_url
        self._template = template
        self._admin: asyncpg.Connection | None = None
        self._turn = asyncio.Lock()
        """One statement at a time on the admin connection."""
        self._ready: asyncio.Task[str] | None = None
        self._drops: set[asyncio.Task[None]] = set()

    async def _execute(self, statement: str) -> None:
        async with self._turn:
            if self._admin is None or self._admin.is_closed():
                self._admin = await _admin(self._server_url)
            await self._admin.execute(statement)

    async def _make(self) -> str:
        name = f"regsosek_test_{uuid.uuid4().hex[:10]}"
        await self._execute(f"CREATE DATABASE {name} TEMPLATE {self._template}")
        return with_database(self._server_url, name)

    async def take(self) -> str:
        """A new clone of the template (the one made ahead, if any), and the next one started."""
        ready, self._ready = self._ready, None
        url = await (ready if ready is not None else self._make())
        self._ready = asyncio.ensure_future(self._make())
        return url

    def give_back(self, url: str) -> None:
        """Drop ``url`` in the background (``close`` waits for it)."""
        drop = asyncio.ensure_future(
            self._execute(f"DROP DATABASE IF EXISTS {database_name(url)} WITH (FORCE)")
        )
        self._drops.add(drop)
        drop.add_done_callback(self._drops.discard)

    async def close(self) -> None:
        ready, self._ready = self._ready, None
        if ready is not None:
            self.give_back(await ready)
        try:
            await asyncio.gather(*self._drops)
        finally:
            if self._admin is not None:
                await self._admin.close()


def make_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    """Settings for an app under test: fixed secrets, the repository's policies."""
    values: dict[str, object] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "policy_dir": POLICY_DIR,
        "secret_key": TEST_SECRET,
        "pseudonym_key": TEST_PSEUDONYM_KEY,
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "audit_flush_ms": 0.5,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[Starlette]:
    """Run the app's lifespan (start-up and shutdown) around a block."""
    async with app.router.lifespan_context(app):
        yield app


async def whoami(request: Request) -> Response:
    """A protected route as the GraphQL route protects itself: authenticate, then read the body."""
    principal = await gateway_state(request.app).auth.authenticate(request)
    body = await request.body()
    return JSONResponse(
        {
            "client_id": principal.client_id,
            "program": principal.program,
            "agency": principal.agency,
            "issuer": principal.issuer,
            "token_id": principal.token_id,
            "expires_at": principal.expires_at.isoformat(),
            "body_bytes": len(body),
        }
    )


def gateway_app(settings: Settings) -> Starlette:
    app = create_app(settings)
    app.router.routes.append(Route("/whoami", whoami, methods=["GET", "POST"]))
    return app


@dataclass
class Gateway:
    """A running gateway over its own database, and an owner connection to that database."""

    app: Starlette
    settings: Settings
    url: str
    owner: asyncpg.Connection

    def http(self, address: str = "127.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url=ISSUER)

    async def client(self, program: str = "dinsos-pkh") -> client_ops.Credentials:
        return await client_ops.create_client(
            self.owner, program=program, name=None, policies=load_policies(POLICY_DIR)
        )

    async def token(self, credentials: client_ops.Credentials) -> str:
        async with self.http() as http:
            response = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(credentials.client_id, credentials.client_secret),
            )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    async def whoami(self, token: str) -> httpx.Response:
        async with self.http() as http:
            return await http.get("/whoami", headers={"Authorization": f"Bearer {token}"})

    async def refreshed(self) -> None:
        """Reload the registry and keys now, as the background tasks would within seconds."""
        await gateway_state(self.app).auth.registry.refresh()
        await gateway_state(self.app).auth.keys.refresh()

    async def audit_events(self) -> list[asyncpg.Record]:
        return list(
            await self.owner.fetch(
                "SELECT * FROM audit_events WHERE endpoint = 'token' ORDER BY seq"
            )
        )


@asynccontextmanager
async def running_gateway(url: str, data_dir: Path, **overrides: Any) -> AsyncIterator[Gateway]:
    settings = make_settings(url, data_dir, **overrides)
    app = gateway_app(settings)
    owner = await asyncpg.connect(url)
    try:
        async with app.router.lifespan_context(app):
            yield Gateway(app=app, settings=settings, url=url, owner=owner)
    finally:
        await owner.close()


def app_role_url(url: str) -> str:
    return with_user(url, user="regsosek_app", password=None)


def cli_env(url: str, data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("REGSOSEK_") and key != "DATABASE_URL"
    }
    env.update(
        {
            "DATABASE_URL": url,
            "REGSOSEK_DATA_DIR": str(data_dir),
            "REGSOSEK_POLICY_DIR": str(POLICY_DIR),
            "REGSOSEK_SECRET_KEY": TEST_SECRET,
            "REGSOSEK_PSEUDONYM_KEY": TEST_PSEUDONYM_KEY,
            "REGSOSEK_ISSUER": ISSUER,
            "COLUMNS": "200",
        }
    )
    return env


async def regsosek(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run the real ``regsosek`` command; its exit code, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        REGSOSEK,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


@dataclass
class LiveServer:
    """The gateway on a real loopback port (uvicorn in a thread), for browsers and curl."""

    url: str
    settings: Settings


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def live_server(settings: Settings) -> Iterator[LiveServer]:
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", settings)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
