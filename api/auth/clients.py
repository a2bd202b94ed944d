"""What ``regsosek client …`` does: register agency systems, each bound to one program.

The program must be one of the policy set: the program (and through it the
agency) is the server's record, never something a caller asserts. The secret
is returned once, at creation or rotation, and only its scrypt hash is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from api.auth.client_secrets import hash_client_secret, new_client_id, new_client_secret
from api.auth.policy_view import PolicySetView
from db import access


class UnknownProgram(ValueError):
    """The program is not in the policy set."""


class UnknownClient(LookupError):
    """No client has that id."""


@dataclass(frozen=True, slots=True)
class Credentials:
    client_id: str
    client_secret: str


@dataclass(frozen=True, slots=True)
class ClientRow:
    client_id: str
    name: str
    program: str
    agency: str | None
    """None when the program has left the policy set (the client cannot sign in)."""
    enabled: bool
    created_at: datetime


async def create_client(
    connection: asyncpg.Connection, *, program: str, name: str | None, policies: PolicySetView
) -> Credentials:
    if program not in policies.programs:
        known = ", ".join(sorted(policies.programs))
        raise UnknownProgram(f"unknown program {program!r}; the policy set has: {known}")
    credentials = Credentials(client_id=new_client_id(), client_secret=new_client_secret())
    await access.insert_client(
        connection,
        client_id=credentials.client_id,
        name=name or f"{program} client",
        program=program,
        secret_hash=hash_client_secret(credentials.client_secret),
    )
    return credentials


async def list_clients(
    connection: asyncpg.Connection, *, policies: PolicySetView
) -> list[ClientRow]:
    rows = await access.list_clients(connection)
    result = []
    for row in rows:
        program = policies.programs.get(row["program"])
        result.append(
            ClientRow(
                client_id=row["client_id"],
                name=row["name"],
                program=row["program"],
                agency=program.agency if program is not None else None,
                enabled=row["enabled"],
                created_at=row["created_at"],
            )
        )
    return result


async def set_enabled(connection: asyncpg.Connection, client_id: str, *, enabled: bool) -> None:
    """Enable or disable; running servers notice within the registry's refresh (≤ 2 s)."""
    if not await access.set_client_enabled(connection, client_id, enabled=enabled):
        raise UnknownClient(client_id)


async def rotate_secret(connection: asyncpg.Connection, client_id: str) -> Credentials:
    """A new secret; the old one stops working at once (issued tokens live until they expire)."""
    secret = new_client_secret()
    if not await access.set_client_secret(
        connection, client_id, secret_hash=hash_client_secret(secret)
    ):
        raise UnknownClient(client_id)
    return Credentials(client_id=client_id, client_secret=secret)
