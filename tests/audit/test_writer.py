"""The writer: group commit onto one gapless chain, checkpoints, shutdown, fail closed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from audit.signing import Signature
from audit.sql.chain import CHAIN_LOCK
from errors import Unavailable
from tests.audit.support import ChainDatabase, Clock, sample_event, write_events


async def test_concurrent_recorders_form_one_gapless_chain_in_batches(
    chain_db: ChainDatabase,
) -> None:
    writer = chain_db.writer()
    await writer.start()
    try:
        seqs = await write_events(writer, 400, concurrency=16)
    finally:
        await writer.close()
    assert seqs == list(range(1, 401))
    assert writer.steps < 200, "events should share chain steps (group commit)"
    report = await chain_db.verify()
    assert report.ok, report.damage
    assert (report.events_valid, report.head_seq) == (400, 400)


async def test_record_returns_the_committed_seq_of_that_event(chain_db: ChainDatabase) -> None:
    writer = chain_db.writer()
    await writer.start()
    try:
        seq = await writer.record(sample_event(7, request_id="the-one", outcome="denied"))
    finally:
        await writer.close()
    rows = await chain_db.fetch("SELECT request_id, outcome FROM audit_events WHERE seq = $1", seq)
    assert [tuple(row) for row in rows] == [("the-one", "denied")]


async def test_checkpoint_every_n_events_and_on_close(chain_db: ChainDatabase) -> None:
    writer = chain_db.writer(checkpoint_every=10, flush_ms=0)
    await writer.start()
    try:
        for index in range(35):
            await writer.record(sample_event(index))
    finally:
        await writer.close()
    rows = await chain_db.fetch("SELECT seq, event_count FROM audit_checkpoints ORDER BY id")
    assert [row["seq"] for row in rows] == [0, 10, 20, 30, 35]
    assert all(row["seq"] == row["event_count"] for row in rows)


async def test_time_based_checkpoints_prove_quiet_stretches(chain_db: ChainDatabase) -> None:
    writer = chain_db.writer(checkpoint_seconds=0.2)
    await writer.start()
    try:
        await asyncio.sleep(0.9)
    finally:
        await writer.close()
    rows = await chain_db.fetch("SELECT seq FROM audit_checkpoints ORDER BY id")
    assert len(rows) >= 3
    assert {row["seq"] for row in rows} == {0}
    report = await chain_db.verify()
    assert report.ok
    assert all(result.status == "valid" for result in report.checkpoints)


async def test_several_writers_write_one_checkpoint_not_one_each(chain_db: ChainDatabase) -> None:
    writers = [chain_db.writer(checkpoint_every=1000) for _ in range(3)]
    for writer in writers:
        await writer.start()
    for writer in writers:
        await writer.close()
    rows = await chain_db.fetch("SELECT seq FROM audit_checkpoints")
    assert [row["seq"] for row in rows] == [0]


async def test_close_commits_events_queued_before_it(chain_db: ChainDatabase) -> None:
    writer = chain_db.writer(flush_ms=50)
    await writer.start()
    pending = [asyncio.ensure_future(writer.record(sample_event(index))) for index in range(20)]
    await asyncio.sleep(0)
    await writer.close()
    assert sorted(await asyncio.gather(*pending)) == list(range(1, 21))
    with pytest.raises(Unavailable):
        await writer.record(sample_event())


async def test_record_before_start_is_refused(chain_db: ChainDatabase) -> None:
    writer = chain_db.writer()
    with pytest.raises(Unavailable):
        await writer.record(sample_event())


async def test_start_fails_closed_when_the_database_refuses(chain_db: ChainDatabase) -> None:
    owner = await chain_db.owner()
    try:
        await owner.execute("REVOKE INSERT ON audit_checkpoints FROM regsosek_app")
    finally:
        await owner.close()
    writer = chain_db.writer()
    with pytest.raises(Unavailable):
        await writer.start()


async def test_fails_closed_when_insert_is_revoked_then_recovers(chain_db: ChainDatabase) -> None:
    writer = chain_db.writer()
    await writer.start()
    owner = await chain_db.owner()
    try:
        await write_events(writer, 3)
        await owner.execute("REVOKE INSERT ON audit_events FROM regsosek_app")
        results = await asyncio.gather(
            *(writer.record(sample_event(index)) for index in range(5)), return_exceptions=True
        )
        assert all(isinstance(result, Unavailable) for result in results)
        assert await owner.fetchval("SELECT count(*) FROM audit_events") == 3
        await owner.execute("GRANT INSERT ON audit_events TO regsosek_app")
        assert await writer.record(sample_event(9)) == 4
    finally:
        await writer.close()
        await owner.close()
    report = await chain_db.verify()
    assert report.ok
    assert report.head_seq == 4


async def test_fails_closed_when_the_partition_is_missing_then_recreates_it(
    chain_db: ChainDatabase,
) -> None:
    writer = chain_db.writer()
    await writer.start()
    owner = await chain_db.owner()
    try:
        partition = await owner.fetchval(
            "SELECT 'audit_events_' || to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM')"
        )
        await owner.execute(f"DROP TABLE {partition}")
        with pytest.raises(Unavailable):
            await writer.record(sample_event(1))
        assert await writer.record(sample_event(2)) == 1
        assert await owner.fetchval("SELECT to_regclass($1) IS NOT NULL", partition)
    finally:
        await writer.close()
        await owner.close()
    assert (await chain_db.verify()).ok


TERMINATE_WRITER = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
    " WHERE application_name = 'regsosek-audit' AND datname = current_database()"
)


async def test_fails_closed_when_the_connection_dies_mid_step(chain_db: ChainDatabase) -> None:
    writer = chain_db.writer()
    await writer.start()
    owner = await chain_db.owner()
    try:
        await write_events(writer, 2)
        # Hold the chain lock so that the writer's next step waits inside its transaction.
        await owner.execute("SELECT pg_advisory_lock($1)", CHAIN_LOCK)
        recording = asyncio.ensure_future(writer.record(sample_event(3)))
        await asyncio.sleep(0.3)
        assert not recording.done()
        assert await owner.fetchval(TERMINATE_WRITER) == 1
        with pytest.raises(Unavailable):
            await recording
        await owner.execute("SELECT pg_advisory_unlock($1)", CHAIN_LOCK)
        assert await writer.record(sample_event(4)) == 3
    finally:
        await writer.close()
        await owner.close()
    assert (await chain_db.verify()).ok


async def test_an_idle_connection_lost_is_replaced_unnoticed(chain_db: ChainDatabase) -> None:
    writer = chain_db.writer()
    await writer.start()
    owner = await chain_db.owner()
    try:
        await write_events(writer, 2)
        assert await owner.fetchval(TERMINATE_WRITER) == 1
        await asyncio.sleep(0.1)
        assert await writer.record(sample_event(3)) == 3
    finally:
        await writer.close()
        await owner.close()


async def test_fails_closed_while_the_database_refuses_connections(
    chain_db: ChainDatabase,
) -> None:
    writer = chain_db.writer()
    await writer.start()
    owner = await chain_db.owner()
    database = await owner.fetchval("SELECT current_database()")
    try:
        await write_events(writer, 2)
        await owner.execute(f"REVOKE CONNECT ON DATABASE {database} FROM PUBLIC, regsosek_app")
        assert await owner.fetchval(TERMINATE_WRITER) == 1
        for index in range(2):
            with pytest.raises(Unavailable):
                await writer.record(sample_event(index))
        await owner.execute(f"GRANT CONNECT ON DATABASE {database} TO regsosek_app")
        assert await writer.record(sample_event(5)) == 3
    finally:
        await writer.close()
        await owner.close()
    assert (await chain_db.verify()).ok


class BrokenSigner:
    def sign(self, payload: bytes) -> Signature:
        raise RuntimeError("no signing key")


async def test_fails_closed_when_the_checkpoint_cannot_be_signed(chain_db: ChainDatabase) -> None:
    good = chain_db.writer()
    await good.start()  # writes the first checkpoint
    await good.close()
    writer = chain_db.writer(signer=BrokenSigner(), checkpoint_every=1)
    await writer.start()
    try:
        with pytest.raises(Unavailable):
            await writer.record(sample_event())
    finally:
        await writer.close()
    assert await chain_db.fetch("SELECT seq FROM audit_events") == []
    assert (await chain_db.verify()).ok


async def test_times_never_run_backwards_along_the_chain(chain_db: ChainDatabase) -> None:
    writers = [chain_db.writer(flush_ms=0) for _ in range(3)]
    for writer in writers:
        await writer.start()
    try:
        await asyncio.gather(*(write_events(writer, 60, concurrency=4) for writer in writers))
    finally:
        for writer in writers:
            await writer.close()
    rows = await chain_db.fetch("SELECT occurred_at FROM audit_events ORDER BY seq")
    times = [row[0] for row in rows]
    assert len(times) == 180
    assert times == sorted(times)


async def test_a_step_is_one_round_trip_whichever_writer_moved_the_head(
    chain_db: ChainDatabase,
) -> None:
    first, second = chain_db.writer(flush_ms=0), chain_db.writer(flush_ms=0)
    await first.start()
    await second.start()
    try:
        assert await first.record(sample_event(1)) == 1
        assert await first.record(sample_event(2)) == 2
        assert await second.record(sample_event(3)) == 3  # second's remembered head is stale
        assert await first.record(sample_event(4)) == 4  # so is first's now
        # Only start() took the locked step: no step held the lock across a round trip.
        assert (first.locked_steps, second.locked_steps) == (1, 1)
    finally:
        await first.close()
        await second.close()
    report = await chain_db.verify()
    assert report.ok
    assert report.head_seq == 4


async def test_a_checkpoint_another_process_made_due_is_signed_right_after(
    chain_db: ChainDatabase,
) -> None:
    first, second = chain_db.writer(flush_ms=0), chain_db.writer(flush_ms=0)
    await first.start()
    await second.start()
    try:
        for index in range(9):
            await first.record(sample_event(index))
        # second last saw seq 0, so does not foresee the checkpoint its event makes due.
        assert await second.record(sample_event(9)) == 10
        rows = await chain_db.fetch("SELECT seq FROM audit_checkpoints ORDER BY id")
        assert [row["seq"] for row in rows] == [0, 10]
        assert second.locked_steps == 2
    finally:
        await first.close()
        await second.close()
    assert (await chain_db.verify()).ok


async def test_a_new_month_after_an_unsigned_one_takes_the_locked_step(
    chain_db: ChainDatabase,
) -> None:
    clock = Clock(datetime(2026, 9, 30, 23, 59, tzinfo=UTC))
    first = chain_db.writer(clock=clock, checkpoint_every=1000, flush_ms=0)
    second = chain_db.writer(clock=clock, checkpoint_every=1000, flush_ms=0)
    await first.start()
    await second.start()
    try:
        assert await first.record(sample_event(1)) == 1
        clock.now = datetime(2026, 10, 1, 0, 1, tzinfo=UTC)
        # second last saw the empty chain, so cannot foresee that its event begins a month
        # after an unsigned one: the database refuses its round trip, the locked step signs.
        assert await second.record(sample_event(2)) == 2
        assert second.locked_steps == 2
        assert await first.record(sample_event(3)) == 3
    finally:
        await first.close()
        await second.close()
    rows = await chain_db.fetch("SELECT seq FROM audit_checkpoints ORDER BY id")
    assert [row["seq"] for row in rows] == [0, 1, 3]
    assert (await chain_db.verify()).ok


async def test_odd_values_from_callers_never_fail_a_batch(chain_db: ChainDatabase) -> None:
    odd = sample_event(
        1,
        request_id="r" * 500,
        client_id="\x00evil\x00" * 50,
        operation_name="Ünïcödé \\ \" ' \t\n" * 400,
        field_paths=['a."b"', "c\\d", "e,f", "{g}"],
        error_code="X" * 100,
        outcome="too_complex",
    )
    writer = chain_db.writer()
    await writer.start()
    try:
        seqs = await asyncio.gather(
            *(writer.record(sample_event(i)) for i in range(5)), writer.record(odd)
        )
    finally:
        await writer.close()
    assert sorted(seqs) == list(range(1, 7))
    rows = await chain_db.fetch("SELECT field_paths FROM audit_events WHERE seq = $1", seqs[-1])
    assert rows[0]["field_paths"] == sorted(['a."b"', "c\\d", "e,f", "{g}"])
    assert (await chain_db.verify()).ok
