"""Checks on a bearer JWT before any key is chosen or signature verified (RFC 8725).

The token is parsed here only to *route* it (which issuer, which kid) and to
refuse what must never be processed: oversize or malformed tokens, headers
that would let the token choose its own key (``jwk``, ``jku``, ``x5u``,
``x5c``), critical extensions (``crit``: none are understood), algorithms
outside an allow-list (compared exactly, so ``none`` in any spelling and every
HMAC algorithm are out), and a ``typ`` other than the expected ones. The kid
is an opaque string of bounded length, only ever used as a dictionary key.
Signatures are verified by joserfc, with the key the server already holds.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Final

MAX_TOKEN_BYTES: Final = 4096
MAX_KID_LENGTH: Final = 128
UNTRUSTED_HEADERS: Final = frozenset({"jwk", "jku", "x5u", "x5c", "crit", "b64", "zip", "enc"})
_COMPACT_JWS: Final = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class InvalidToken(Exception):
    """The token is refused; the reason is for logs, never for the caller."""


@dataclass(frozen=True, slots=True)
class UnverifiedToken:
    """A structurally sound token whose signature is not yet verified."""

    token: str
    header: dict[str, Any]
    claims: dict[str, Any]

    @property
    def alg(self) -> str:
        return str(self.header["alg"])

    @property
    def kid(self) -> str:
        return str(self.header["kid"])

    @property
    def issuer(self) -> object:
        return self.claims.get("iss")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise InvalidToken(f"duplicate member {name!r}")
        result[name] = value
    return result


def _json_object(segment: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw, object_pairs_hook=_no_duplicates)
    except (binascii.Error, ValueError, RecursionError) as error:
        raise InvalidToken("not base64url JSON") from error
    if not isinstance(value, dict):
        raise InvalidToken("not a JSON object")
    return value


def parse_token(token: str) -> UnverifiedToken:
    """Parse a compact JWS and refuse it early if its shape or header is unacceptable."""
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken("token too large")
    if not _COMPACT_JWS.fullmatch(token):
        raise InvalidToken("not a compact JWS with a signature")
    header_segment, payload_segment, _ = token.split(".")
    header = _json_object(header_segment)
    claims = _json_object(payload_segment)
    present = UNTRUSTED_HEADERS.intersection(header)
    if present:
        raise InvalidToken(f"untrusted header parameters: {', '.join(sorted(present))}")
    if not isinstance(header.get("alg"), str):
        raise InvalidToken("no alg")
    kid = header.get("kid")
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
        raise InvalidToken("no usable kid")
    if not isinstance(header.get("typ"), str):
        raise InvalidToken("no typ")
    return UnverifiedToken(token=token, header=header, claims=claims)


def check_header(
    token: UnverifiedToken, *, algorithms: Collection[str], token_types: Collection[str]
) -> None:
    """``alg`` exactly one of ``algorithms``; ``typ`` one of ``token_types`` (case-insensitive)."""
    if token.alg not in algorithms:
        raise InvalidToken(f"algorithm {token.alg!r} not allowed")
    if str(token.header["typ"]).lower() not in token_types:
        raise InvalidToken(f"typ {token.header['typ']!r} not accepted")
