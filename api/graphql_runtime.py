"""The GraphQL side of the app: read pools, the engine, routes, policy reload."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from api.database import read_database_urls
from api.error_response import error_response
from api.graphql import graphql_post
from api.observability.metrics import ReadMetrics
from api.observability.middleware import request_id
from api.quotas import QuotaKeeper
from api.settings import Settings
from audit.events import AuditEvent, Endpoint, Outcome
from audit.reports import ScopeCounter
from audit.roots import audit_roots
from db.engine import create_pool
from db.reader import RegistryReader, refuse_bypassing_role, reset_connection
from errors import BadInput
from policies import PolicyStore
from schema.access import access_value
from schema.execute import Caller, Engine, ValueRoot
from schema.scope_sizes import ScopeSizes
from schema.stats import HouseholdStatsRoot

log = logging.getLogger("regsosek.graphql")
STATIC = Path(__file__).parent / "static"
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self';"
    " style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:;"
    " connect-src 'self'; frame-ancestors 'none';"
    " base-uri 'none'; object-src 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


REPLICA_CONNECT_TIMEOUT = 3.0
"""Seconds before an unreachable replica counts as down (its reads go elsewhere)."""


def command_timeout(settings: Settings) -> float:
    """Seconds asyncpg waits for any statement before giving up on the connection.

    PostgreSQL's ``statement_timeout`` cancels slow statements; this bounds the
    wait when the server does not answer at all (a dead peer, a network cut).
    """
    return settings.statement_timeout_ms / 1000 + 5


def server_settings(settings: Settings) -> dict[str, str]:
    """Session settings of every gateway connection."""
    return {
        "TimeZone": "UTC",
        "jit": "off",
        "statement_timeout": str(settings.statement_timeout_ms),
        "idle_in_transaction_session_timeout": str(max(10_000, 2 * settings.statement_timeout_ms)),
    }


READ_ONLY = {"default_transaction_read_only": "on"}
"""Read pools: every transaction read-only, including the implicit one of a gated statement."""


class AccessRoot:
    """``myAccess``: the caller's program, from the policy in force."""

    needs_database = False

    async def value(
        self, *, caller: Caller, args: Mapping[str, Any], connection: asyncpg.Connection | None
    ) -> Any:
        return access_value(caller.program, client_id=caller.client_id)


def value_roots() -> dict[str, ValueRoot]:
    return {
        "myAccess": AccessRoot(),
        "householdStats": HouseholdStatsRoot(),
    }


def scope_counter(policies: PolicyStore) -> ScopeCounter:
    """The scope sizes of the policy in force, counted at most every ten minutes."""
    sizes = ScopeSizes()

    async def count(connection: asyncpg.Connection) -> list[tuple[str, int, int]]:
        return await sizes.get(connection, policies.current)

    return count


@asynccontextmanager
async def start_graphql(
    app: Starlette, *, settings: Settings, app_url: str, policies: PolicyStore
) -> AsyncIterator[Engine]:
    """Read pools and the engine; rebuilt schemas on every successful policy reload."""
    async with AsyncExitStack() as stack:
        replicas = {}
        for name, url in read_database_urls(settings, app_url).items():
            # No connection up front: a replica that is down does not stop the gateway.
            pool = await create_pool(
                url,
                min_size=0,
                max_size=settings.pool_size,
                server_settings={
                    **server_settings(settings),
                    **READ_ONLY,
                    "application_name": "regsosek-reader",
                },
                command_timeout=command_timeout(settings),
                reset=reset_connection,
                init=refuse_bypassing_role,
                connect_timeout=REPLICA_CONNECT_TIMEOUT,
            )
            stack.push_async_callback(pool.close)
            replicas[name] = pool
        primary = await create_pool(
            app_url,
            max_size=settings.pool_size,
            server_settings={**server_settings(settings), **READ_ONLY},
            command_timeout=command_timeout(settings),
            reset=reset_connection,
        )
        stack.push_async_callback(primary.close)
        reader = RegistryReader(
            primary=primary, replicas=replicas, observer=ReadMetrics(list(replicas))
        )
        stack.push_async_callback(reader.close)
        app.state.read_pools = {
            "reads:primary": primary,
            **{f"reads:{name}": pool for name, pool in replicas.items()},
        }
        engine = Engine(
            reader=reader,
            pseudonym_key=settings.pseudonym_secret(),
            value_roots={
                **value_roots(),
                **audit_roots(scopes=scope_counter(policies), pool=primary),
            },
        )
        app.state.quotas = QuotaKeeper(app.state.primary)
        await app.state.quotas.start()
        stack.push_async_callback(app.state.quotas.close)
        engine.load(policies.current)
        stack.callback(policies.subscribe(engine.load))
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, policies.reload)
            stack.callback(loop.remove_signal_handler, signal.SIGHUP)
        except (NotImplementedError, RuntimeError, ValueError):
            log.warning("SIGHUP policy reload is not available in this process")
        yield engine


async def graphql_get(request: Request) -> Response:
    """GraphiQL for browsers (when enabled); a GET never executes an operation."""
    settings: Settings = request.app.state.settings
    if "text/html" not in request.headers.get("accept", "") or not settings.graphiql_enabled:
        return await refuse_method(request, allow="POST")
    event = AuditEvent(
        endpoint=Endpoint.GRAPHQL,
        outcome=Outcome.PAGE,
        request_id=request_id(request),
        remote_addr=request.client.host if request.client else None,
    )
    await request.app.state.audit.record(event)
    return FileResponse(STATIC / "graphiql.html", headers=PAGE_HEADERS)


async def graphql_other(request: Request) -> Response:
    """Any other method on ``/graphql``: refused with 405, and audited like every request."""
    return await refuse_method(request, allow="GET, POST")


async def refuse_method(request: Request, *, allow: str) -> Response:
    """405 ``BAD_USER_INPUT``: operations are POSTed; audited like every request."""
    event = AuditEvent(
        endpoint=Endpoint.GRAPHQL,
        outcome=Outcome.INVALID,
        error_code=BadInput.code,
        request_id=request_id(request),
        remote_addr=request.client.host if request.client else None,
    )
    await request.app.state.audit.record(event)
    error = BadInput("Send operations with POST and `Content-Type: application/json`.")
    return error_response(error, request_id=event.request_id, status=405, headers={"Allow": allow})


OTHER_METHODS = ["PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]


def graphql_routes() -> list[BaseRoute]:
    return [
        Route("/graphql", graphql_post, methods=["POST"]),
        Route("/graphql", graphql_get, methods=["GET"]),
        Route("/graphql", graphql_other, methods=OTHER_METHODS),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
