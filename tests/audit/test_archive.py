"""Old months can be archived (their partitions detached) and the rest still verifies:
the writer signs the last event of every month, and the verifier starts from that head."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.audit.support import ChainDatabase, Clock, sample_event


@pytest.fixture
async def two_months(chain_db: ChainDatabase) -> ChainDatabase:
    """Events 1–5 on 30 September 2026, 6–10 on 1 October."""
    clock = Clock(datetime(2026, 9, 30, 23, 59, tzinfo=UTC))
    writer = chain_db.writer(clock=clock, checkpoint_every=1000, flush_ms=0)
    await writer.start()
    try:
        for index in range(5):
            await writer.record(sample_event(index))
        clock.now = datetime(2026, 10, 1, 0, 1, tzinfo=UTC)
        for index in range(5, 10):
            await writer.record(sample_event(index))
    finally:
        await writer.close()
    return chain_db


async def test_the_last_event_of_each_month_is_signed(two_months: ChainDatabase) -> None:
    rows = await two_months.fetch("SELECT seq FROM audit_checkpoints ORDER BY id")
    assert [row["seq"] for row in rows] == [0, 5, 10]
    partitions = await two_months.fetch(
        "SELECT tableoid::regclass::text AS partition, count(*) FROM audit_events GROUP BY 1"
    )
    assert {row["partition"]: row["count"] for row in partitions} == {
        "audit_events_2026_09": 5,
        "audit_events_2026_10": 5,
    }
    assert (await two_months.verify()).ok


async def test_a_chain_with_archived_months_verifies_from_the_signed_month_end(
    two_months: ChainDatabase,
) -> None:
    await two_months.tamper("ALTER TABLE audit_events DETACH PARTITION audit_events_2026_09")
    report = await two_months.verify()
    assert report.ok, report.damage
    assert (report.archived_before, report.first_seq, report.events_valid) == (6, 6, 5)
    assert {c.seq: c.status for c in report.checkpoints} == {0: "archived", 5: "valid", 10: "valid"}


async def test_events_missing_after_the_archived_months_are_still_deleted(
    two_months: ChainDatabase,
) -> None:
    await two_months.tamper(
        "ALTER TABLE audit_events DETACH PARTITION audit_events_2026_09",
        "DELETE FROM audit_events WHERE seq = 6",
    )
    report = await two_months.verify()
    assert report.damage is not None
    assert (report.damage.seq, report.damage.kind, report.damage.through_seq) == (6, "deleted", 6)
    assert report.head_seq == 5


async def test_a_missing_beginning_without_a_signed_boundary_is_deleted(
    chain: ChainDatabase,
) -> None:
    await chain.tamper("DELETE FROM audit_events WHERE seq <= 15")
    report = await chain.verify()
    assert report.damage is not None
    assert (report.damage.seq, report.damage.kind) == (11, "deleted")
    assert report.damage.through_seq == 15
