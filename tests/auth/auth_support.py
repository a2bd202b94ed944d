"""Helpers of the authentication tests: databases, running gateways, the CLI, forged tokens."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from joserfc.jws import JWSRegistry
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

REPO = Path(__file__).resolve().parents[2]
POLICY_DIR = REPO / "policies"
SECRET = "5f" * 32
PSEUDONYM_KEY = "a7" * 32
ISSUER = "http://testserver"
AUDIENCE = "regsosek-gateway"
REGSOSEK = str(Path(sys.executable).with_name("regsosek"))


async def _admin(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(with_database(url, "postgres"))


async def create_database(server_url: str, *, template: str | None = None) -> str:
    name = f"regsosek_auth_{uuid.uuid4().hex[:10]}"
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


def auth_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "policy_dir": POLICY_DIR,
        "secret_key": SECRET,
        "pseudonym_key": PSEUDONYM_KEY,
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "audit_flush_ms": 0.5,
    }
    values.update(overrides)
    return Settings(**values)


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
    settings = auth_settings(url, data_dir, **overrides)
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
            "REGSOSEK_SECRET_KEY": SECRET,
            "REGSOSEK_PSEUDONYM_KEY": PSEUDONYM_KEY,
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


# -- Forging tokens ----------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signing_input(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())


def sign(header: dict[str, Any], claims: dict[str, Any], key: Any) -> str:
    """A compact JWS signed with ``key`` under ``header["alg"]``, whatever else the header says."""
    data = signing_input(header, claims)
    algorithm = JWSRegistry.algorithms[header["alg"]]
    return data + "." + b64url(algorithm.sign(data.encode("ascii"), key))


def hmac_token(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """An HS256 token keyed with ``secret`` (for key-confusion forgeries)."""
    data = signing_input(header, claims)
    return data + "." + b64url(hmac.new(secret, data.encode(), hashlib.sha256).digest())


def access_claims(client: str, /, **changes: Any) -> dict[str, Any]:
    """The claims of a valid gateway access token; ``changes`` set (or, with None, drop) claims."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": client,
        "client_id": client,
        "aud": AUDIENCE,
        "exp": now + 300,
        "iat": now,
        "nbf": now,
        "jti": uuid.uuid4().hex,
        "scope": "registry.read",
        "program": "dinsos-pkh",
        "agency": "dinsos-jember",
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


# -- A JWKS server on loopback (an agency's OIDC provider, or an attacker's) ---------------------


class JwksServer:
    """Serves ``document`` as JSON at every path of ``http://127.0.0.1:<port>``; counts requests."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits.append(self.path)
                body = json.dumps(server.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> JwksServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join()
