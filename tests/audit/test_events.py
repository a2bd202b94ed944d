"""How an event is stored: ``event_row`` normalizes whatever a caller describes, and times are
written one way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from audit.chain import HASHED_COLUMNS
from audit.events import AuditEvent, event_row, format_time
from tests.audit.support import golden_row


def test_event_row_sorts_and_deduplicates_lists_and_lowercases_hashes() -> None:
    row = dict(zip(HASHED_COLUMNS, golden_row(), strict=True))
    assert row["household_ids"] == [1, 3]
    assert row["person_ids"] == [11, 12]
    assert row["field_paths"] == ["households.nodes.id", "households.nodes.nik"]
    assert row["document_hash"] == "ab" * 32


def test_event_row_makes_any_caller_input_storable() -> None:
    """One odd request must not make a whole batch fail: values are cut, never refused."""
    event = AuditEvent(
        endpoint="token",
        outcome="unauthenticated",
        request_id="r" * 200,
        client_id="x\x00" * 100,
        operation_name="o" * 5000,
        field_paths=["p\x00ath"],
    )
    row = dict(
        zip(HASHED_COLUMNS, event_row(event, seq=1, occurred_at=datetime.now(UTC)), strict=True)
    )
    assert row["request_id"] == "r" * 64
    assert row["client_id"] == "x" * 64
    assert len(row["operation_name"]) == 1000
    assert row["field_paths"] == ["path"]


def test_times_are_utc_with_six_fraction_digits() -> None:
    jakarta = timezone(timedelta(hours=7))
    assert (
        format_time(datetime(2026, 11, 29, 15, 0, tzinfo=jakarta)) == "2026-11-29T08:00:00.000000Z"
    )
    assert (
        format_time(datetime(2026, 1, 2, 3, 4, 5, 123, tzinfo=UTC)) == "2026-01-02T03:04:05.000123Z"
    )
    with pytest.raises(ValueError, match="timezone"):
        format_time(datetime(2026, 1, 2))


def test_ids_given_as_text_are_stored_and_hashed_as_integers() -> None:
    event = AuditEvent(endpoint="graphql", outcome="allowed", request_id="r")
    event.household_ids = ["12", 3]  # type: ignore[list-item]
    row = dict(
        zip(HASHED_COLUMNS, event_row(event, seq=1, occurred_at=datetime.now(UTC)), strict=True)
    )
    assert row["household_ids"] == [3, 12]
