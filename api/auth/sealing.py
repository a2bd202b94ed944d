"""Sealing private signing keys for storage: AES-256-GCM under a key derived from the master secret.

The sealing key is ``HKDF-SHA256(master secret, info="regsosek signing-key sealing v1")``,
so the master secret itself never encrypts anything and other uses of it get
independent keys. The key id is the associated data: a sealed key copied onto
another row (another kid) does not open. Layout: version byte ``0x01``,
12-byte random nonce, ciphertext with its 16-byte tag.
"""

from __future__ import annotations

import secrets
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION: Final = b"\x01"
_NONCE_BYTES: Final = 12
_INFO: Final = b"regsosek signing-key sealing v1"
_SALT: Final = b"regsosek-gateway"


class UnsealError(Exception):
    """The sealed key does not open with this master secret (or was altered, or moved)."""


def _sealing_key(master_secret: bytes) -> AESGCM:
    if len(master_secret) < 32:
        raise ValueError("the master secret must hold at least 32 bytes")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(
        master_secret
    )
    return AESGCM(derived)


def seal(plaintext: bytes, *, master_secret: bytes, kid: str) -> bytes:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = _sealing_key(master_secret).encrypt(nonce, plaintext, kid.encode("utf-8"))
    return _VERSION + nonce + sealed


def unseal(sealed: bytes, *, master_secret: bytes, kid: str) -> bytes:
    if sealed[:1] != _VERSION or len(sealed) < 1 + _NONCE_BYTES + 16:
        raise UnsealError(f"signing key {kid}: unknown sealing format")
    nonce, ciphertext = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
    try:
        return _sealing_key(master_secret).decrypt(nonce, ciphertext, kid.encode("utf-8"))
    except InvalidTag as error:
        raise UnsealError(
            f"signing key {kid} does not open with this REGSOSEK_SECRET_KEY"
        ) from error
