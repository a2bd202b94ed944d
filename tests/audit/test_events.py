"""The canonical serialization: what the chain hashes, fixed so any verifier can recompute it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from audit.chain import GENESIS_HASH, HASHED_COLUMNS, canonical, chain_hash
from audit.events import AuditEvent, event_row, format_time

GOLDEN_JSON = (
    '{"agency":"Dinas Sosial","agreement":"PKS 470/1/2026","client_id":"dinsos-client-01",'
    '"document_hash":"abababababababababababababababababababababababababababababababab",'
    '"endpoint":"graphql","error_code":null,'
    '"field_paths":["households.nodes.id","households.nodes.nik"],"household_ids":[1,3],'
    '"occurred_at":"2026-11-29T08:00:00.000005Z","operation_name":"Keluarga",'
    '"outcome":"allowed","person_ids":[11,12],"program":"dinsos-pkh",'
    '"purpose":"Verifikasi PKH","remote_addr":"10.0.0.7","request_id":"req-1","row_count":2,'
    '"seq":1,"variables_hash":null}'
)
GOLDEN_HASH = "8d67e1f3a0d75aa15fe46ab65643b33d7158bdb7ccc0075432a6f9290f23a3c5"


def golden_row() -> tuple[Any, ...]:
    event = AuditEvent(
        endpoint="graphql",
        outcome="allowed",
        request_id="req-1",
        client_id="dinsos-client-01",
        agency="Dinas Sosial",
        program="dinsos-pkh",
        agreement="PKS 470/1/2026",
        purpose="Verifikasi PKH",
        remote_addr="10.0.0.7",
        operation_name="Keluarga",
        document_hash="AB" * 32,
        field_paths=["households.nodes.nik", "households.nodes.id", "households.nodes.id"],
        household_ids=[3, 1, 3],
        person_ids=[12, 11],
        row_count=2,
    )
    return event_row(event, seq=1, occurred_at=datetime(2026, 11, 29, 8, 0, 0, 5, tzinfo=UTC))


def test_canonical_form_is_frozen() -> None:
    """Changing it would break every stored chain: this vector pins it."""
    row = golden_row()
    assert canonical(row).decode() == GOLDEN_JSON
    assert chain_hash(GENESIS_HASH, row).hex() == GOLDEN_HASH


def test_hash_is_sha256_of_prev_hash_then_canonical_json() -> None:
    row = golden_row()
    expected = hashlib.sha256(bytes(32) + GOLDEN_JSON.encode()).hexdigest()
    assert chain_hash(GENESIS_HASH, row).hex() == expected


def test_canonical_json_is_sorted_keys_over_exactly_the_hashed_columns() -> None:
    text = canonical(golden_row())
    decoded = orjson.loads(text)
    assert sorted(decoded) == sorted(HASHED_COLUMNS)
    assert orjson.dumps(decoded, option=orjson.OPT_SORT_KEYS) == text


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


def test_any_field_change_changes_the_hash() -> None:
    row = list(golden_row())
    original = chain_hash(GENESIS_HASH, row)
    for index in range(len(row)):
        changed = list(row)
        value = changed[index]
        if isinstance(value, datetime):
            changed[index] = value + timedelta(microseconds=1)
        elif isinstance(value, int):
            changed[index] = value + 1
        elif isinstance(value, list):
            changed[index] = [*value, 99]
        elif isinstance(value, str):
            changed[index] = value + "x"
        else:
            changed[index] = "x"
        assert chain_hash(GENESIS_HASH, changed) != original, HASHED_COLUMNS[index]
    assert chain_hash(b"\x01" * 32, row) != original


def test_ids_given_as_text_are_stored_and_hashed_as_integers() -> None:
    event = AuditEvent(endpoint="graphql", outcome="allowed", request_id="r")
    event.household_ids = ["12", 3]  # type: ignore[list-item]
    row = dict(
        zip(HASHED_COLUMNS, event_row(event, seq=1, occurred_at=datetime.now(UTC)), strict=True)
    )
    assert row["household_ids"] == [3, 12]
