"""The keys that sign access tokens (and audit checkpoints): created, rotated, loaded, published.

Keys live in the ``signing_keys`` table. The private half is sealed with
AES-256-GCM under a key derived from ``REGSOSEK_SECRET_KEY`` (``api.auth.sealing``),
so a copy of the database alone signs nothing, and every worker process and
replica of the gateway shares the same key set with no key files to distribute.
The gateway's role may only read the table: keys are written by the owner
(start-up's ``ensure_signing_key``, ``regsosek keys rotate``).

The kid is the key's RFC 7638 thumbprint. Exactly one key is active (signs);
a rotated key is retired with ``publish_until`` = rotation time + token
lifetime + leeway + ``KEY_PICKUP_SECONDS``, so that its public half stays in
JWKS until the last token it can have signed has expired, including tokens a
server signed in the seconds before it noticed the rotation.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Final

import asyncpg
from joserfc.jwk import ECKey, JWKRegistry, RSAKey

from api.auth.sealing import UnsealError, seal, unseal
from db import access

log = logging.getLogger(__name__)

ALGORITHMS: Final = ("ES256", "RS256")
RSA_KEY_BITS: Final = 3072
KEY_PICKUP_SECONDS: Final = 10
"""A running server signs with a new key at most this long after ``keys rotate``."""
REFRESH_SECONDS: Final = 3.0
"""How often a running server reloads the key set."""

SigningKeyObject = ECKey | RSAKey


@dataclass(frozen=True, slots=True)
class SigningKeyMaterial:
    """The active key: what signs new tokens and checkpoints."""

    kid: str
    alg: str
    private_key: SigningKeyObject


@dataclass(frozen=True, slots=True)
class PublishedKey:
    """A public key that verifies tokens until ``publish_until`` (None while it is active)."""

    kid: str
    alg: str
    key: SigningKeyObject
    jwk: dict[str, Any]
    publish_until: float | None

    def published_at(self, now: float) -> bool:
        return self.publish_until is None or now < self.publish_until


def generate_signing_key(alg: str) -> SigningKeyObject:
    if alg == "ES256":
        return ECKey.generate_key("P-256", private=True)
    if alg == "RS256":
        return RSAKey.generate_key(RSA_KEY_BITS, private=True)
    raise ValueError(f"signing algorithm must be one of {', '.join(ALGORITHMS)}, not {alg!r}")


def _public_jwk(key: SigningKeyObject, *, kid: str, alg: str) -> dict[str, Any]:
    return dict(key.as_dict(private=False, kid=kid, alg=alg, use="sig"))


def _import_key(data: dict[str, Any], *, alg: str) -> SigningKeyObject:
    key = JWKRegistry.import_key(data)
    expected = ECKey if alg == "ES256" else RSAKey
    if not isinstance(key, expected):
        raise ValueError(f"a {alg} key must be of type {expected.__name__}")
    return key


def _open_private_key(row: asyncpg.Record, *, master_secret: bytes) -> SigningKeyMaterial:
    kid, alg = row["kid"], row["alg"]
    plaintext = unseal(bytes(row["private_key_encrypted"]), master_secret=master_secret, kid=kid)
    private = _import_key(json.loads(plaintext), alg=alg)
    return SigningKeyMaterial(kid=kid, alg=alg, private_key=private)


async def _create_signing_key(
    connection: asyncpg.Connection, *, master_secret: bytes, alg: str
) -> str:
    key = generate_signing_key(alg)
    kid = key.thumbprint()
    sealed = seal(
        json.dumps(key.as_dict(private=True)).encode("utf-8"),
        master_secret=master_secret,
        kid=kid,
    )
    await access.insert_signing_key(
        connection,
        kid=kid,
        alg=alg,
        private_key_encrypted=sealed,
        public_jwk=_public_jwk(key, kid=kid, alg=alg),
    )
    return kid


async def ensure_signing_key(
    connection: asyncpg.Connection, *, master_secret: bytes, alg: str
) -> str:
    """The active key's kid, creating one if there is none (one key even under concurrency).

    Refuses (``UnsealError``) when the active key does not open with
    ``master_secret``: a server with the wrong secret must not start, and must
    not quietly replace the key the others use.
    """
    async with connection.transaction():
        await access.lock_signing_keys(connection)
        active = await access.active_signing_keys(connection)
        if active:
            return _open_private_key(active[0], master_secret=master_secret).kid
        kid = await _create_signing_key(connection, master_secret=master_secret, alg=alg)
    log.info("created signing key %s (%s)", kid, alg)
    return kid


async def rotate_signing_key(
    connection: asyncpg.Connection,
    *,
    master_secret: bytes,
    alg: str,
    token_ttl: int,
    leeway: int,
    replace_unreadable: bool = False,
) -> str:
    """A new active key; the old one retired, published until its last token has expired.

    Refuses (``UnsealError``) when the active key does not open with
    ``master_secret``: servers holding the other secret could not open the new
    key either. ``replace_unreadable`` rotates anyway, for a lost master secret.
    """
    async with connection.transaction():
        await access.lock_signing_keys(connection)
        for row in await access.active_signing_keys(connection):
            if not replace_unreadable:
                _open_private_key(row, master_secret=master_secret)
        kid = await _create_signing_key(connection, master_secret=master_secret, alg=alg)
        await access.retire_active_signing_keys(
            connection, except_kid=kid, publish_seconds=token_ttl + leeway + KEY_PICKUP_SECONDS
        )
    log.info("rotated signing keys: %s (%s) is now active", kid, alg)
    return kid


class KeyStore:
    """The key set as a running server sees it: the active key and the published public keys.

    ``refresh`` reloads it; the server calls it every ``REFRESH_SECONDS``.
    Lookups never touch the database, and a kid is only ever a dictionary key.
    """

    def __init__(self, *, pool: asyncpg.Pool, master_secret: bytes) -> None:
        self._pool = pool
        self._master_secret = master_secret
        self._current: SigningKeyMaterial | None = None
        self._published: dict[str, PublishedKey] = {}

    @classmethod
    async def open(cls, *, pool: asyncpg.Pool, master_secret: bytes) -> KeyStore:
        """Load the keys; fails when there is no active key or it does not open."""
        store = cls(pool=pool, master_secret=master_secret)
        await store.refresh(strict=True)
        return store

    async def refresh(self, *, strict: bool = False) -> None:
        """Reload from the database: a new active key, retirements, keys no longer published.

        A new active key that does not open keeps the previous one signing (and
        is logged); with ``strict`` it raises instead.
        """
        rows = await access.published_signing_keys(self._pool)
        published: dict[str, PublishedKey] = {}
        current: SigningKeyMaterial | None = None
        for row in rows:
            kid = row["kid"]
            publish_until = row["publish_until"]
            until = None if row["retired_at"] is None else publish_until.timestamp()
            known = self._published.get(kid)
            if known is not None and known.publish_until == until:
                published[kid] = known
            else:
                jwk = json.loads(row["public_jwk"])
                key = _import_key(jwk, alg=row["alg"])
                published[kid] = PublishedKey(
                    kid=kid, alg=row["alg"], key=key, jwk=jwk, publish_until=until
                )
            if row["retired_at"] is None and current is None:
                current = self._current if self._current and self._current.kid == kid else None
                if current is None:
                    try:
                        current = _open_private_key(row, master_secret=self._master_secret)
                    except UnsealError:
                        if strict:
                            raise
                        log.error("signing key %s does not open; keeping the previous key", kid)
                        current = self._current
        if current is None:
            if strict or self._current is None:
                raise RuntimeError("no active signing key: run `regsosek keys rotate`")
            log.error("no active signing key in the database; keeping the previous key")
            current = self._current
        self._published = published
        self._current = current

    def current(self) -> SigningKeyMaterial:
        """The key that signs now."""
        assert self._current is not None, "KeyStore.open() loads a key"
        return self._current

    def verification_key(self, kid: str) -> PublishedKey | None:
        """The published key named ``kid``, if it is still published."""
        entry = self._published.get(kid)
        if entry is None or not entry.published_at(time.time()):
            return None
        return entry

    def public_key(self, kid: str) -> SigningKeyObject | None:
        """The public key named ``kid``, only while it is published."""
        entry = self.verification_key(kid)
        return None if entry is None else entry.key

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """``{"keys": [...]}``: the public JWKs still published, the active one first."""
        now = time.time()
        return {
            "keys": [entry.jwk for entry in self._published.values() if entry.published_at(now)]
        }
