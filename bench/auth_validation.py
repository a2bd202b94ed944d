"""What bearer-token validation costs per request (run on demand, never by tests).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python -m bench.auth_validation [--rounds N]

Creates a scratch database, migrates it, starts the gateway's lifespan, issues
a real token through ``/oauth/token``, then times
``gateway_state(app).auth.authenticate(request)``: once per round on the cached path
(the token seen before) and on the full path (cache cleared: parse, header
checks, ES256 verification, claims, registry). Prints microseconds per call.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
from starlette.requests import Request

from api.app import create_app
from api.auth import clients as client_ops
from api.cli.db import upgrade_database
from api.settings import Settings
from api.state import gateway_state
from db.engine import plain_url, with_database
from policies import load_policies

POLICIES = Path(__file__).resolve().parent.parent / "policies"


def _request(token: str) -> Request:
    return Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/graphql",
            "headers": [
                (b"content-type", b"application/json"),
                (b"authorization", f"Bearer {token}".encode()),
                (b"user-agent", b"bench"),
            ],
        }
    )


async def bench(server: str, *, rounds: int) -> None:
    name = f"regsosek_auth_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(with_database(server, "postgres"))
    await admin.execute(f"CREATE DATABASE {name}")
    url = with_database(server, name)
    try:
        await upgrade_database(url)
        with tempfile.TemporaryDirectory() as data_dir:
            settings = Settings(
                database_url=url,
                data_dir=Path(data_dir),
                policy_dir=POLICIES,
                secret_key="5f" * 32,
                pseudonym_key="a7" * 32,
            )
            app = create_app(settings)
            async with app.router.lifespan_context(app):
                owner = await asyncpg.connect(url)
                try:
                    credentials = await client_ops.create_client(
                        owner, program="dinsos-pkh", name=None, policies=load_policies(POLICIES)
                    )
                finally:
                    await owner.close()
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                    response = await http.post(
                        "/oauth/token",
                        data={"grant_type": "client_credentials"},
                        auth=(credentials.client_id, credentials.client_secret),
                    )
                token = response.json()["access_token"]
                auth = gateway_state(app).auth
                request = _request(token)
                await auth.authenticate(request)

                started = time.perf_counter()
                for _ in range(rounds):
                    await auth.authenticate(request)
                cached = (time.perf_counter() - started) / rounds * 1e6

                full_rounds = max(1, rounds // 50)
                started = time.perf_counter()
                for _ in range(full_rounds):
                    auth.authenticator._cache.clear()
                    await auth.authenticate(request)
                full = (time.perf_counter() - started) / full_rounds * 1e6
        print(f"cached token: {cached:.2f} µs per authenticate() ({rounds:,} rounds)")
        print(f"full validation (ES256): {full:.1f} µs per authenticate() ({full_rounds:,} rounds)")
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200_000)
    arguments = parser.parse_args()
    asyncio.run(bench(plain_url(os.environ["DATABASE_URL"]), rounds=arguments.rounds))


if __name__ == "__main__":
    main()
