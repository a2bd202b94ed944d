"""The SQL of the access tables: OAuth clients, token signing keys, failed-sign-in counters.

Callers in ``api.auth`` and ``api.cli`` pass an asyncpg connection or pool:
the operator commands run as the owner, the request path as ``regsosek_app``,
which may only read ``oauth_clients`` and ``signing_keys`` and keep
``rate_counters``. Every value is a bind parameter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

Executor = Any
"""An ``asyncpg.Connection`` or ``asyncpg.Pool`` (both answer ``fetch``/``execute``)."""

SIGNING_KEYS_LOCK = "regsosek.signing_keys"
FAILED_AUTH_SCOPES = ("failed_auth_client", "failed_auth_address")


# -- OAuth clients ---------------------------------------------------------------------------


async def insert_client(
    executor: Executor, *, client_id: str, name: str, program: str, secret_hash: str
) -> None:
    await executor.execute(
        "INSERT INTO oauth_clients (client_id, name, program, secret_hash) VALUES ($1, $2, $3, $4)",
        client_id,
        name,
        program,
        secret_hash,
    )


async def list_clients(executor: Executor) -> list[asyncpg.Record]:
    return list(
        await executor.fetch(
            "SELECT client_id, name, program, enabled, created_at, secret_rotated_at, disabled_at"
            " FROM oauth_clients ORDER BY created_at, client_id"
        )
    )


async def set_client_enabled(executor: Executor, client_id: str, *, enabled: bool) -> bool:
    """Enable or disable a client; False when there is no such client."""
    status: str = await executor.execute(
        "UPDATE oauth_clients SET enabled = $2,"
        " disabled_at = CASE WHEN $2 THEN NULL ELSE coalesce(disabled_at, now()) END"
        " WHERE client_id = $1",
        client_id,
        enabled,
    )
    return status != "UPDATE 0"


async def set_client_secret(executor: Executor, client_id: str, *, secret_hash: str) -> bool:
    """Replace a client's secret hash; False when there is no such client."""
    status: str = await executor.execute(
        "UPDATE oauth_clients SET secret_hash = $2, secret_rotated_at = now() WHERE client_id = $1",
        client_id,
        secret_hash,
    )
    return status != "UPDATE 0"


async def clients_for_authentication(
    executor: Executor, client_ids: Sequence[str]
) -> list[asyncpg.Record]:
    """The rows the token endpoint needs to authenticate the given client ids."""
    return list(
        await executor.fetch(
            "SELECT client_id, name, program, secret_hash, enabled"
            " FROM oauth_clients WHERE client_id = ANY($1::text[])",
            list(client_ids),
        )
    )


async def client_states(executor: Executor) -> list[asyncpg.Record]:
    """Every client's program and whether it is enabled (the validator's registry)."""
    return list(await executor.fetch("SELECT client_id, program, enabled FROM oauth_clients"))


async def client_state(executor: Executor, client_id: str) -> asyncpg.Record | None:
    """One client's program and whether it is enabled."""
    row: asyncpg.Record | None = await executor.fetchrow(
        "SELECT client_id, program, enabled FROM oauth_clients WHERE client_id = $1", client_id
    )
    return row


# -- Signing keys ----------------------------------------------------------------------------


async def lock_signing_keys(connection: asyncpg.Connection) -> None:
    """Serialise key creation and rotation (inside the caller's transaction)."""
    await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", SIGNING_KEYS_LOCK)


async def active_signing_keys(executor: Executor) -> list[asyncpg.Record]:
    """Keys not retired, newest first (normally exactly one)."""
    return list(
        await executor.fetch(
            "SELECT kid, alg, private_key_encrypted, public_jwk::text AS public_jwk, activated_at"
            " FROM signing_keys WHERE retired_at IS NULL ORDER BY activated_at DESC, kid"
        )
    )


