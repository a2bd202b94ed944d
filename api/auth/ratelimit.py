"""Throttling of failed client authentications, per client id and per remote address.

Fixed windows in ``rate_counters``, shared by every worker process and every
gateway instance on the database. While a client id or an address has
``limit`` failures in the current window, the token endpoint answers 429
with ``Retry-After`` (the rest of the window) without checking credentials,
even correct ones: otherwise guessing could go on at full speed.

A per-client limit lets someone who knows a client id lock it out for a
window by failing on purpose; the window is short, and the audit trail names
the addresses that did it.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import asyncpg

from db import access

CLIENT_SCOPE: Final = "failed_auth_client"
ADDRESS_SCOPE: Final = "failed_auth_address"
_CLIENT_ID_SHAPE: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")
"""Client ids outside the table's alphabet cannot exist: counted per address only."""


@dataclass(frozen=True, slots=True)
class FailureLimits:
    per_client: int = 10
    per_address: int = 30
    window_seconds: int = 60


class FailedAuthLimiter:
    def __init__(self, *, pool: asyncpg.Pool, limits: FailureLimits) -> None:
        self._pool = pool
        self.limits = limits

    def _window(self, now: float) -> tuple[datetime, float]:
        size = self.limits.window_seconds
        start = math.floor(now / size) * size
        return datetime.fromtimestamp(start, UTC), start + size

    def _keys(self, client_id: str | None, address: str | None) -> list[tuple[str, str]]:
        keys: list[tuple[str, str]] = []
        if client_id is not None and _CLIENT_ID_SHAPE.fullmatch(client_id):
            keys.append((CLIENT_SCOPE, client_id))
        if address:
            keys.append((ADDRESS_SCOPE, address[:128]))
        return keys

    async def retry_after(self, *, client_id: str | None, address: str | None) -> int | None:
        """Seconds until the caller may try again, or None when it is under the limits."""
        now = time.time()
        window_start, window_end = self._window(now)
        counts = await access.failure_counts(
            self._pool, window_start=window_start, keys=self._keys(client_id, address)
        )
        limit_of = {CLIENT_SCOPE: self.limits.per_client, ADDRESS_SCOPE: self.limits.per_address}
        if any(count >= limit_of[scope] for (scope, _), count in counts.items()):
            return max(1, math.ceil(window_end - now))
        return None

    async def record_failure(self, *, client_id: str | None, address: str | None) -> None:
        window_start, _ = self._window(time.time())
        await access.count_failures(
            self._pool, window_start=window_start, keys=self._keys(client_id, address)
        )

    async def forget_old_windows(self) -> None:
        """Delete counters of windows that ended more than one window ago."""
        before, _ = self._window(time.time() - self.limits.window_seconds)
        await access.delete_old_failure_counters(self._pool, before=before)
