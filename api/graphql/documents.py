"""Trusted documents on the request path: ``{"documentId": "sha256:<hex>"}`` → its text.

The gateway role reads ``trusted_documents`` (``db.documents``); what it read is kept for
``CACHE_SECONDS``, so a document ``regsosek documents remove`` takes away stops running in
every worker within that time. A registry that cannot be read is UNAVAILABLE (fail closed).
"""

from __future__ import annotations

import re
import time
from typing import Final

import asyncpg

from db.documents import find_document
from errors import BadInput, Unavailable

CACHE_SECONDS: Final = 5.0
DOCUMENT_ID: Final = re.compile(r"^sha256:([0-9a-f]{64})$")
MAX_CACHED: Final = 4096


def document_hash(document_id: str) -> str:
    """The hex SHA-256 of ``sha256:<hex>``; anything else is BAD_USER_INPUT."""
    matched = DOCUMENT_ID.match(document_id)
    if matched is None:
        raise BadInput("`documentId` must be `sha256:` and 64 lower-case hex digits.")
    return matched.group(1)


class TrustedDocuments:
    """The registered documents of every program, read on demand and kept briefly."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._cache: dict[tuple[str, str], tuple[float, str | None]] = {}

    async def text(self, *, program: str, document_id: str) -> str:
        """The registered text; BAD_USER_INPUT when the program registered no such document."""
        key = (program, document_hash(document_id))
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is None or now - cached[0] > CACHE_SECONDS:
            try:
                stored = await find_document(self._pool, program=key[0], document_hash=key[1])
            except (OSError, TimeoutError, asyncpg.PostgresError) as error:
                raise Unavailable("The trusted documents cannot be read; try again.") from error
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            cached = (now, None if stored is None else stored.text)
            self._cache[key] = cached
        if cached[1] is None:
            raise BadInput("Your program has registered no document with that `documentId`.")
        return cached[1]
