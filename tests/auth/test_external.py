"""Tokens of an agency's own OIDC provider, validated against its JWKS served on loopback."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey, RSAKey

from api.auth.external import ExternalIssuers, jwks_http_client
from api.auth.jose_checks import InvalidToken, parse_token
from api.settings import TrustedIssuer
from policies import load_policies
from tests.support import AUDIENCE, Gateway, running_gateway
from tests.tokens import JwksServer, hmac_token, sign, signing_input

REALM = "/realms/dinsos"


@pytest.fixture(scope="module")
def idp_key() -> RSAKey:
    return RSAKey.generate_key(2048)


@pytest.fixture
def idp(idp_key: RSAKey) -> Iterator[JwksServer]:
    """The agency's provider: its JWKS, with one RS256 key."""
    document = {"keys": [dict(idp_key.as_dict(private=False, kid="idp-1", alg="RS256"))]}
    with JwksServer(document) as server:
        yield server


def keycloak_issuer(idp: JwksServer, **changes: Any) -> dict[str, Any]:
    """How an operator configures a Keycloak realm (Keycloak types access tokens ``JWT``)."""
    config: dict[str, Any] = {
        "issuer": idp.url + REALM,
        "jwks_uri": idp.url + REALM + "/protocol/openid-connect/certs",
        "audience": AUDIENCE,
        "program_claim": "regsosek_program",
        "token_types": ["JWT"],
        "required_claims": {"typ": "Bearer"},
        "programs": ["dinsos-pkh"],
    }
    config.update(changes)
    return config


def keycloak_claims(idp: JwksServer, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": idp.url + REALM,
        "aud": AUDIENCE,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "sub": "5f0c1c9e-service-account",
        "typ": "Bearer",
        "azp": "siks-ng",
        "regsosek_program": "dinsos-pkh",
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


HEADER = {"alg": "RS256", "typ": "JWT", "kid": "idp-1"}


@pytest.fixture
async def federated(
    new_database: Callable[[], Awaitable[str]], tmp_path: Path, idp: JwksServer
) -> AsyncIterator[Gateway]:
    async with running_gateway(
        await new_database(), tmp_path, trusted_issuers=[keycloak_issuer(idp)]
    ) as started:
        yield started


async def test_an_agency_providers_token_is_accepted(
    federated: Gateway, idp: JwksServer, idp_key: RSAKey
) -> None:
    response = await federated.whoami(sign(HEADER, keycloak_claims(idp), idp_key))
    assert response.status_code == 200, response.text
    who = response.json()
    assert who["program"] == "dinsos-pkh"
    assert who["agency"] == "dinsos-jember"
    assert who["client_id"] == "siks-ng"
    assert who["issuer"] == idp.url + REALM


async def test_forged_provider_tokens_are_refused(
    federated: Gateway, idp: JwksServer, idp_key: RSAKey
) -> None:
    forger = RSAKey.generate_key(2048)
    forgeries = {
        "foreign signature": sign(HEADER, keycloak_claims(idp), forger),
        "hs256 keyed with the public key": hmac_token(
            {**HEADER, "alg": "HS256"}, keycloak_claims(idp), idp_key.as_pem(private=False)
        ),
        "alg none": signing_input({**HEADER, "alg": "none"}, keycloak_claims(idp)) + ".",
        "id token": sign(HEADER, keycloak_claims(idp, typ="ID"), idp_key),
        "at+jwt not configured": sign({**HEADER, "typ": "at+jwt"}, keycloak_claims(idp), idp_key),
        "wrong audience": sign(HEADER, keycloak_claims(idp, aud="account"), idp_key),
        "expired": sign(HEADER, keycloak_claims(idp, exp=int(time.time()) - 120), idp_key),
        "no jti": sign(HEADER, keycloak_claims(idp, jti=None), idp_key),
        "other program": sign(HEADER, keycloak_claims(idp, regsosek_program="bps-admin"), idp_key),
        "no program": sign(HEADER, keycloak_claims(idp, regsosek_program=None), idp_key),
        "issuer not trusted": sign(
            HEADER, keycloak_claims(idp, iss=idp.url + "/realms/other"), idp_key
        ),
        "issuer as a list": sign(HEADER, keycloak_claims(idp, iss=[idp.url + REALM]), idp_key),
        "embedded jwk": sign(
            {**HEADER, "jwk": dict(forger.as_dict(private=False))}, keycloak_claims(idp), forger
        ),
    }
    for name, token in forgeries.items():
        response = await federated.whoami(token)
        assert response.status_code == 401, name


async def test_unknown_kids_refetch_at_most_once_a_minute(
    federated: Gateway, idp: JwksServer, idp_key: RSAKey
) -> None:
    fetched = len(idp.hits)
    assert fetched == 1  # at start-up
    for attempt in range(5):
        token = sign({**HEADER, "kid": f"forged-{attempt}"}, keycloak_claims(idp), idp_key)
        assert (await federated.whoami(token)).status_code == 401
    assert len(idp.hits) == fetched


def _issuers(
    idp: JwksServer, *, http: httpx.AsyncClient, refetch_seconds: float, **changes: Any
) -> ExternalIssuers:
    return ExternalIssuers(
        [TrustedIssuer(**keycloak_issuer(idp, **changes))],
        http=http,
        policies=lambda: load_policies(Path(__file__).resolve().parents[2] / "policies"),
        leeway=30,
        refetch_seconds=refetch_seconds,
    )


async def test_a_new_provider_key_is_fetched_when_a_token_names_it(
    idp: JwksServer, idp_key: RSAKey
) -> None:
    async with jwks_http_client() as http:
        await _rotation_is_fetched(idp, _issuers(idp, http=http, refetch_seconds=0.5))


async def _rotation_is_fetched(idp: JwksServer, issuers: ExternalIssuers) -> None:
    await issuers.prefetch()
    rotated = ECKey.generate_key("P-256")
    idp.document = {
        "keys": [
            *idp.document["keys"],
            dict(rotated.as_dict(private=False, kid="idp-2", alg="ES256")),
        ]
    }
    token = sign({"alg": "ES256", "typ": "JWT", "kid": "idp-2"}, keycloak_claims(idp), rotated)
    with pytest.raises(InvalidToken):  # within the refetch interval: not fetched again
        await issuers.validate(parse_token(token))
    await asyncio.sleep(0.6)
    principal, _ = await issuers.validate(parse_token(token))
    assert principal.program == "dinsos-pkh"
    assert len(idp.hits) == 2


async def test_a_provider_that_names_a_program_it_may_not_is_refused(
    idp: JwksServer, idp_key: RSAKey
) -> None:
    async with jwks_http_client() as http:
        issuers = _issuers(idp, http=http, refetch_seconds=60, programs=["dp3akb-keluarga"])
        await issuers.prefetch()
        with pytest.raises(InvalidToken):
            await issuers.validate(parse_token(sign(HEADER, keycloak_claims(idp), idp_key)))


def test_external_issuers_cannot_use_shared_secret_algorithms() -> None:
    with pytest.raises(ValueError, match="algorithms"):
        TrustedIssuer(
            issuer="https://idp.example",
            jwks_uri="https://idp.example/jwks",
            audience=AUDIENCE,
            algorithms=("HS256",),
        )
    with pytest.raises(ValueError, match="https"):
        TrustedIssuer(
            issuer="https://idp.example", jwks_uri="http://idp.example/jwks", audience=AUDIENCE
        )
