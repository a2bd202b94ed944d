"""Opaque keyset cursors.

A cursor is base64url of ``<tag>|<key values>``: the values of the page's
sort key at a row. Sorting is only offered on fields the program may read in
full, so a cursor never carries anything the caller could not see anyway.
Cursors are built in SQL (``cursor_sql``) and read back here.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Text, cast, func, literal_column
from sqlalchemy.sql import ColumnElement, FromClause

from errors import BadInput

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LOWEST_TIME = datetime(1, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Ordering:
    """A keyset ordering: its cursor tag and the columns of its key (id last)."""

    tag: str
    columns: tuple[str, ...]
    kinds: tuple[str, ...]
    """``int`` or ``time`` for each column."""

    def lowest(self) -> tuple[Any, ...]:
        """A key below every row (used when there is no ``after``)."""
        return tuple(0 if kind == "int" else LOWEST_TIME for kind in self.kinds)


HOUSEHOLD_ORDERINGS = {
    "ID_ASC": Ordering("h", ("id",), ("int",)),
    "WELFARE_DECILE_ASC": Ordering("hd", ("welfare_decile", "id"), ("int", "int")),
    "UPDATED_AT_ASC": Ordering("hu", ("updated_at", "id"), ("time", "int")),
}
PERSON_ORDERING = Ordering("p", ("id",), ("int",))


def cursor_sql(ordering: Ordering, source: FromClause) -> ColumnElement[Any]:
    """The cursor of ``source``'s current row, built in PostgreSQL."""
    text: ColumnElement[Any] = literal_column(f"'{ordering.tag}'")
    for column, kind in zip(ordering.columns, ordering.kinds, strict=True):
        value: ColumnElement[Any] = source.c[column]
        if kind == "time":
            value = cast(func.extract("epoch", value) * 1_000_000, BigInteger)
        text = text.op("||")(literal_column("'|'")).op("||")(cast(value, Text))
    encoded = func.encode(
        func.convert_to(text, literal_column("'UTF8'")), literal_column("'base64'")
    )
    return func.translate(encoded, literal_column("'+/='"), literal_column("'-_'"))


def decode_cursor(cursor: str, ordering: Ordering) -> tuple[Any, ...]:
    """The key values of ``cursor``; BAD_USER_INPUT if it is not one of this ordering's."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
        tag, *values = text.split("|")
        if tag != ordering.tag or len(values) != len(ordering.kinds):
            raise ValueError
        key: list[Any] = []
        for value, kind in zip(values, ordering.kinds, strict=True):
            number = int(value)
            if not -(2**63) <= number < 2**63:
                raise ValueError
            key.append(EPOCH + timedelta(microseconds=number) if kind == "time" else number)
        return tuple(key)
    except (ValueError, UnicodeError, binascii.Error, OverflowError):
        raise BadInput("The cursor `after` is not valid for this list and ordering.") from None
