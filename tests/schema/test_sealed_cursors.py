"""``schema.sealed_cursors``: what a sealed cursor is bound to, key rotation, one refusal."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from errors import BadInput
from schema.sealed_cursors import INVALID_CURSOR, CursorKeys, CursorScope, canonical_criteria

SECRET = bytes(range(32))
POSITION = (123_456).to_bytes(8, "big")


def scope(
    keys: CursorKeys,
    program: str = "dinsos-pkh",
    *,
    connection: str = "persons",
    ordering: str = "p",
    criteria: bytes = b"{}",
) -> CursorScope:
    return keys.for_program(program).scope(
        connection=connection, ordering=ordering, criteria=lambda: criteria
    )


def refused(cursor: str, where: CursorScope, size: int = 8) -> str:
    with pytest.raises(BadInput) as error:
        where.open(cursor, size=size)
    return error.value.message


def test_a_cursor_opens_where_it_was_sealed_and_nowhere_else() -> None:
    keys = CursorKeys(SECRET)
    cursor = scope(keys).seal(POSITION)
    assert scope(keys).open(cursor, size=8) == POSITION
    assert len(cursor) <= 64
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    elsewhere = [
        scope(keys, "dinkes-pbi"),
        scope(keys, connection="households"),
        scope(keys, ordering="h"),
        scope(keys, criteria=b'{"sex":"FEMALE"}'),
        scope(CursorKeys(bytes(reversed(SECRET)))),
    ]
    assert {refused(cursor, where) for where in elsewhere} == {INVALID_CURSOR}
    assert refused(cursor, scope(keys), size=16) == INVALID_CURSOR


def test_every_edited_byte_and_every_malformed_cursor_gets_the_one_message() -> None:
    keys = CursorKeys(SECRET)
    cursor = scope(keys).seal(POSITION)
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    messages = set()
    for index in range(len(raw)):
        edited = bytearray(raw)
        edited[index] ^= 0x80
        text = base64.urlsafe_b64encode(bytes(edited)).decode().rstrip("=")
        messages.add(refused(text, scope(keys)))
    for bad in ("", "=", cursor + "=", cursor[:-1], cursor + "A", cursor.upper(), "é" * 50):
        messages.add(refused(bad, scope(keys)))
    assert messages == {INVALID_CURSOR}


def test_rotation_keeps_the_previous_generation_and_drops_older_ones() -> None:
    first = scope(CursorKeys(SECRET, generation=1)).seal(POSITION)
    second = scope(CursorKeys(SECRET, generation=2)).seal(POSITION)
    assert scope(CursorKeys(SECRET, generation=2)).open(first, size=8) == POSITION
    assert scope(CursorKeys(SECRET, generation=3)).open(second, size=8) == POSITION
    assert refused(first, scope(CursorKeys(SECRET, generation=3))) == INVALID_CURSOR
    # A server not yet rotated does not open the next generation's cursors.
    assert refused(second, scope(CursorKeys(SECRET, generation=1))) == INVALID_CURSOR


def test_a_rotated_key_is_a_different_key() -> None:
    """A cursor whose generation byte is rewritten to another generation does not open."""
    cursor = scope(CursorKeys(SECRET, generation=1)).seal(POSITION)
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[0] = 2
    relabelled = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    assert refused(relabelled, scope(CursorKeys(SECRET, generation=2))) == INVALID_CURSOR


def test_cursors_of_one_position_differ_between_answers_and_not_within_one() -> None:
    keys = CursorKeys(SECRET)
    one = scope(keys)
    assert one.seal(POSITION) != one.seal(POSITION)
    placeholder = one.mark + POSITION.hex()
    text = '{"a":"%s","b":"%s","c":"%s"}' % (placeholder, placeholder, one.mark + "00" * 8)
    sealed = one.seal_marked(text)
    assert one.mark not in sealed
    values = sealed.split('"')[3::4]
    assert values[0] == values[1] != values[2]
    assert one.open(values[0], size=8) == POSITION
    assert one.open(values[2], size=8) == bytes(8)
    assert scope(keys).mark != one.mark


def test_the_canonical_filter_is_the_same_for_the_same_meaning() -> None:
    utc = datetime(2026, 1, 1, 1, tzinfo=UTC)
    wib = utc.astimezone(timezone(timedelta(hours=7)))
    assert canonical_criteria({"b": 1, "a": utc}) == canonical_criteria({"a": wib, "b": 1})
    assert canonical_criteria({"a": 1}) != canonical_criteria({"a": 2})


def test_keys_need_a_real_secret_and_a_generation_in_range() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        CursorKeys(b"short")
    for generation in (0, 256):
        with pytest.raises(ValueError, match="generation"):
            CursorKeys(SECRET, generation=generation)
