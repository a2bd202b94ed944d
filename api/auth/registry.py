"""The client registry behind token validation: which clients exist, are enabled, their program.

It is reloaded from ``oauth_clients`` every ``REFRESH_SECONDS``, so a client
that ``regsosek client disable`` switches off stops being accepted within that
time by every worker process. If reloads keep failing for longer than
``MAX_STALENESS_SECONDS`` the registry fails closed: lookups raise
``Unavailable`` rather than answer from a stale copy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

import asyncpg

from db import access
from errors import Unavailable

REFRESH_SECONDS: Final = 1.0
MAX_STALENESS_SECONDS: Final = 10.0


@dataclass(frozen=True, slots=True)
class RegisteredClient:
    client_id: str
    program: str
    enabled: bool


class ClientRegistry:
    def __init__(self, *, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._clients: dict[str, RegisteredClient] = {}
        self._loaded_at = float("-inf")

    @classmethod
    async def open(cls, *, pool: asyncpg.Pool) -> ClientRegistry:
        registry = cls(pool=pool)
        await registry.refresh()
        return registry

    async def refresh(self) -> None:
        started = time.monotonic()
        rows = await access.client_states(self._pool)
        self._clients = {
            row["client_id"]: RegisteredClient(
                client_id=row["client_id"], program=row["program"], enabled=row["enabled"]
            )
            for row in rows
        }
        self._loaded_at = started

    async def lookup(self, client_id: str) -> RegisteredClient | None:
        """Like ``get``, but a client created since the last reload is read at once.

        Only called once a token's signature has verified, so only the gateway's
        own tokens (of a client minutes old at most) can cause the query.
        """
        client = self.get(client_id)
        if client is None:
            try:
                row = await access.client_state(self._pool, client_id)
            except (OSError, TimeoutError, asyncpg.PostgresError) as error:
                raise Unavailable("The client registry cannot be read; try again.") from error
            if row is not None:
                client = RegisteredClient(
                    client_id=row["client_id"], program=row["program"], enabled=row["enabled"]
                )
                self._clients = {**self._clients, client_id: client}
        return client

    def get(self, client_id: str) -> RegisteredClient | None:
        """The client as of the last reload (at most ``MAX_STALENESS_SECONDS`` old)."""
        if time.monotonic() - self._loaded_at > MAX_STALENESS_SECONDS:
            raise Unavailable("The client registry cannot be read; try again shortly.")
        return self._clients.get(client_id)
