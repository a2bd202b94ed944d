"""Signing keys: sealed in the database, created once, rotated without breaking issued tokens."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from api.auth.keys import KEY_PICKUP_SECONDS, ensure_signing_key, rotate_signing_key
from api.auth.sealing import UnsealError, seal, unseal
from api.state import gateway_state
from tests.support import TEST_SECRET, Gateway, cli_env, regsosek, running_gateway

MASTER = bytes.fromhex(TEST_SECRET)
OTHER_MASTER = bytes(range(32))


async def test_private_keys_are_stored_sealed(gateway: Gateway) -> None:
    row = await gateway.owner.fetchrow("SELECT kid, private_key_encrypted FROM signing_keys")
    sealed = bytes(row["private_key_encrypted"])
    private = json.loads(unseal(sealed, master_secret=MASTER, kid=row["kid"]))
    assert private["d"].encode() not in sealed
    assert b'"d"' not in sealed
    with pytest.raises(UnsealError):
        unseal(sealed, master_secret=OTHER_MASTER, kid=row["kid"])
    with pytest.raises(UnsealError):  # the kid is bound in: a sealed key moved to another row
        unseal(sealed, master_secret=MASTER, kid="another-kid")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(UnsealError):
        unseal(tampered, master_secret=MASTER, kid=row["kid"])
    assert unseal(seal(b"x", master_secret=MASTER, kid="k"), master_secret=MASTER, kid="k") == b"x"


async def test_concurrent_start_ups_create_exactly_one_key(
    new_database: Callable[[], Awaitable[str]],
) -> None:
    url = await new_database()
    connections = [await asyncpg.connect(url) for _ in range(6)]
    try:
        kids = await asyncio.gather(
            *(
                ensure_signing_key(connection, master_secret=MASTER, alg="ES256")
                for connection in connections
            )
        )
        assert len(set(kids)) == 1
        assert await connections[0].fetchval("SELECT count(*) FROM signing_keys") == 1
    finally:
        for connection in connections:
            await connection.close()


async def test_a_server_with_another_master_secret_refuses_to_start(
    gateway: Gateway, tmp_path: Path
) -> None:
    with pytest.raises(UnsealError):
        async with running_gateway(gateway.url, tmp_path, secret_key="ab" * 32):
            pass
    with pytest.raises(UnsealError):
        await rotate_signing_key(
            gateway.owner, master_secret=OTHER_MASTER, alg="ES256", token_ttl=900, leeway=30
        )
    assert await gateway.owner.fetchval("SELECT count(*) FROM signing_keys") == 1

    # A lost master secret: rotate anyway, then servers start with the new secret.
    kid = await rotate_signing_key(
        gateway.owner,
        master_secret=OTHER_MASTER,
        alg="ES256",
        token_ttl=900,
        leeway=30,
        replace_unreadable=True,
    )
    async with running_gateway(gateway.url, tmp_path, secret_key=OTHER_MASTER.hex()) as restarted:
        assert gateway_state(restarted.app).keys.current().kid == kid


async def test_rotation_keeps_old_tokens_valid_until_they_expire(
    gateway: Gateway, tmp_path: Path
) -> None:
    credentials = await gateway.client()
    old_kid = gateway_state(gateway.app).keys.current().kid
    old_token = await gateway.token(credentials)
    assert (await gateway.whoami(old_token)).status_code == 200

    code, out, err = await regsosek("keys", "rotate", env=cli_env(gateway.url, tmp_path))
    assert code == 0, err
    rotated_at = time.monotonic()

    # The running server signs with the new key within 10 s, on its own.
    while gateway_state(gateway.app).keys.current().kid == old_kid:
        assert time.monotonic() - rotated_at < 10, "the new key was not picked up within 10 s"
        await asyncio.sleep(0.2)
    new_kid = gateway_state(gateway.app).keys.current().kid
    assert new_kid in out
    new_token = await gateway.token(credentials)
    assert json.loads(_header(new_token))["kid"] == new_kid

    async with gateway.http() as http:
        published = [
            key["kid"] for key in (await http.get("/.well-known/jwks.json")).json()["keys"]
        ]
    assert published == [new_kid, old_kid]
    assert (await gateway.whoami(old_token)).status_code == 200
    assert (await gateway.whoami(new_token)).status_code == 200

    settings = gateway.settings
    publish_for = await gateway.owner.fetchval(
        "SELECT extract(epoch FROM publish_until - retired_at) FROM signing_keys WHERE kid = $1",
        old_kid,
    )
    assert publish_for == settings.token_ttl + settings.token_leeway + KEY_PICKUP_SECONDS

    # Time passes: the old key's last token has expired, so it leaves JWKS and old tokens fail,
    # even one the validator has cached.
    await gateway.owner.execute(
        "UPDATE signing_keys SET publish_until = now() - interval '1 second' WHERE kid = $1",
        old_kid,
    )
    await gateway.refreshed()
    async with gateway.http() as http:
        published = [
            key["kid"] for key in (await http.get("/.well-known/jwks.json")).json()["keys"]
        ]
    assert published == [new_kid]
    assert (await gateway.whoami(old_token)).status_code == 401
    assert (await gateway.whoami(new_token)).status_code == 200


async def test_keys_list_shows_states(gateway: Gateway, tmp_path: Path) -> None:
    env = cli_env(gateway.url, tmp_path)
    old_kid = gateway_state(gateway.app).keys.current().kid
    assert (await regsosek("keys", "rotate", env=env))[0] == 0
    new_kid = await gateway.owner.fetchval("SELECT kid FROM signing_keys WHERE retired_at IS NULL")
    code, out, _ = await regsosek("keys", "list", env=env)
    assert code == 0
    lines = out.splitlines()
    assert "active" in next(line for line in lines if new_kid in line)
    assert "retired" in next(line for line in lines if old_kid in line)


def _header(token: str) -> str:
    import base64

    part = token.split(".")[0]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()
