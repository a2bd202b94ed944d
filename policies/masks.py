"""Field modes as SQL: the expression the compiler selects for a field in a program's mode.

* FULL: the column itself.
* MASKED, by the catalogue's ``Attribute.mask``:
  ``DIGITS_6_4`` → ``left(v, 6) || '******' || right(v, 4)`` (16 characters for a
  16-digit NIK or No KK); ``INITIALS`` → each word's initial and a full stop
  ("Siti Aminah" → "S. A."); ``YEAR`` → the year as text ("2008").
* PSEUDONYM: ``encode(hmac_sha256(K_program, convert_to(v, 'UTF8')), 'hex')``, the
  64-character lower-case hex HMAC-SHA256 of the value's UTF-8 bytes under
  the program's key ``K_program = HMAC-SHA256(pseudonym_key, "pseudonym:" + program)``.
  It is computed inside PostgreSQL with the built-in ``sha256()`` (no pgcrypto)
  from the key's pre-computed inner and outer pad blocks, passed as bind
  parameters: ``sha256(opad || sha256(ipad || m))``. One person gives one
  token to a program and unlinkable tokens to different programs; Python's
  ``pseudonym()`` computes the same token.

Raw values of masked or pseudonymised fields never leave PostgreSQL, and a
mode the catalogue does not allow for the field raises ``ValueError`` instead
of falling back to the raw value.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import ColumnElement, LargeBinary, String, Text, bindparam, func, literal_column
from sqlalchemy.sql.expression import ColumnClause, type_coerce

from db.catalog import Attribute, Mask
from policies.model import FieldMode, Program

BLOCK_SIZE = 64
"""SHA-256's block size in bytes (RFC 2104's B)."""

_WHITESPACE: ColumnClause[str] = literal_column(r"'\s+'")
_SPACE: ColumnClause[str] = literal_column("' '")
_WORD: ColumnClause[str] = literal_column(r"'(\S)\S*'")
_INITIAL: ColumnClause[str] = literal_column(r"'\1.'")
_GLOBAL: ColumnClause[str] = literal_column("'g'")
_STARS: ColumnClause[str] = literal_column("'******'")


def program_key(pseudonym_key: bytes, program: str) -> bytes:
    """The program's own HMAC key, derived from the deployment's pseudonym key."""
    return hmac.new(pseudonym_key, b"pseudonym:" + program.encode(), hashlib.sha256).digest()


def pseudonym(value: str, *, program: str, pseudonym_key: bytes) -> str:
    """The token PostgreSQL computes for ``value`` in PSEUDONYM mode (for tests and tools)."""
    key = program_key(pseudonym_key, program)
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def pad_blocks(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's (inner, outer) pad blocks for ``key`` (RFC 2104)."""
    if len(key) > BLOCK_SIZE:
        key = hashlib.sha256(key).digest()
    key = key.ljust(BLOCK_SIZE, b"\0")
    inner = bytes(byte ^ 0x36 for byte in key)
    outer = bytes(byte ^ 0x5C for byte in key)
    return inner, outer


def field_expression(
    *,
    attribute: Attribute,
    mode: FieldMode,
    column: ColumnElement[object],
    program: Program,
    pseudonym_key: bytes,
) -> ColumnElement[object]:
    """What to select for ``column`` (the attribute's value) in ``mode`` for ``program``."""
    match mode:
        case FieldMode.FULL:
            return column
        case FieldMode.MASKED:
            if attribute.mask is None:
                raise ValueError(f"{attribute.name} has no mask in the catalogue")
            return masked(attribute.mask, column)
        case FieldMode.PSEUDONYM:
            if not attribute.pseudonymisable:
                raise ValueError(f"{attribute.name} cannot be pseudonymised")
            return pseudonymised(column, key=program_key(pseudonym_key, program.name))
        case FieldMode.DENIED:
            raise ValueError(f"{attribute.name} is DENIED: it must not be selected")


def masked(mask: Mask, column: ColumnElement[object]) -> ColumnElement[object]:
    text = type_coerce(column, Text)
    match mask:
        case Mask.DIGITS_6_4:
            return type_coerce(
                func.left(text, 6, type_=String)
                .op("||")(_STARS)
                .op("||")(func.right(text, 4, type_=String)),
                String,
            )
        case Mask.INITIALS:
            words = func.regexp_replace(func.btrim(text), _WHITESPACE, _SPACE, _GLOBAL)
            return type_coerce(func.regexp_replace(words, _WORD, _INITIAL, _GLOBAL), String)
        case Mask.YEAR:
            return type_coerce(func.to_char(column, literal_column("'YYYY'")), String)


def pseudonymised(column: ColumnElement[object], *, key: bytes) -> ColumnElement[object]:
    """HMAC-SHA256 of the column's UTF-8 text under ``key``, in SQL, as lower-case hex."""
    inner, outer = pad_blocks(key)
    message = func.convert_to(type_coerce(column, Text), literal_column("'UTF8'"))
    inner_pad = bindparam(None, inner, type_=LargeBinary, unique=True)
    outer_pad = bindparam(None, outer, type_=LargeBinary, unique=True)
    inner_hash = func.sha256(inner_pad.op("||")(message))
    return type_coerce(
        func.encode(func.sha256(outer_pad.op("||")(inner_hash)), literal_column("'hex'")), String
    )
