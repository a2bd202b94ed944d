"""The Starlette application: routes, lifespan, and the one place errors become responses."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from http import HTTPStatus
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.auth.keys import KeyStore
from api.auth.service import auth_routes, start_auth
from api.console import console_routes
from api.database import app_database_url
from api.error_response import error_response
from api.graphql import graphql_routes
from api.graphql.documents import TrustedDocuments
from api.graphql.startup import start_graphql
from api.observability.audit import AuditMetrics
from api.observability.logs import configure_logging
from api.observability.metrics import metrics, observing
from api.observability.middleware import RequestObserver, request_id
from api.observability.tracing import start_tracing
from api.quotas import QuotaKeeper
from api.settings import Settings, get_settings
from api.state import GatewayState, gateway_state
from audit.maintenance import PendingListCleaner
from audit.signing import KeySourceSigner
from audit.sql.chain import connector
from audit.threaded import ThreadedAuditWriter
from audit.writer import AuditWriter
from db.engine import create_pool
from errors import BadInput, GatewayError, Internal, Unavailable
from policies import PolicyStore

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter


def freeze_long_lived_objects() -> None:
    """Keep what start-up built (every program's schema, the policies) out of the garbage
    collector's generations, so that collections under load stop walking it: it was the
    source of the long tails (p95/p99) in the benchmark. Run again after a policy reload,
    unfreezing first so that the replaced schemas can be collected."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


async def healthz(request: Request) -> Response:
    """Liveness: the process answers."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: the database answers."""
    pool = gateway_state(request.app).primary
    try:
        async with pool.acquire(timeout=2) as connection:
            await connection.fetchval("SELECT 1", timeout=2)
    except Exception:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ready", "database": "ok"})


log = logging.getLogger("regsosek.app")


async def gateway_error(request: Request, error: Exception) -> Response:
    """Expected errors as GraphQL-over-HTTP error bodies, with their status and headers."""
    assert isinstance(error, GatewayError)
    return error_response(error, request_id=request_id(request))


async def http_error(request: Request, error: Exception) -> Response:
    """Starlette's own refusals (unknown route, wrong method) in the same shape, nothing more."""
    assert isinstance(error, HTTPException)
    status = error.status_code
    kind = BadInput if status < 500 else Unavailable if status == 503 else Internal
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    refusal = kind(f"{phrase}.", headers=dict(error.headers or {}))
    return error_response(refusal, request_id=request_id(request), status=status)


async def internal_error(request: Request, error: Exception) -> Response:
    """Anything unhandled: INTERNAL with a request id, logged with its traceback, never shown."""
    minted = request_id(request)
    log.error(
        "request %s failed: %s %s",
        minted,
        request.method,
        request.url.path,
        exc_info=error,
        extra={"request_id": minted},
    )
    return error_response(Internal("The gateway failed to answer."), request_id=minted)


@asynccontextmanager
async def audit_writer(
    settings: Settings, *, url: str, keys: KeyStore
) -> AsyncIterator[AuditWriter | ThreadedAuditWriter]:
    """The audit writer, started (a gateway that cannot audit does not serve), closed at the end;
    on a thread of its own when ``audit_writer_thread`` is set."""
    kind = ThreadedAuditWriter if settings.audit_writer_thread else AuditWriter
    writer = kind(
        connect=connector(url, statement_timeout_ms=settings.statement_timeout_ms),
        signer=KeySourceSigner(keys),
        checkpoint_every=settings.audit_checkpoint_every,
        checkpoint_seconds=settings.audit_checkpoint_seconds,
        flush_ms=settings.audit_flush_ms,
        observer=AuditMetrics(),
    )
    await writer.start()
    cleaner: PendingListCleaner | None = None
    if settings.audit_index_merge_seconds > 0:
        cleaner = PendingListCleaner(
            connect=connector(url, statement_timeout_ms=settings.statement_timeout_ms),
            every=settings.audit_index_merge_seconds,
        )
        cleaner.start()
    try:
        yield writer
    finally:
        if cleaner is not None:
            await cleaner.close()
        await writer.close()


def create_app(
    settings: Settings | None = None, *, span_exporter: SpanExporter | None = None
) -> Starlette:
    """The gateway. Traced when an OTLP endpoint is configured (``api.observability.tracing``)
    or ``span_exporter`` is given (tests: an in-memory exporter)."""
    settings = settings or get_settings()
    if settings.database_url is None:
        raise RuntimeError("create_app needs DATABASE_URL (regsosek serve sets it)")
    owner_url = settings.database_url
    configure_logging(json=settings.json_logs, level=settings.log_level)
    tracing = start_tracing(settings, exporter=span_exporter)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app_url = app_database_url(settings, owner_url)
        async with AsyncExitStack() as stack:
            if settings.switch_interval_ms is not None:
                stack.callback(sys.setswitchinterval, sys.getswitchinterval())
                sys.setswitchinterval(settings.switch_interval_ms / 1000)
            if tracing is not None:
                tracing.start()
                stack.callback(tracing.close)
            primary = await create_pool(app_url, max_size=settings.pool_size)
            stack.push_async_callback(primary.close)
            policies = PolicyStore(settings.resolved_policy_dir())
            auth = await stack.enter_async_context(
                start_auth(
                    pool=primary,
                    settings=settings,
                    owner_url=owner_url,
                    policies=lambda: policies.current,
                )
            )
            writer = await stack.enter_async_context(
                audit_writer(settings, url=app_url, keys=auth.keys)
            )
            quotas = QuotaKeeper(primary)
            await quotas.start()
            stack.push_async_callback(quotas.close)
            graphql = await stack.enter_async_context(
                start_graphql(
                    settings=settings,
                    app_url=app_url,
                    policies=policies,
                    quotas=quotas,
                    signing=auth.keys,
                )
            )
            sampler = await stack.enter_async_context(
                observing(
                    policies=policies,
                    pools={"primary": primary, **graphql.read_pools},
                    multiprocess_dir=settings.prometheus_multiproc_dir,
                )
            )
            app.state.gateway = GatewayState(
                settings=settings,
                primary=primary,
                policies=policies,
                auth=auth,
                audit=writer,
                engine=graphql.engine,
                read_pools=graphql.read_pools,
                quotas=quotas,
                pool_sampler=sampler,
                documents=TrustedDocuments(primary),
            )
            freeze_long_lived_objects()
            stack.callback(policies.subscribe(lambda _: freeze_long_lived_objects()))
            yield

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *auth_routes(),
        *graphql_routes(),
        *console_routes(),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            GatewayError: gateway_error,
            HTTPException: http_error,
            Exception: internal_error,
        },
        middleware=[
            *([] if tracing is None else [tracing.middleware()]),
            Middleware(RequestObserver, tracing=tracing is not None),
        ],
    )
