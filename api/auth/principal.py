"""Who is calling: the outcome of a validated bearer token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Principal:
    """A validated caller.

    ``program`` and ``agency`` are the server's: from the client registry (or,
    for an external issuer, the configured claim checked against the policy
    set) and the policy set, never the token's own ``program``/``agency``.
    """

    client_id: str
    program: str
    agency: str
    issuer: str
    token_id: str
    expires_at: datetime
