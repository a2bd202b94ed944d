"""The breach pack's chain check over a window (``audit.breach_window``) and its purposes and
case references, on a chain written by the real writer (40 events, a checkpoint every 10)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from audit.breach_pack import Auditor, write_breach_pack
from audit.breach_window import WindowCheck, verify_window
from audit.events import AuditEvent
from errors import Unavailable
from tests.audit.support import ChainDatabase, sample_event
from tests.audit.test_tampering import rehash_from


async def _window(chain: ChainDatabase, first: int, last: int) -> tuple[datetime, datetime]:
    rows = await chain.fetch(
        "SELECT seq, occurred_at FROM audit_events WHERE seq IN ($1, $2) ORDER BY seq", first, last
    )
    return rows[0]["occurred_at"], rows[1]["occurred_at"] + timedelta(microseconds=1)


async def _check(chain: ChainDatabase, first: int, last: int) -> WindowCheck:
    start, end = await _window(chain, first, last)
    connection = await chain.owner()
    try:
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            return await verify_window(connection, start=start, end=end)
    finally:
        await connection.close()


async def test_the_window_is_walked_between_the_signed_heads_around_it(
    chain: ChainDatabase,
) -> None:
    check = await _check(chain, 15, 25)
    assert check.ok
    assert (check.first_seq, check.last_seq) == (15, 25)
    assert (check.anchor_seq, check.through_seq, check.events_walked) == (10, 30, 20)


async def test_damage_before_the_signed_anchor_does_not_block_the_window(
    chain: ChainDatabase,
) -> None:
    await chain.tamper("UPDATE audit_events SET program = 'x' WHERE seq = 5")
    assert not (await chain.verify()).ok
    assert (await _check(chain, 15, 25)).ok
    damage = (await _check(chain, 3, 25)).damage
    assert damage is not None
    assert (damage.seq, damage.kind) == (5, "edited")


async def test_an_event_edited_and_rehashed_in_the_window_is_found_by_the_next_signed_head(
    chain: ChainDatabase,
) -> None:
    await rehash_from(chain, 17, client_id="someone-else")
    damage = (await _check(chain, 15, 18)).damage
    assert damage is not None
    assert (damage.seq, damage.kind, damage.through_seq) == (11, "forged", 20)


async def test_purposes_and_case_references_are_in_the_pack(
    chain_db: ChainDatabase, tmp_path: Path
) -> None:
    writer = chain_db.writer(checkpoint_every=10, flush_ms=0)
    await writer.start()
    try:
        for index, case_ref in enumerate(("KASUS/2026/7", None, "KASUS/2026/9")):
            await writer.record(
                sample_event(
                    index,
                    client_id="leaky-01",
                    household_ids=[1, 2],
                    purpose_code="PKH_VERIFIKASI",
                    case_ref=case_ref,
                )
            )
        connection = await asyncpg.connect(chain_db.url)
        try:
            result = await write_breach_pack(
                connection,
                client_id="leaky-01",
                start=datetime.now(UTC) - timedelta(hours=1),
                end=datetime.now(UTC) + timedelta(hours=1),
                out=tmp_path / "pack",
                record=writer.record,
                auditor=Auditor("inspektorat-audit", "inspektorat", None, None),
                generated_at=datetime.now(UTC),
            )
        finally:
            await connection.close()
    finally:
        await writer.close()
    assert result.facts is not None
    with (tmp_path / "pack" / "households.csv").open(newline="") as handle:
        rows = {row["household_id"]: row for row in csv.DictReader(handle)}
    assert rows["1"]["case_refs"] == "KASUS/2026/7 | KASUS/2026/9"
    assert rows["2"]["purpose_codes"] == "PKH_VERIFIKASI"
    assert rows["1"]["events"] == "3"
    events = (tmp_path / "pack" / "events.csv").read_text()
    assert "KASUS/2026/9" in events
    assert "PKH_VERIFIKASI (3)" in (tmp_path / "pack" / "ringkasan.html").read_text()


async def test_a_run_that_cannot_be_audited_leaves_nothing(
    chain_db: ChainDatabase, tmp_path: Path
) -> None:
    writer = chain_db.writer(checkpoint_every=10, flush_ms=0)
    await writer.start()
    try:
        await writer.record(sample_event(0, client_id="leaky-02"))
    finally:
        await writer.close()

    async def unavailable(event: AuditEvent) -> int:
        raise Unavailable("the audit trail cannot be written")

    connection = await asyncpg.connect(chain_db.url)
    try:
        with pytest.raises(Unavailable):
            await write_breach_pack(
                connection,
                client_id="leaky-02",
                start=datetime.now(UTC) - timedelta(hours=1),
                end=datetime.now(UTC) + timedelta(hours=1),
                out=tmp_path / "reports" / "pack",
                record=unavailable,
                auditor=Auditor("inspektorat-audit", "inspektorat", None, None),
                generated_at=datetime.now(UTC),
            )
    finally:
        await connection.close()
    assert list((tmp_path / "reports").iterdir()) == []
