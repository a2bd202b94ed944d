"""Access tokens as RFC 9068 describes them: JWTs typed ``at+jwt``, signed with the active key."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, Final

from joserfc import jwt

from api.auth.keys import SigningKeyMaterial

ACCESS_TOKEN_TYPE: Final = "at+jwt"  # noqa: S105 (a media type)
ACCEPTED_TOKEN_TYPES: Final = frozenset({"at+jwt", "application/at+jwt"})
REGISTRY_SCOPE: Final = "registry.read"
"""The one scope: read the registry as the client's program allows."""


@dataclass(frozen=True, slots=True)
class TokenSettings:
    issuer: str
    audience: str
    ttl: int


def mint_access_token(
    *,
    key: SigningKeyMaterial,
    settings: TokenSettings,
    client_id: str,
    program: str,
    agency: str,
    scope: str,
) -> tuple[str, dict[str, Any]]:
    """A signed access token for ``client_id`` and its claims.

    ``program`` and ``agency`` are the server's record of the client; they
    are informative for the caller, and the validator never trusts them.
    """
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "sub": client_id,
        "client_id": client_id,
        "aud": settings.audience,
        "exp": now + settings.ttl,
        "iat": now,
        "nbf": now,
        "jti": secrets.token_urlsafe(16),
        "scope": scope,
        "program": program,
        "agency": agency,
    }
    header = {"alg": key.alg, "kid": key.kid, "typ": ACCESS_TOKEN_TYPE}
    token = jwt.encode(header, claims, key.private_key, algorithms=[key.alg])
    return token, claims