async def insert_signing_key(
    connection: asyncpg.Connection,
    *,
    kid: str,
    alg: str,
    private_key_encrypted: bytes,
    public_jwk: dict[str, Any],
) -> None:
    await connection.execute(
        "INSERT INTO signing_keys (kid, alg, private_key_encrypted, public_jwk, activated_at)"
        " VALUES ($1, $2, $3, $4::jsonb, clock_timestamp())",
        kid,
        alg,
        private_key_encrypted,
        json.dumps(public_jwk),
    )


async def retire_active_signing_keys(
    connection: asyncpg.Connection, *, except_kid: str, publish_seconds: int
) -> list[str]:
    """Retire every active key but ``except_kid``; published for ``publish_seconds`` more."""
    rows = await connection.fetch(
        "UPDATE signing_keys SET retired_at = now(),"
        " publish_until = now() + make_interval(secs => $2)"
        " WHERE retired_at IS NULL AND kid <> $1 RETURNING kid",
        except_kid,
        float(publish_seconds),
    )
    return [row["kid"] for row in rows]


async def every_public_jwk(executor: Executor) -> list[dict[str, Any]]:
    """The public JWK of every signing key ever used, retired ones too (only their public
    halves): what verifies a signed report long after its key left the JWKS."""
    rows = await executor.fetch(
        "SELECT public_jwk::text AS jwk FROM signing_keys ORDER BY activated_at DESC, kid"
    )
    return [json.loads(row["jwk"]) for row in rows]


async def published_signing_keys(executor: Executor) -> list[asyncpg.Record]:
    """Keys whose public half is still published: active ones and retired ones not yet expired.

    ``private_key_encrypted`` is returned only for active keys.
    """
    return list(
        await executor.fetch(
            "SELECT kid, alg, public_jwk::text AS public_jwk, activated_at, retired_at,"
            " publish_until,"
            " CASE WHEN retired_at IS NULL THEN private_key_encrypted END AS private_key_encrypted"
            " FROM signing_keys"
            " WHERE retired_at IS NULL OR publish_until > now()"
            " ORDER BY activated_at DESC, kid"
        )
    )


async def list_signing_keys(executor: Executor) -> list[asyncpg.Record]:
    return list(
        await executor.fetch(
            "SELECT kid, alg, created_at, activated_at, retired_at, publish_until"
            " FROM signing_keys ORDER BY activated_at DESC, kid"
        )
    )


# -- Failed sign-in counters -----------------------------------------------------------------


async def failure_counts(
    executor: Executor, *, window_start: datetime, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """The current window's count of each ``(scope, key)``."""
    if not keys:
        return {}
    rows = await executor.fetch(
        "SELECT c.scope, c.key, c.count FROM rate_counters c"
        " JOIN unnest($2::text[], $3::text[]) AS k(scope, key)"
        "   ON c.scope = k.scope AND c.key = k.key"
        " WHERE c.window_start = $1",
        window_start,
        [scope for scope, _ in keys],
        [key for _, key in keys],
    )
    return {(row["scope"], row["key"]): int(row["count"]) for row in rows}


async def count_failures(
    executor: Executor, *, window_start: datetime, keys: Sequence[tuple[str, str]]
) -> None:
    """Add one to each ``(scope, key)`` counter of the window (shared by all workers)."""
    if not keys:
        return
    await executor.execute(
        "INSERT INTO rate_counters (scope, key, window_start, count)"
        " SELECT scope, key, $1, 1 FROM unnest($2::text[], $3::text[]) AS k(scope, key)"
        " ON CONFLICT (scope, key, window_start)"
        " DO UPDATE SET count = rate_counters.count + 1",
        window_start,
        [scope for scope, _ in keys],
        [key for _, key in keys],
    )


async def delete_old_failure_counters(executor: Executor, *, before: datetime) -> None:
    await executor.execute(
        "DELETE FROM rate_counters WHERE scope = ANY($1::text[]) AND window_start < $2",
        list(FAILED_AUTH_SCOPES),
        before,
    )
