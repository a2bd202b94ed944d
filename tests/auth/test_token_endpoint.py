"""``POST /oauth/token``: the client-credentials grant, RFC 6749 errors, RFC 9068 tokens, audit."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from api.state import gateway_state
from db.engine import database_name
from tests.support import (
    AUDIENCE,
    ISSUER,
    Gateway,
    app_role_url,
    create_database,
    drop_database,
    running_gateway,
)


@pytest.fixture(scope="module")
async def shared(
    server_url: str, migrated_template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Gateway]:
    """One gateway for the tests that neither fail a client authentication (the failure
    counters would add up across them) nor change keys, grants or the audit table."""
    url = await create_database(server_url, template=database_name(migrated_template_url))
    try:
        async with running_gateway(url, tmp_path_factory.mktemp("shared")) as started:
            yield started
    finally:
        await drop_database(url)


def _segment(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


async def test_client_secret_basic_issues_an_rfc9068_access_token(gateway: Gateway) -> None:
    credentials = await gateway.client("dinsos-pkh")
    async with gateway.http() as http:
        response = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(credentials.client_id, credentials.client_secret),
        )
        jwks = (await http.get("/.well-known/jwks.json")).json()
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == gateway.settings.token_ttl
    assert body["scope"] == "registry.read"

    token = body["access_token"]
    header = _segment(token, 0)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    assert header["kid"] == gateway_state(gateway.app).keys.current().kid
    verified = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["ES256"])
    claims = verified.claims
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["sub"] == claims["client_id"] == credentials.client_id
    assert claims["program"] == "dinsos-pkh"
    assert claims["agency"] == "dinsos-jember"
    assert claims["exp"] - claims["iat"] == gateway.settings.token_ttl
    assert claims["nbf"] == claims["iat"]
    assert isinstance(claims["jti"], str)
    assert len(claims["jti"]) >= 16
    assert claims["scope"] == "registry.read"

    who = await gateway.whoami(token)
    assert who.status_code == 200
    assert who.json()["program"] == "dinsos-pkh"
    assert who.json()["agency"] == "dinsos-jember"


async def test_client_secret_post_issues_a_token(gateway: Gateway) -> None:
    credentials = await gateway.client("bps-admin")
    async with gateway.http() as http:
        response = await http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
                "scope": "registry.read",
            },
        )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert _segment(token, 1)["program"] == "bps-admin"
    assert (await gateway.whoami(token)).status_code == 200


async def test_every_token_request_is_audited(gateway: Gateway) -> None:
    credentials = await gateway.client("dinsos-pkh")
    async with gateway.http() as http:
        granted = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(credentials.client_id, credentials.client_secret),
        )
        refused = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(credentials.client_id, "wrong"),
        )
    assert (granted.status_code, refused.status_code) == (200, 401)
    events = await gateway.audit_events()
    assert [(event["outcome"], event["error_code"]) for event in events] == [
        ("allowed", None),
        ("unauthenticated", "invalid_client"),
    ]
    for event in events:
        assert event["client_id"] == credentials.client_id
        assert event["program"] == "dinsos-pkh"
        assert event["agency"] == "dinsos-jember"
        assert event["agreement"] == "460/1187/35.09.325/2026"
        assert event["remote_addr"] == "127.0.0.1"


@pytest.mark.parametrize("mode", ["basic", "post"])
async def test_wrong_secret_is_invalid_client_401(gateway: Gateway, mode: str) -> None:
    credentials = await gateway.client()
    async with gateway.http() as http:
        if mode == "basic":
            response = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(credentials.client_id, credentials.client_secret + "x"),
            )
        else:
            response = await http.post(
                "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": credentials.client_id,
                    "client_secret": credentials.client_secret[:-1],
                },
            )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic ")
    assert response.headers["cache-control"] == "no-store"
    assert "access_token" not in response.json()


async def test_unknown_disabled_and_unpoliced_clients_are_invalid_client(gateway: Gateway) -> None:
    disabled = await gateway.client()
    await gateway.owner.execute(
        "UPDATE oauth_clients SET enabled = false, disabled_at = now() WHERE client_id = $1",
        disabled.client_id,
    )
    orphan = await gateway.client()
    await gateway.owner.execute(
        "UPDATE oauth_clients SET program = 'dinas-tutup' WHERE client_id = $1", orphan.client_id
    )
    attempts = [
        ("rc_000000000000000000000000", "whatever-secret"),
        (disabled.client_id, disabled.client_secret),
        (orphan.client_id, orphan.client_secret),
    ]
    async with gateway.http() as http:
        for client_id, secret in attempts:
            response = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(client_id, secret),
            )
            assert response.status_code == 401, client_id
            assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("request_kwargs", "status", "error"),
    [
        ({"data": {}}, 400, "invalid_request"),
        ({"data": {"grant_type": "password"}}, 400, "unsupported_grant_type"),
        ({"data": {"grant_type": "client_credentials", "scope": "admin"}}, 400, "invalid_scope"),
        (
            {
                "content": b"grant_type=client_credentials&grant_type=client_credentials",
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
            400,
            "invalid_request",
        ),
        ({"json": {"grant_type": "client_credentials"}}, 400, "invalid_request"),
        (
            {"data": {"grant_type": "client_credentials", "client_secret": "also-in-the-form"}},
            400,
            "invalid_request",
        ),
    ],
    ids=["no-grant-type", "password-grant", "unknown-scope", "repeated", "json", "two-methods"],
)
async def test_malformed_requests_get_rfc6749_errors(
    shared: Gateway, request_kwargs: dict[str, Any], status: int, error: str
) -> None:
    credentials = await shared.client()
    async with shared.http() as http:
        response = await http.post(
            "/oauth/token",
            auth=(credentials.client_id, credentials.client_secret),
            **request_kwargs,
        )
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"
    assert "access_token" not in response.json()


async def test_rs256_gateway_signs_with_rs256(
    new_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    async with running_gateway(await new_database(), tmp_path, signing_alg="RS256") as gateway:
        token = await gateway.token(await gateway.client())
        assert _segment(token, 0)["alg"] == "RS256"
        assert (await gateway.whoami(token)).status_code == 200


async def test_token_endpoint_fails_closed_when_the_audit_write_fails(gateway: Gateway) -> None:
    credentials = await gateway.client()
    await gateway.owner.execute("REVOKE INSERT ON audit_events FROM regsosek_app")
    async with gateway.http() as http:
        response = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(credentials.client_id, credentials.client_secret),
        )
    assert response.status_code == 503
    assert "access_token" not in response.text
    assert response.headers["cache-control"] == "no-store"
    assert await gateway.audit_events() == []


async def test_the_app_role_cannot_write_signing_keys_or_clients(gateway: Gateway) -> None:
    connection = await asyncpg.connect(app_role_url(gateway.url))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("UPDATE signing_keys SET retired_at = now()")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("UPDATE oauth_clients SET enabled = true")
    finally:
        await connection.close()


async def test_metadata_names_the_endpoints(shared: Gateway) -> None:
    async with shared.http() as http:
        metadata = (await http.get("/.well-known/oauth-authorization-server")).json()
        jwks = (await http.get(metadata["jwks_uri"].removeprefix(ISSUER))).json()
    assert metadata["issuer"] == ISSUER
    assert metadata["token_endpoint"] == ISSUER + "/oauth/token"
    assert metadata["grant_types_supported"] == ["client_credentials"]
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    assert [key["kid"] for key in jwks["keys"]] == [gateway_state(shared.app).keys.current().kid]
    assert all("d" not in key for key in jwks["keys"])
