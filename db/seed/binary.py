"""PostgreSQL binary COPY rows, built column by column with numpy.

A binary COPY row is a 16-bit field count followed by, for each field, a
32-bit length and that many bytes (length -1 for NULL). Building millions of
rows value by value in Python is far too slow, so :class:`CopyRows` lays each
row out in a padded ``rows × width`` byte matrix, one column slice at a time,
together with a mask of the bytes that belong to the row; one boolean
compression then yields the exact stream. Every operation is a numpy slice
assignment, so the cost is a few nanoseconds a byte.

Variable-length values (text, enum labels, arrays) are concatenations of
:class:`Segment` s: a padded byte matrix and the used length of each row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
"""Signature, flags and header-extension length that open a binary COPY stream."""
TRAILER = (-1).to_bytes(2, "big", signed=True)
"""The field count -1 that closes a binary COPY stream."""

POSTGRES_EPOCH_DAYS = 10_957
"""Days from 1970-01-01 (numpy's epoch) to 2000-01-01 (PostgreSQL's)."""

Bytes2D = NDArray[np.uint8]
Ints = NDArray[np.integer]
Mask = NDArray[np.bool_]


@dataclass(frozen=True)
class Segment:
    """Part of a variable-length value: ``data[i, :lengths[i]]`` are row i's bytes."""

    data: Bytes2D
    lengths: NDArray[np.int32]


def vocabulary(words: Sequence[str | bytes]) -> tuple[NDArray[np.bytes_], NDArray[np.int32]]:
    """Words as a fixed-width byte array and their UTF-8 lengths (for :func:`words`)."""
    encoded = [word.encode() if isinstance(word, str) else word for word in words]
    width = max(1, *(len(word) for word in encoded))
    return (
        np.array(encoded, dtype=f"S{width}"),
        np.array([len(word) for word in encoded], dtype=np.int32),
    )


def words(codes: Ints, table: tuple[NDArray[np.bytes_], NDArray[np.int32]]) -> Segment:
    """Row i is word ``codes[i]`` of a :func:`vocabulary`."""
    strings, lengths = table
    chosen = strings[codes]
    width = strings.dtype.itemsize
    return Segment(chosen.view(np.uint8).reshape(len(chosen), width), lengths[codes])


def literal(text: str, rows: int) -> Segment:
    """The same text on every row."""
    raw = np.frombuffer(text.encode(), dtype=np.uint8)
    return Segment(
        np.broadcast_to(raw, (rows, len(raw))),
        np.broadcast_to(np.int32(len(raw)), (rows,)),
    )


def digits(values: Ints, width: int) -> Segment:
    """Non-negative integers as zero-padded decimal text of ``width`` digits."""
    values = np.asarray(values, dtype=np.int64)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    matrix = ((values[:, None] // powers) % 10 + ord("0")).astype(np.uint8)
    return Segment(matrix, np.broadcast_to(np.int32(width), (len(values),)))


def unpadded_digits(values: Ints, width: int) -> Segment:
    """Non-negative integers below ``10**width`` as decimal text without leading zeros."""
    padded = digits(values, width)
    values = np.asarray(values, dtype=np.int64)
    count = np.ones(len(values), dtype=np.int32)
    for power in range(1, width):
        count += values >= 10**power
    shift = width - count
    columns = np.arange(width)[None, :] + shift[:, None]
    shifted = np.take_along_axis(padded.data, np.minimum(columns, width - 1), axis=1)
    return Segment(shifted, count)


class CopyRows:
    """Rows of a binary COPY stream, added one column at a time, in table column order."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self._parts: list[tuple[Bytes2D, Mask | None]] = []
        self._fields = 0

    def _fixed(self, values: NDArray[np.generic], *, dtype: str, null: Mask | None = None) -> None:
        size = np.dtype(dtype).itemsize
        typed = np.asarray(values).astype(dtype)
        payload = typed.view(np.uint8).reshape(self.rows, size)
        if null is None:
            length = np.frombuffer(size.to_bytes(4, "big"), dtype=np.uint8)
            self._parts.append((np.broadcast_to(length, (self.rows, 4)), None))
            self._parts.append((payload, None))
        else:
            lengths = np.where(null, -1, size).astype(">i4")
            self._parts.append((lengths.view(np.uint8).reshape(self.rows, 4), None))
            self._parts.append((payload, np.broadcast_to(~null[:, None], (self.rows, size))))
        self._fields += 1

    def smallint(self, values: Ints, *, null: Mask | None = None) -> None:
        self._fixed(values, dtype=">i2", null=null)

    def integer(self, values: Ints) -> None:
        self._fixed(values, dtype=">i4")

    def bigint(self, values: Ints) -> None:
        self._fixed(values, dtype=">i8")

    def boolean(self, values: NDArray[np.bool_]) -> None:
        self._fixed(values, dtype="u1")

    def date(self, values: NDArray[np.datetime64]) -> None:
        days = values.astype("datetime64[D]").astype(np.int64) - POSTGRES_EPOCH_DAYS
        self._fixed(days, dtype=">i4")

    def text(self, *segments: Segment, null: Mask | None = None) -> None:
        """A text-like value (text, varchar, enum label, or pre-encoded array) from segments."""
        total = np.zeros(self.rows, dtype=np.int32)
        for segment in segments:
            total = total + segment.lengths
        if null is not None:
            total = np.where(null, np.int32(-1), total)
        self._parts.append((total.astype(">i4").view(np.uint8).reshape(self.rows, 4), None))
        for segment in segments:
            width = segment.data.shape[1]
            keep = np.arange(width)[None, :] < segment.lengths[:, None]
            if null is not None:
                keep &= ~null[:, None]
            self._parts.append((segment.data, keep))
        self._fields += 1

    def build(self) -> bytes:
        """The rows as one binary COPY payload (without header or trailer)."""
        count = np.frombuffer(self._fields.to_bytes(2, "big"), dtype=np.uint8)
        parts = [(np.broadcast_to(count, (self.rows, 2)), None), *self._parts]
        width = sum(data.shape[1] for data, _ in parts)
        matrix = np.empty((self.rows, width), dtype=np.uint8)
        keep: Mask | None = None
        start = 0
        for data, mask in parts:
            end = start + data.shape[1]
            matrix[:, start:end] = data
            if mask is not None:
                if keep is None:
                    keep = np.ones((self.rows, width), dtype=np.bool_)
                keep[:, start:end] = mask
            start = end
        if keep is None:
            return matrix.tobytes()
        return matrix[keep].tobytes()
