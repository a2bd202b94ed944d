"""The HTTP floors: one SQL statement behind Starlette + asyncpg, JSON text passed through.

No authentication, no policy, no audit: the best any Python gateway could do.
``http-floor`` runs minimal hand-written SQL (``bench.minimal``) as the owner;
``http-floor-rls`` runs the gateway's own statement as ``regsosek_app`` under
RLS. Its sessions run with ``jit = off`` and ``plan_cache_mode =
force_generic_plan`` (each statement planned once per connection), as the gateway's
read sessions do, from a pool of 10 connections (``BENCH_FLOOR_POOL``), the gateway's
default.
``BENCH_FLOOR_SPEC`` names a JSON file ``{query: {sql, args, slot, kind, root}}``
(written by ``bench.run``); ``POST /graphql/<query>`` takes the same body the
gateway takes and binds the request's variable at ``slot``.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SPEC = orjson.loads(Path(os.environ["BENCH_FLOOR_SPEC"]).read_bytes())
for entry in SPEC.values():
    entry["args"] = [
        datetime.date.fromisoformat(a["date"]) if isinstance(a, dict) else a for a in entry["args"]
    ]
pool: asyncpg.Pool


async def query(request: Request) -> Response:
    spec = SPEC.get(request.path_params["name"])
    if spec is None:
        return Response(b'{"errors":[{"message":"no such query"}]}', status_code=404)
    args = list(spec["args"])
    if spec["slot"] is not None:
        value = next(iter(orjson.loads(await request.body())["variables"].values()))
        args[spec["slot"]] = int(value) if spec["kind"] == "int" else str(value)
    async with pool.acquire() as connection:
        text = await connection.fetchval(spec["sql"], *args)
    body = b'{"data":{"' + spec["root"].encode() + b'":' + (text or "null").encode() + b"}}"
    return Response(body, media_type="application/json")


async def no_reset(connection: asyncpg.Connection) -> None:
    """Like the gateway's pool: no per-release reset round trip."""


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    global pool
    dsn = os.environ["BENCH_FLOOR_DSN"]
    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=int(os.environ.get("BENCH_FLOOR_POOL", "10")),
        reset=no_reset,
        server_settings={"jit": "off", "plan_cache_mode": "force_generic_plan"},
    )
    yield
    await pool.close()


app = Starlette(routes=[Route("/graphql/{name}", query, methods=["POST"])], lifespan=lifespan)
