"""Client identifiers and secrets: generated at random, secrets kept only as scrypt hashes.

A secret is 256 random bits (``secrets.token_urlsafe(32)``), so the hash's
slowness is defence in depth rather than the only protection; it is stored as
``scrypt$<log2 n>$<r>$<p>$<salt>$<hash>`` (base64url, no padding), so the
parameters can be raised later without invalidating existing secrets.
Comparison is constant-time, and an unknown client costs the same hash as a
known one, so timing does not tell which client ids exist.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from functools import cache
from typing import Final

LOG2_N: Final = 15
BLOCK_SIZE: Final = 8
PARALLELISM: Final = 1
SALT_BYTES: Final = 16
HASH_BYTES: Final = 32
_MAX_MEMORY: Final = 256 * 1024 * 1024
_MAX_LOG2_N: Final = 20
_SCHEME: Final = "scrypt"

CLIENT_ID_PREFIX: Final = "rc_"
MAX_SECRET_LENGTH: Final = 512
"""Longer presented secrets are refused without hashing them."""


def new_client_id() -> str:
    """An opaque client id: ``rc_`` and 24 hex digits (matches the table's check)."""
    return CLIENT_ID_PREFIX + secrets.token_hex(12)


def new_client_secret() -> str:
    """A fresh secret: 43 URL-safe characters, 256 random bits."""
    return secrets.token_urlsafe(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(secret: str, *, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret.encode("utf-8"),
        salt=salt,
        n=1 << log2_n,
        r=r,
        p=p,
        dklen=HASH_BYTES,
        maxmem=_MAX_MEMORY,
    )


def hash_client_secret(secret: str) -> str:
    """The stored form of ``secret``, with a fresh salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(secret, salt=salt, log2_n=LOG2_N, r=BLOCK_SIZE, p=PARALLELISM)
    return f"{_SCHEME}${LOG2_N}${BLOCK_SIZE}${PARALLELISM}${_b64(salt)}${_b64(digest)}"


def verify_client_secret(secret: str, stored: str) -> bool:
    """Whether ``secret`` is the one ``stored`` was made from (constant-time comparison)."""
    if len(secret) > MAX_SECRET_LENGTH:
        return False
    try:
        scheme, log2_n, r, p, salt, digest = stored.split("$")
        if scheme != _SCHEME or not 10 <= int(log2_n) <= _MAX_LOG2_N:
            return False
        expected = _unb64(digest)
        actual = _scrypt(secret, salt=_unb64(salt), log2_n=int(log2_n), r=int(r), p=int(p))
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(actual, expected)


@cache
def _decoy_hash() -> str:
    return hash_client_secret(secrets.token_urlsafe(32))


def spend_verification_time(secret: str) -> None:
    """Do the work of one verification for a client that does not exist (or may not sign in)."""
    verify_client_secret(secret, _decoy_hash())
