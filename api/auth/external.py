"""Access tokens from an agency's own OIDC provider (``REGSOSEK_TRUSTED_ISSUERS``).

Each issuer's JWKS is fetched with httpx (no redirects, bounded size and
time) and cached. A token naming a kid the cache lacks triggers a refetch, at
most once per ``REFETCH_SECONDS`` per issuer, so forged kids cannot make the
gateway hammer the provider; the cache is also refreshed when older than
``MAX_AGE_SECONDS`` (keys the provider withdrew stop working). Only public
RSA (2048 bits or more) and EC (P-256/384/521) signature keys are taken.

Checks are those of the gateway's own tokens: algorithm allow-list (the
issuer's, asymmetric only), explicit ``typ`` (``token_types``; for providers
that type access tokens ``JWT``, ``required_claims`` pins what tells them
apart from ID tokens), exact ``iss`` and ``aud``, ``exp``/``iat`` required and
``nbf`` when present with bounded leeway, ``sub`` and ``jti`` required. The
program comes from the configured claim and must be a program of the policy
set (and of the issuer's ``programs`` when configured); the agency comes
from the policy set.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, RSAKey
from joserfc.jwt import JWTClaimsRegistry

from api.auth.jose_checks import InvalidToken, UnverifiedToken, check_header
from api.auth.policy_view import PolicySource
from api.auth.principal import Principal
from api.settings import TrustedIssuer

log = logging.getLogger(__name__)

REFETCH_SECONDS: Final = 60.0
MAX_AGE_SECONDS: Final = 600.0
MAX_JWKS_BYTES: Final = 256 * 1024
FETCH_TIMEOUT_SECONDS: Final = 5.0
_PUBLIC_MEMBERS: Final = {"RSA": ("kty", "n", "e"), "EC": ("kty", "crv", "x", "y")}
_CURVES: Final = frozenset({"P-256", "P-384", "P-521"})


@dataclass(frozen=True, slots=True)
class _Key:
    key: RSAKey | ECKey
    alg: str | None


@dataclass(slots=True)
class _Issuer:
    config: TrustedIssuer
    token_types: frozenset[str]
    claims: JWTClaimsRegistry
    keys: dict[str, _Key] = field(default_factory=dict)
    fetched_at: float = float("-inf")
    attempted_at: float = float("-inf")
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _claims_registry(config: TrustedIssuer, *, leeway: int) -> JWTClaimsRegistry:
    required: dict[str, Any] = {
        name: {"essential": True, "value": value} for name, value in config.required_claims.items()
    }
    return JWTClaimsRegistry(
        leeway=leeway,
        **{
            **required,
            "iss": {"essential": True, "value": config.issuer},
            "aud": {"essential": True, "value": config.audience},
            "exp": {"essential": True},
            "iat": {"essential": True},
            "sub": {"essential": True},
            "jti": {"essential": True},
        },
    )


def _import_jwks(document: Any, *, algorithms: Sequence[str]) -> dict[str, _Key]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document")
    keys: dict[str, _Key] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
            continue
        members = _PUBLIC_MEMBERS.get(str(jwk.get("kty")))
        alg = jwk.get("alg")
        if members is None or jwk.get("use", "sig") != "sig":
            continue
        if alg is not None and alg not in algorithms:
            continue
        if jwk.get("kty") == "EC" and jwk.get("crv") not in _CURVES:
            continue
        try:
            key = JWKRegistry.import_key({name: jwk[name] for name in members})
        except (JoseError, KeyError, ValueError, TypeError):
            continue
        raw = key.raw_value
        if isinstance(raw, rsa.RSAPublicKey) and raw.key_size < 2048:
            continue
        if isinstance(key, RSAKey | ECKey):
            keys[jwk["kid"]] = _Key(key=key, alg=alg)
    return keys


class ExternalIssuers:
    def __init__(
        self,
        issuers: Sequence[TrustedIssuer],
        *,
        http: httpx.AsyncClient,
        policies: PolicySource,
        leeway: int,
        refetch_seconds: float = REFETCH_SECONDS,
    ) -> None:
        self._http = http
        self._refetch_seconds = refetch_seconds
        self._policies = policies
        self._issuers = {
            config.issuer: _Issuer(
                config=config,
                token_types=frozenset(kind.lower() for kind in config.token_types),
                claims=_claims_registry(config, leeway=leeway),
            )
            for config in issuers
        }
        for config in issuers:
            if config.programs is None:
                log.warning(
                    "trusted issuer %s may name any program: set its `programs`", config.issuer
                )

    def __contains__(self, issuer: object) -> bool:
        return isinstance(issuer, str) and issuer in self._issuers

    async def prefetch(self) -> None:
        """Fetch every issuer's JWKS once (failures are logged; tokens retry later)."""
        await asyncio.gather(*(self._fetch(state) for state in self._issuers.values()))

    async def validate(self, token: UnverifiedToken) -> tuple[Principal, float]:
        """The principal and the token's expiry, or ``InvalidToken``."""
        state = self._issuers[str(token.issuer)]
        config = state.config
        check_header(token, algorithms=config.algorithms, token_types=state.token_types)
        entry = await self._key(state, token.kid)
        if entry is None:
            raise InvalidToken("unknown kid")
        if entry.alg is not None and entry.alg != token.alg:
            raise InvalidToken("the key is for another algorithm")
        try:
            claims = jwt.decode(token.token, entry.key, algorithms=[token.alg]).claims
            state.claims.validate(claims)
        except (JoseError, ValueError) as error:
            raise InvalidToken(f"external token refused: {error}") from error
        program_name = claims.get(config.program_claim)
        if not isinstance(program_name, str):
            raise InvalidToken("no program claim")
        if config.programs is not None and program_name not in config.programs:
            raise InvalidToken("program not allowed for this issuer")
        program = self._policies().programs.get(program_name)
        if program is None:
            raise InvalidToken("program not in the policy set")
        client_id = claims.get("client_id") or claims.get("azp") or claims["sub"]
        exp = float(claims["exp"])
        principal = Principal(
            client_id=str(client_id),
            program=program.name,
            agency=program.agency,
            issuer=config.issuer,
            token_id=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(exp, UTC),
        )
        return principal, exp

    async def _key(self, state: _Issuer, kid: str) -> _Key | None:
        now = time.monotonic()
        entry = state.keys.get(kid)
        fresh = now - state.fetched_at < MAX_AGE_SECONDS
        if (entry is None or not fresh) and now - state.attempted_at >= self._refetch_seconds:
            async with state.lock:
                if time.monotonic() - state.attempted_at >= self._refetch_seconds:
                    await self._fetch(state)
            entry = state.keys.get(kid)
        return entry

    async def _fetch(self, state: _Issuer) -> None:
        state.attempted_at = time.monotonic()
        uri = state.config.jwks_uri
        try:
            async with self._http.stream(
                "GET", uri, headers={"Accept": "application/json"}
            ) as response:
                if response.status_code != 200:
                    raise ValueError(f"HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise ValueError("JWKS too large")
            keys = _import_jwks(json.loads(body), algorithms=state.config.algorithms)
        except (httpx.HTTPError, ValueError) as error:
            log.warning("JWKS of %s not fetched from %s: %s", state.config.issuer, uri, error)
            return
        state.keys = keys
        state.fetched_at = time.monotonic()


def jwks_http_client() -> httpx.AsyncClient:
    """The client that fetches external JWKS: no redirects (the configured URI is the one)."""
    return httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False)
