"""Find registry ids in what a program received, however they are wrapped.

An attacker holding a response reads every string, and every string that decodes
as base64 or base64url: as text (digit runs) and as bytes (64-bit integers at any
offset, either byte order). ``ids_in`` does the same, so a test can prove no
string carries an id the program may not read.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from typing import Any

DIGITS = re.compile(r"[0-9]+")


def strings(value: Any) -> Iterator[str]:
    """Every string value in a JSON document (keys are the caller's own field names)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def numbers(value: Any) -> Iterator[int]:
    """Every integer value in a JSON document (counts, deciles, years …)."""
    if isinstance(value, int) and not isinstance(value, bool):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from numbers(item)


def _decodings(text: str) -> Iterator[bytes]:
    padded = text + "=" * (-len(text) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            yield decode(padded.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeError):
            continue


def _printable(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if text.isprintable() else None


def ids_in(text: str, ids: set[int], *, digit_runs: bool = True) -> set[int]:
    """The ids of ``ids`` that ``text`` equals, holds, or decodes to.

    ``digit_runs`` also reads the digit runs of ``text`` itself (right when ids are long
    numbers no other value can hold by chance); decoded text is always read so.
    """
    found = {int(text)} & ids if text.isascii() and text.isdigit() else set()
    if digit_runs:
        found |= {int(run) for run in DIGITS.findall(text)} & ids
    for raw in _decodings(text):
        decoded = _printable(raw)
        if decoded is not None:
            found |= {int(run) for run in DIGITS.findall(decoded)} & ids
        for offset in range(len(raw) - 7):
            window = raw[offset : offset + 8]
            found |= {int.from_bytes(window, "big"), int.from_bytes(window, "little")} & ids
    return found
