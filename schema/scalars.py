"""Date and time scalars.

Values arrive from PostgreSQL already as ISO-8601 text, so serialising passes
strings through; parsing accepts ISO-8601 and rejects anything else with a
clear error.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, NewType

import strawberry


def _serialize(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def _parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 date-time string")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("the date-time needs a time zone (for example 2026-01-31T00:00:00+07:00)")
    return parsed


def _parse_date(value: Any) -> date:
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 date string")
    return date.fromisoformat(value)


DateTime = NewType("DateTime", datetime)
Date = NewType("Date", date)
BigInt = NewType("BigInt", int)

SCALARS: dict[object, Any] = {
    DateTime: strawberry.scalar(
        name="DateTime",
        description="Waktu ISO 8601 dengan zona waktu / ISO 8601 date-time with a time zone",
        serialize=_serialize,
        parse_value=_parse_datetime,
    ),
    Date: strawberry.scalar(
        name="Date",
        description="Tanggal ISO 8601 / ISO 8601 date (YYYY-MM-DD)",
        serialize=_serialize,
        parse_value=_parse_date,
    ),
    BigInt: strawberry.scalar(
        name="BigInt",
        description="Bilangan bulat 64-bit, sebagai teks / 64-bit integer, as a string",
        serialize=str,
        parse_value=int,
    ),
}
"""The custom scalars, for ``StrawberryConfig(scalar_map=...)``."""


def parse_id(value: Any) -> int | None:
    """A registry id from its GraphQL form; None when it cannot be one (answered as absent)."""
    text = str(value)
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        return None
    return int(text)
