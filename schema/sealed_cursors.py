"""Sealed cursors (CONTRACT §5): opaque, bound to where they were issued, useless elsewhere.

A cursor is ``base64url(generation ‖ nonce ‖ AES-GCM-SIV(position, binding))``, unpadded:

* ``generation`` (1 byte) names the key that sealed it: ``REGSOSEK_CURSOR_KEY_VERSION``
  (1-255). The gateway seals under the current generation and opens the current and the
  previous one, so raising the setting by one rotates every program's key while the
  cursors already handed out keep working until the next rotation.
* The key is ``HKDF-SHA256(master secret, info="regsosek cursor v<generation>" ‖
  program)``: every program has its own, so one program's cursor never opens for another.
* ``nonce``: 12 random bytes. Two cursors of the same row differ, so a cursor is no stable
  handle on a row either. AES-GCM-SIV (RFC 8452) rather than AES-GCM because a busy
  gateway seals billions of cursors under one key: with random 96-bit nonces GCM's safety
  margin runs out around 2^32 messages, while a repeated nonce under GCM-SIV reveals only
  that two identical (position, binding) pairs were sealed.
* The plaintext is the keyset position: the sort key's values, 8 bytes each, big-endian
  (what PostgreSQL's ``int8send`` writes, so the SQL hands positions over as hex).
* The associated data binds the cursor to the program, the connection field
  (``households``, ``persons``, ``auditEvents``), the ordering and a canonical form of
  the filter. A cursor used under any other of those does not verify.

Whatever is wrong with a cursor (not base64url, the wrong length, an unknown generation,
another program, field, ordering or filter, an edited byte, a hand-made one), the answer
is one ``BadInput`` with one message, after the same work: one AEAD open.

Cursors leave PostgreSQL as placeholders: the SQL writes ``<mark><position as hex>``
where a cursor goes, ``mark`` being random per request (a bind parameter, so no stored
value can hold it), and ``CursorScope.seal_marked`` seals each one in the JSON text.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from errors import BadInput

INVALID_CURSOR: Final = "The cursor `after` is not valid here: use a cursor this list gave you."
"""The one message of every bad cursor, whatever made it bad."""

NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
MAX_CURSOR_CHARS: Final = 200
_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")
_SALT: Final = b"regsosek-gateway"
_DOMAIN: Final = b"regsosek cursor"


def _derive(master_secret: bytes, *, generation: int, program: str) -> AESGCMSIV:
    info = _DOMAIN + b" v%d\x00" % generation + program.encode("utf-8")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=info).derive(master_secret)
    return AESGCMSIV(key)


Criteria = Callable[[], bytes]
"""The canonical filter of a connection, computed only when a cursor is sealed or opened."""


@dataclass(frozen=True)
class ProgramCursorKeys:
    """One program's cursor keys: ``generation`` seals; it and the previous one open."""

    program: str
    generation: int
    openers: Mapping[int, AESGCMSIV]

    @property
    def sealer(self) -> AESGCMSIV:
        return self.openers[self.generation]

    def scope(self, *, connection: str, ordering: str, criteria: Criteria) -> CursorScope:
        """The cursors of one connection field of one request (``criteria``: its canonical
        filter, see ``canonical_criteria``)."""
        return CursorScope(self, connection=connection, ordering=ordering, criteria=criteria)


class CursorKeys:
    """Every program's cursor keys, derived from the master secret on first use."""

    def __init__(self, master_secret: bytes, *, generation: int = 1) -> None:
        if len(master_secret) < 32:
            raise ValueError("the master secret must hold at least 32 bytes")
        if not 1 <= generation <= 255:
            raise ValueError("the cursor key generation must be from 1 to 255")
        self._secret = master_secret
        self.generation = generation
        self._programs: dict[str, ProgramCursorKeys] = {}

    def for_program(self, program: str) -> ProgramCursorKeys:
        keys = self._programs.get(program)
        if keys is None:
            generations = [self.generation] + ([self.generation - 1] if self.generation > 1 else [])
            keys = ProgramCursorKeys(
                program=program,
                generation=self.generation,
                openers={
                    number: _derive(self._secret, generation=number, program=program)
                    for number in generations
                },
            )
            self._programs[program] = keys
        return keys


