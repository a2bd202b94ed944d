"""Checkpoint signatures: a compact JWS over the canonical checkpoint payload.

A checkpoint states the chain's head at a moment: ``{seq, head_hash,
event_count, created_at}``. It is signed with the gateway's current signing key
(the one that signs access tokens), so re-hashing the chain after an edit, or
cutting its tail, is detected by anyone who holds the public keys: the verifier
needs no secret. The protected header carries ``typ: audit-checkpoint`` so a
checkpoint can never pass for an access token (``typ: at+jwt``) or the reverse.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, NamedTuple, Protocol

import orjson
from joserfc import jws
from joserfc.jwk import JWKRegistry

from audit.events import format_time

CHECKPOINT_TYPE: Final = "audit-checkpoint"
ALGORITHMS: Final = ("RS256", "ES256")


class Signature(NamedTuple):
    kid: str
    jws: str


class CheckpointSigner(Protocol):
    """What the writer needs to sign a checkpoint: nothing about how keys are kept."""

    def sign(self, payload: bytes) -> Signature: ...


class SigningKey(Protocol):
    """The shape of ``api.auth.keys.KeyStore.current()``."""

    @property
    def kid(self) -> str: ...
    @property
    def alg(self) -> str: ...
    @property
    def private_key(self) -> Any: ...


class SigningKeySource(Protocol):
    def current(self) -> SigningKey: ...


class KeySourceSigner:
    """Signs with whatever key ``keys.current()`` returns now, so rotation applies at once."""

    def __init__(self, keys: SigningKeySource) -> None:
        self._keys = keys

    def sign(self, payload: bytes) -> Signature:
        key = self._keys.current()
        header = {"alg": key.alg, "kid": key.kid, "typ": CHECKPOINT_TYPE}
        token = jws.serialize_compact(header, payload, key.private_key, algorithms=[key.alg])
        return Signature(kid=key.kid, jws=token)


def checkpoint_payload(
    *, seq: int, head_hash: bytes, event_count: int, created_at: datetime
) -> bytes:
    """The bytes a checkpoint signs: sorted-key JSON, hash in lower-case hex, time as in events."""
    return orjson.dumps(
        {
            "created_at": format_time(created_at),
            "event_count": event_count,
            "head_hash": head_hash.hex(),
            "seq": seq,
        }
    )


class InvalidSignature(Exception):
    """The JWS does not verify, or is not a checkpoint signed by the named key."""


def verify_signature(token: str, *, kid: str, public_jwk: Mapping[str, Any]) -> bytes:
    """The payload of ``token`` if it is a checkpoint JWS signed by ``public_jwk`` (key ``kid``)."""
    try:
        key = JWKRegistry.import_key(dict(public_jwk))
        result = jws.deserialize_compact(token, key, algorithms=list(ALGORITHMS))
    except Exception as error:  # joserfc raises several types; all mean "does not verify"
        raise InvalidSignature(str(error) or type(error).__name__) from error
    header = result.protected
    if header.get("typ") != CHECKPOINT_TYPE:
        raise InvalidSignature("not a checkpoint signature (typ)")
    if header.get("kid") != kid:
        raise InvalidSignature("signed by another key than the one recorded")
    return bytes(result.payload)
