"""WIB (Waktu Indonesia Barat, UTC+7, no daylight saving): where the agencies and the
Inspektorat work. Quota days and the auditors' report days are WIB days."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Final

WIB: Final = timezone(timedelta(hours=7), "WIB")

WIB_SQL: Final = "((({0}) AT TIME ZONE 'UTC') + interval '7 hours')"
"""SQL: the WIB wall-clock time of a ``timestamptz`` (a ``timestamp``); ``::date``: its day."""