def canonical_criteria(values: Mapping[str, Any]) -> bytes:
    """One byte string per filter meaning: keys sorted, times in UTC, enums by value."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat()
        if isinstance(value, Mapping):
            return {str(key): plain(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [plain(item) for item in value]
        return getattr(value, "value", value)

    return orjson.dumps(plain(values), option=orjson.OPT_SORT_KEYS)


class CursorScope:
    """Seals and opens the cursors of one connection field in one request.

    Every request of a connection makes one (for its mark); the binding is computed only
    when a cursor is sealed or opened, so a request without cursors pays a random mark.
    """

    __slots__ = ("_binding", "_connection", "_criteria", "_ordering", "keys", "mark")

    def __init__(
        self, keys: ProgramCursorKeys, *, connection: str, ordering: str, criteria: Criteria
    ) -> None:
        self.keys = keys
        self.mark = os.urandom(16).hex()
        """What the SQL writes before each position (see the module)."""
        self._connection = connection
        self._ordering = ordering
        self._criteria = criteria
        self._binding: bytes | None = None

    @property
    def binding(self) -> bytes:
        """The associated data: program, connection, ordering, canonical filter."""
        if self._binding is None:
            self._binding = b"\x00".join(
                (
                    _DOMAIN,
                    self.keys.program.encode(),
                    self._connection.encode(),
                    self._ordering.encode(),
                    self._criteria(),
                )
            )
        return self._binding

    def seal(self, position: bytes) -> str:
        """A new cursor of ``position``."""
        nonce = os.urandom(NONCE_BYTES)
        encrypt = self.keys.sealer.encrypt
        return _encode(self.keys.generation, nonce, encrypt(nonce, position, self.binding))

    def open(self, cursor: Any, *, size: int) -> bytes:
        """The position (``size`` bytes) ``cursor`` holds; ``BadInput`` if it holds none here."""
        expected = 1 + NONCE_BYTES + size + TAG_BYTES
        raw = _decode(cursor, expected)
        valid = raw is not None
        if raw is None:
            raw = bytes(expected)
        opener = self.keys.openers.get(raw[0])
        if opener is None:
            valid = False
            opener = self.keys.openers[self.keys.generation]
        try:
            position = opener.decrypt(
                raw[1 : 1 + NONCE_BYTES], raw[1 + NONCE_BYTES :], self.binding
            )
        except InvalidTag:
            valid = False
        if not valid:
            raise BadInput(INVALID_CURSOR)
        return position

    def seal_marked(self, text: str) -> str:
        """``text`` with every ``<mark><hex position>`` replaced by its sealed cursor.

        Within one answer a position gets one cursor (the last edge's cursor is the
        ``endCursor``); across answers they differ.
        """
        pieces = text.split(self.mark)
        if len(pieces) == 1:
            return text
        nonces = os.urandom(NONCE_BYTES * (len(pieces) - 1))
        encrypt, binding, generation = self.keys.sealer.encrypt, self.binding, self.keys.generation
        sealed: dict[str, str] = {}
        out = [pieces[0]]
        for index, piece in enumerate(pieces[1:]):
            end = piece.index('"')
            position = piece[:end]
            cursor = sealed.get(position)
            if cursor is None:
                nonce = nonces[index * NONCE_BYTES : (index + 1) * NONCE_BYTES]
                ciphertext = encrypt(nonce, bytes.fromhex(position), binding)
                cursor = sealed[position] = _encode(generation, nonce, ciphertext)
            out.append(cursor)
            out.append(piece[end:])
        return "".join(out)


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _encode(generation: int, nonce: bytes, ciphertext: bytes) -> str:
    """Unpadded base64url of ``generation ‖ nonce ‖ ciphertext``."""
    raw = bytes((generation,)) + nonce + ciphertext
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def _decode(cursor: Any, expected: int) -> bytes | None:
    """The cursor's bytes if it is canonical unpadded base64url of ``expected`` bytes."""
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_CHARS:
        return None
    if not _ALPHABET.fullmatch(cursor):
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != expected or base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != cursor:
        return None
    return raw
