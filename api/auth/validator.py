"""The one validator in front of ``/graphql``: a bearer JWT in, a ``Principal`` out, or 401.

``await authenticator.authenticate(request)`` reads only the ``Authorization``
header, so a caller without a valid token is refused before the body is read.

Gateway tokens (``iss`` = ``REGSOSEK_ISSUER``) are checked as RFC 9068 and
RFC 8725 ask: ``api.auth.jose_checks`` refuses the shape and header, the kid
picks one of the published keys (``KeyStore``), joserfc verifies the
signature with it under that key's algorithm only, then the claims: exact
``iss`` and ``aud``, ``exp``, ``nbf`` and ``iat`` required (leeway
``REGSOSEK_TOKEN_LEEWAY``), ``jti``, ``sub`` = ``client_id``. The client must be
in the registry and enabled, and the token's ``program`` claim must be the
registry's; the principal's program and agency are the registry's and the
policy set's. Tokens of a trusted external issuer go to ``ExternalIssuers``.

A validated token is cached (keyed by the token string) until its ``exp``.
A cached token still passes the checks that can change under it: the client
is enabled and bound to the same program, the program is in the policy set
with the same agency, the signing key is still published. That costs a few
dictionary lookups.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwt import JWTClaimsRegistry
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection

from api.auth.external import ExternalIssuers
from api.auth.jose_checks import InvalidToken, check_header, parse_token
from api.auth.keys import ALGORITHMS, KeyStore
from api.auth.policy_view import PolicySource
from api.auth.principal import Principal
from api.auth.registry import ClientRegistry
from api.auth.tokens import ACCEPTED_TOKEN_TYPES
from errors import Unauthenticated

log = logging.getLogger(__name__)

MAX_CACHED_TOKENS: Final = 50_000


@dataclass(frozen=True, slots=True)
class _Cached:
    principal: Principal
    expires: float
    kid: str | None
    """The gateway key that signed it; None for an external issuer's token."""


def bearer_token(headers: Headers) -> str:
    """The token of the one ``Authorization: Bearer <token>`` header, or ``Unauthenticated``."""
    found: bytes | None = None
    for name, value in headers.raw:  # ASGI header names are lower-case
        if name == b"authorization":
            if found is not None:
                raise Unauthenticated()
            found = value
    if found is None or found[:7].lower() != b"bearer ":
        raise Unauthenticated()
    token = found[7:].strip(b" ")
    if not token:
        raise Unauthenticated()
    return token.decode("latin-1")


class Authenticator:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        leeway: int,
        keys: KeyStore,
        registry: ClientRegistry,
        policies: PolicySource,
        external: ExternalIssuers | None = None,
    ) -> None:
        self._issuer = issuer
        self._keys = keys
        self._registry = registry
        self._policies = policies
        self._external = external
        self._cache: dict[str, _Cached] = {}
        self._claims = JWTClaimsRegistry(
            leeway=leeway,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            nbf={"essential": True},
            iat={"essential": True},
            jti={"essential": True},
            sub={"essential": True},
            client_id={"essential": True},
        )

    async def authenticate(self, request: HTTPConnection) -> Principal:
        """The caller of ``request``, from its bearer token; ``Unauthenticated`` (401) otherwise."""
        return await self.validate(bearer_token(request.headers))

    async def validate(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached is not None and time.time() < cached.expires and self._still_valid(cached):
            return cached.principal
        try:
            principal, expires, kid = await self._validate(token)
        except InvalidToken as error:
            log.info("bearer token refused: %s", error)
            raise Unauthenticated() from None
        self._remember(token, _Cached(principal=principal, expires=expires, kid=kid))
        return principal

    def _still_valid(self, cached: _Cached) -> bool:
        principal = cached.principal
        program = self._policies().programs.get(principal.program)
        if program is None or program.agency != principal.agency:
            return False
        if cached.kid is None:
            return True
        client = self._registry.get(principal.client_id)
        return (
            client is not None
            and client.enabled
            and client.program == principal.program
            and self._keys.verification_key(cached.kid) is not None
        )

    async def _validate(self, token: str) -> tuple[Principal, float, str | None]:
        unverified = parse_token(token)
        if unverified.issuer != self._issuer:
            if self._external is not None and unverified.issuer in self._external:
                principal, expires = await self._external.validate(unverified)
                return principal, expires, None
            raise InvalidToken("unknown issuer")
        check_header(unverified, algorithms=ALGORITHMS, token_types=ACCEPTED_TOKEN_TYPES)
        key = self._keys.verification_key(unverified.kid)
        if key is None:
            raise InvalidToken("unknown kid")
        if key.alg != unverified.alg:
            raise InvalidToken("the key is for another algorithm")
        try:
            claims = jwt.decode(token, key.key, algorithms=[key.alg]).claims
            self._claims.validate(claims)
        except (JoseError, ValueError) as error:
            raise InvalidToken(f"refused: {error}") from error
        client_id = claims["client_id"]
        if not isinstance(client_id, str) or claims["sub"] != client_id:
            raise InvalidToken("sub is not the client_id")
        client = await self._registry.lookup(client_id)
        if client is None or not client.enabled:
            raise InvalidToken("client unknown or disabled")
        if claims.get("program") != client.program:
            raise InvalidToken("the program claim is not the client's program")
        program = self._policies().programs.get(client.program)
        if program is None:
            raise InvalidToken("the client's program is not in the policy set")
        expires = float(claims["exp"])
        principal = Principal(
            client_id=client_id,
            program=program.name,
            agency=program.agency,
            issuer=self._issuer,
            token_id=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(expires, UTC),
        )
        return principal, expires, key.kid

    def _remember(self, token: str, entry: _Cached) -> None:
        if len(self._cache) >= MAX_CACHED_TOKENS:
            now = time.time()
            self._cache = {t: e for t, e in self._cache.items() if e.expires > now}
            if len(self._cache) >= MAX_CACHED_TOKENS:
                self._cache.clear()
        self._cache[token] = entry
