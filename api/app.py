"""The Starlette application: routes, lifespan, and the one place errors become responses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.database import app_database_url
from api.settings import Settings, get_settings
from db.engine import create_pool


async def healthz(request: Request) -> Response:
    """Liveness: the process answers."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: the database answers."""
    pool = request.app.state.primary
    try:
        async with pool.acquire(timeout=2) as connection:
            await connection.fetchval("SELECT 1", timeout=2)
    except Exception:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ready", "database": "ok"})


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    if settings.database_url is None:
        raise RuntimeError("create_app needs DATABASE_URL (regsosek serve sets it)")
    owner_url = settings.database_url

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.primary = await create_pool(
            app_database_url(settings, owner_url), max_size=settings.pool_size
        )
        try:
            yield
        finally:
            await app.state.primary.close()

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
