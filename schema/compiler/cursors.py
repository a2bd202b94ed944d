"""Keyset orderings, and where their cursors come from in SQL.

A page is in the order of its ordering's columns (the id last, so the order is
total); a cursor holds a row's values of those columns, its *position*. The SQL
writes each position as the hex of its values' ``int8send`` (8 bytes each,
big-endian), behind the request's random mark; ``schema.sealed_cursors`` seals
it in the JSON text and opens ``after`` again. No cursor leaves the gateway
unsealed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Text, bindparam, cast, func, literal_column
from sqlalchemy.sql import ColumnElement, FromClause

from policies import FieldMode, Program

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LOWEST_TIME = datetime(1, 1, 1, tzinfo=UTC)
CURSOR_MARK = bindparam("q_cursor_mark", type_=Text)
"""The request's mark before each position (see ``schema.sealed_cursors``)."""


@dataclass(frozen=True)
class Ordering:
    """A keyset ordering: its name in cursors, the columns of its key (id last), and
    the fields a program must read in full to sort by it (sorting is reading)."""

    tag: str
    columns: tuple[str, ...]
    kinds: tuple[str, ...]
    """``int`` or ``time`` for each column."""
    needs: tuple[tuple[str, str], ...]

    @property
    def size(self) -> int:
        """Bytes of a position."""
        return 8 * len(self.columns)

    def lowest(self) -> tuple[Any, ...]:
        """A key below every row (used when there is no ``after``)."""
        return tuple(0 if kind == "int" else LOWEST_TIME for kind in self.kinds)

    def key(self, position: bytes) -> tuple[Any, ...]:
        """The key values of a position (as ``cursor_sql`` wrote them)."""
        numbers = struct.unpack(f">{len(self.kinds)}q", position)
        return tuple(
            EPOCH + timedelta(microseconds=number) if kind == "time" else number
            for number, kind in zip(numbers, self.kinds, strict=True)
        )

    def usable_by(self, program: Program) -> bool:
        return all(
            program.mode(type_name, name) is FieldMode.FULL for type_name, name in self.needs
        )


HOUSEHOLD_ORDERINGS = {
    "ID_ASC": Ordering("h", ("id",), ("int",), (("Household", "id"),)),
    "WELFARE_DECILE_ASC": Ordering(
        "hd", ("welfare_decile", "id"), ("int", "int"), (("Household", "welfareDecile"),)
    ),
    "UPDATED_AT_ASC": Ordering(
        "hu", ("updated_at", "id"), ("time", "int"), (("Household", "updatedAt"),)
    ),
}
PERSON_ORDERING = Ordering("p", ("id",), ("int",), ())
"""Persons come in id order (the id itself never shows: dinkes-pbi reads no Person.id)."""


def cursor_sql(ordering: Ordering, source: FromClause) -> ColumnElement[Any]:
    """The placeholder of the cursor of ``source``'s current row: mark, then hex position."""
    position: ColumnElement[Any] | None = None
    for column, kind in zip(ordering.columns, ordering.kinds, strict=True):
        value: ColumnElement[Any] = source.c[column]
        if kind == "time":
            value = func.extract("epoch", value) * 1_000_000
        packed = func.int8send(cast(value, BigInteger))
        position = packed if position is None else position.op("||")(packed)
    assert position is not None
    return CURSOR_MARK.op("||")(func.encode(position, literal_column("'hex'")))
