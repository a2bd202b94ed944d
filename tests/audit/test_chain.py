"""The canonical serialization and the hash rule: what the chain hashes, fixed so any verifier can
recompute it."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from audit.chain import (
    CORE_COLUMNS,
    GENESIS_HASH,
    HASHED_COLUMNS,
    OPTIONAL_COLUMNS,
    STORED_COLUMNS,
    Head,
    canonical,
    chain_hash,
    step,
)
from tests.audit.support import golden_row

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


def test_canonical_form_is_frozen() -> None:
    """Changing it would break every stored chain: this vector pins it."""
    row = golden_row()
    assert canonical(row).decode() == GOLDEN_JSON
    assert chain_hash(GENESIS_HASH, row).hex() == GOLDEN_HASH


def test_hash_is_sha256_of_prev_hash_then_canonical_json() -> None:
    row = golden_row()
    expected = hashlib.sha256(bytes(32) + GOLDEN_JSON.encode()).hexdigest()
    assert chain_hash(GENESIS_HASH, row).hex() == expected


def test_canonical_json_is_sorted_keys_over_exactly_the_core_columns() -> None:
    text = canonical(golden_row())
    decoded = orjson.loads(text)
    assert sorted(decoded) == sorted(CORE_COLUMNS)
    assert orjson.dumps(decoded, option=orjson.OPT_SORT_KEYS) == text


def test_null_optional_columns_leave_the_canonical_form_as_it_was() -> None:
    """Events written before migration 0005 (the optional columns null, or absent from the row)
    keep their hash: the golden vector holds for the row read back with the new columns."""
    row = golden_row()
    assert len(row) == len(HASHED_COLUMNS)
    assert row[len(CORE_COLUMNS) :] == (None,) * len(OPTIONAL_COLUMNS)
    assert canonical(row).decode() == GOLDEN_JSON
    assert chain_hash(GENESIS_HASH, row).hex() == GOLDEN_HASH


GOLDEN_OPTIONAL_JSON = (
    '{"agency":"Dinas Sosial","agreement":"PKS 470/1/2026","case_ref":"MUSDES/2026/07",'
    '"client_id":"dinsos-client-01",'
    '"document_hash":"abababababababababababababababababababababababababababababababab",'
    '"endpoint":"graphql","error_code":null,'
    '"field_paths":["households.nodes.id","households.nodes.nik"],"household_ids":[1,3],'
    '"occurred_at":"2026-11-29T08:00:00.000005Z","operation_name":"Keluarga",'
    '"outcome":"allowed","person_ids":[11,12],"program":"dinsos-pkh",'
    '"purpose":"Verifikasi PKH","purpose_code":"VERIFIKASI_PKH","remote_addr":"10.0.0.7",'
    '"request_id":"req-1","row_count":2,"sealed_until":"2027-03-31","seq":1,'
    '"variables_hash":null}'
)


def test_optional_columns_are_hashed_in_key_order_when_set() -> None:
    """A set optional column is one more key in its sorted place; a null one is no key."""
    core = golden_row()[: len(CORE_COLUMNS)]
    row = (*core, "VERIFIKASI_PKH", "MUSDES/2026/07", None, date(2027, 3, 31))
    assert canonical(row).decode() == GOLDEN_OPTIONAL_JSON
    expected = hashlib.sha256(bytes(32) + GOLDEN_OPTIONAL_JSON.encode()).hexdigest()
    assert chain_hash(GENESIS_HASH, row).hex() == expected
    for index in range(len(CORE_COLUMNS), len(HASHED_COLUMNS)):
        emptied = list(row)
        emptied[index] = None
        changed = list(row)
        changed[index] = (
            "ff" * 16
            if OPTIONAL_COLUMNS[index - len(CORE_COLUMNS)] != ("sealed_until")
            else date(2027, 4, 1)
        )
        original = chain_hash(GENESIS_HASH, row)
        assert chain_hash(GENESIS_HASH, changed) != original
        if row[index] is not None:
            assert chain_hash(GENESIS_HASH, emptied) != original


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


class _Stored(tuple[Any, ...]):
    """A stored row as asyncpg returns it: values by position (``STORED_COLUMNS``) or name."""

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return super().__getitem__(STORED_COLUMNS.index(key))
        return super().__getitem__(key)


def test_step_checks_sequence_contents_link_and_time_of_one_stored_event() -> None:
    values = golden_row()
    digest = chain_hash(GENESIS_HASH, values)
    stored = _Stored((*values, GENESIS_HASH, digest))
    link = step(Head(), stored)
    assert link.sound
    assert link.head == Head(1, digest, values[1])
    assert not step(Head(seq=5), stored).next_in_line
    assert not step(Head(hash=b"\x01" * 32), stored).linked
    assert not step(Head(at=values[1] + timedelta(seconds=1)), stored).in_order
    edited = _Stored((*values[:-1], [99], GENESIS_HASH, digest))
    assert not step(Head(), edited).consistent
    assert not step(Head(), edited).sound
