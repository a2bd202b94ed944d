"""The canonical form cut in three around ``occurred_at`` and ``seq``: what the database
function ``regsosek_audit_append`` (migration 0011) splices to hash an event."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from audit.chain import HASHED_COLUMNS, canonical, canonical_pieces
from audit.events import format_time
from tests.audit.support import golden_row

TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12) | st.sampled_from(
    ['"', "\\", '\\"', "{a,b}", "Ünïcödé 🙂", "\n\t", "null", "", '","seq":']
)
OPTIONAL_TEXT = st.none() | TEXT
IDS = st.lists(st.integers(min_value=1, max_value=2**62), max_size=5)


@st.composite
def rows(draw: st.DrawFn) -> tuple[Any, ...]:
    """``HASHED_COLUMNS`` values with any text, lists empty or not, optional columns or none."""
    return (
        draw(st.integers(min_value=1, max_value=2**62)),
        draw(
            st.datetimes(
                min_value=datetime(1000, 1, 1),
                max_value=datetime(9999, 12, 30),
                timezones=st.just(UTC),
            )
        ),
        draw(TEXT),
        draw(TEXT),
        *(draw(OPTIONAL_TEXT) for _ in range(9)),
        draw(TEXT),
        draw(OPTIONAL_TEXT),
        draw(st.integers(min_value=0, max_value=2**31 - 1)),
        draw(st.lists(TEXT, max_size=4)),
        draw(IDS),
        draw(IDS),
        draw(OPTIONAL_TEXT),
        draw(OPTIONAL_TEXT),
        draw(OPTIONAL_TEXT),
        draw(st.none() | st.dates(min_value=date(2000, 1, 1))),
    )


def spliced(row: tuple[Any, ...]) -> bytes:
    before_time, before_seq, after_seq = canonical_pieces(row)
    at = format_time(row[1]).encode()
    return before_time + at + before_seq + str(row[0]).encode() + after_seq


@settings(max_examples=400, deadline=None)
@given(rows())
def test_pieces_spliced_with_time_and_seq_are_the_canonical_form(row: tuple[Any, ...]) -> None:
    assert len(row) == len(HASHED_COLUMNS)
    assert spliced(row) == canonical(row)


def test_pieces_ignore_the_rows_own_seq_and_time() -> None:
    row = golden_row()
    other = (999, datetime(2030, 1, 1, tzinfo=UTC), *row[2:])
    assert canonical_pieces(row) == canonical_pieces(other)
    assert spliced(row) == canonical(row)
