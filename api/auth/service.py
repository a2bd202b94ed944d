"""Authentication as the app runs it: start-up, background refreshes, routes.

``start_auth`` is entered by the app's lifespan once the primary pool is open;
it yields the ``AuthService`` (whose ``KeyStore`` also signs audit checkpoints),
which the app keeps in its state (``api.state``). ``auth_routes()`` are the
token endpoint, JWKS and the RFC 8414 metadata.

The first signing key is ensured here, over one short owner connection
(``DATABASE_URL``, which the app needs anyway to derive the gateway role's
login): under an advisory lock, so workers starting together create exactly
one. The request path never holds an owner connection, and the gateway role
can only read ``signing_keys``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.auth import keys as keys_module
from api.auth import registry as registry_module
from api.auth.background import start_periodic, stop_periodic
from api.auth.external import ExternalIssuers, jwks_http_client
from api.auth.keys import KeyStore, ensure_signing_key
from api.auth.policy_view import PolicySource
from api.auth.principal import Principal
from api.auth.ratelimit import FailedAuthLimiter, FailureLimits
from api.auth.registry import ClientRegistry
from api.auth.server import AUTH_METHODS, GRANT_TYPE, ClientProfile, TokenServer
from api.auth.token_endpoint import TokenEndpoint
from api.auth.tokens import REGISTRY_SCOPE, TokenSettings, mint_access_token
from api.auth.validator import Authenticator
from api.settings import Environment, Settings
from api.state import gateway_state
from db.engine import plain_url

TOKEN_PATH = "/oauth/token"  # noqa: S105 (a path, not a password)
JWKS_PATH = "/.well-known/jwks.json"
METADATA_PATH = "/.well-known/oauth-authorization-server"


@dataclass(frozen=True, slots=True)
class AuthService:
    keys: KeyStore
    registry: ClientRegistry
    authenticator: Authenticator
    token_endpoint: TokenEndpoint
    limiter: FailedAuthLimiter
    metadata: dict[str, Any]

    async def authenticate(self, request: HTTPConnection) -> Principal:
        """The caller, from the request's bearer token; raises ``Unauthenticated`` (401)."""
        return await self.authenticator.authenticate(request)


def server_metadata(settings: Settings) -> dict[str, Any]:
    base = settings.issuer.rstrip("/")
    return {
        "issuer": settings.issuer,
        "token_endpoint": base + TOKEN_PATH,
        "jwks_uri": base + JWKS_PATH,
        "grant_types_supported": [GRANT_TYPE],
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "scopes_supported": [REGISTRY_SCOPE],
        "response_types_supported": [],
    }


def _check_issuer(settings: Settings) -> None:
    if (
        settings.environment is Environment.PRODUCTION
        and urlsplit(settings.issuer).scheme != "https"
    ):
        raise RuntimeError("REGSOSEK_ISSUER must be an https URL in production")
    if any(trusted.issuer == settings.issuer for trusted in settings.trusted_issuers):
        raise RuntimeError("REGSOSEK_TRUSTED_ISSUERS must not name the gateway's own issuer")


async def ensure_key_as_owner(settings: Settings, *, owner_url: str) -> str:
    connection = await asyncpg.connect(plain_url(owner_url))
    try:
        return await ensure_signing_key(
            connection, master_secret=settings.master_secret(), alg=settings.signing_alg
        )
    finally:
        await connection.close()


@asynccontextmanager
async def start_auth(
    *,
    pool: asyncpg.Pool,
    settings: Settings,
    owner_url: str,
    policies: PolicySource,
    limits: FailureLimits | None = None,
) -> AsyncIterator[AuthService]:
    """Ensure a signing key, load keys and clients, keep them fresh (``pool``: the gateway
    role's, on the primary)."""
    _check_issuer(settings)
    await ensure_key_as_owner(settings, owner_url=owner_url)
    keys = await KeyStore.open(pool=pool, master_secret=settings.master_secret())
    registry = await ClientRegistry.open(pool=pool)
    http = jwks_http_client()
    external = None
    if settings.trusted_issuers:
        external = ExternalIssuers(
            settings.trusted_issuers, http=http, policies=policies, leeway=settings.token_leeway
        )
        await external.prefetch()
    limiter = FailedAuthLimiter(pool=pool, limits=limits or FailureLimits())
    token_settings = TokenSettings(
        issuer=settings.issuer, audience=settings.audience, ttl=settings.token_ttl
    )

    def mint(profile: ClientProfile, scope: str) -> dict[str, Any]:
        token, _ = mint_access_token(
            key=keys.current(),
            settings=token_settings,
            client_id=profile.client_id,
            program=profile.program,
            agency=profile.agency,
            scope=scope,
        )
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": settings.token_ttl,
            "scope": scope,
        }

    metadata = server_metadata(settings)
    service = AuthService(
        keys=keys,
        registry=registry,
        authenticator=Authenticator(
            issuer=settings.issuer,
            audience=settings.audience,
            leeway=settings.token_leeway,
            keys=keys,
            registry=registry,
            policies=policies,
            external=external,
        ),
        token_endpoint=TokenEndpoint(
            pool=pool,
            server=TokenServer(mint=mint),
            limiter=limiter,
            policies=policies,
            uri=metadata["token_endpoint"],
        ),
        limiter=limiter,
        metadata=metadata,
    )
    tasks: list[asyncio.Task[None]] = [
        start_periodic(keys.refresh, every=keys_module.REFRESH_SECONDS, name="signing-keys"),
        start_periodic(
            registry.refresh, every=registry_module.REFRESH_SECONDS, name="client-registry"
        ),
        start_periodic(limiter.forget_old_windows, every=300.0, name="failed-auth-counters"),
    ]
    try:
        yield service
    finally:
        await stop_periodic(tasks)
        await http.aclose()


async def token(request: Request) -> Response:
    return await gateway_state(request.app).auth.token_endpoint(request)


async def jwks(request: Request) -> Response:
    keys = gateway_state(request.app).keys
    return JSONResponse(
        keys.jwks(),
        headers={"Cache-Control": "public, max-age=60"},
    )


async def metadata(request: Request) -> Response:
    return JSONResponse(
        gateway_state(request.app).auth.metadata, headers={"Cache-Control": "public, max-age=300"}
    )


def auth_routes() -> list[Route]:
    return [
        Route(TOKEN_PATH, token, methods=["POST"]),
        Route(JWKS_PATH, jwks, methods=["GET"]),
        Route(METADATA_PATH, metadata, methods=["GET"]),
    ]
