"""The import layout, as the importer names it: defined in ``db.layout`` (the proposals of
agencies are checked against the same columns, on the request path)."""

from db.layout import (
    ASSISTANCE,
    BOUNDS,
    DIGIT_COLUMNS,
    FILES,
    HOUSEHOLDS,
    PERSONS,
    ColumnSpec,
    FileSpec,
    Kind,
    allowed_values,
)

__all__ = [
    "ASSISTANCE",
    "BOUNDS",
    "DIGIT_COLUMNS",
    "FILES",
    "HOUSEHOLDS",
    "PERSONS",
    "ColumnSpec",
    "FileSpec",
    "Kind",
    "allowed_values",
]
